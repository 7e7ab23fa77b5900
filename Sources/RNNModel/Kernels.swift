#if canImport(Glibc)
import Glibc
#endif
import CBLAS
import CHardware
import RNNKernels
import RNNKernelsAVX2
import RNNKernelsAVX512

/// Row-major C = alpha·op(A)·op(B) + beta·C through OpenBLAS.
@inline(__always)
public func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                 _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    if m == 1 && !transposeA {
        // One row: a matrix-vector product. sgemm would repack all of B on every
        // call, which costs as much as the product itself at this size.
        // c = a·Bᵀ is B·a (B is n×k); c = a·B is Bᵀ·a (B is k×n).
        if transposeB {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, 1, beta, c, 1)
        } else {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, 1, beta, c, 1)
        }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Small matrices run faster on one OpenBLAS thread; parallelism comes from
/// splitting batches across our own threads instead.
public func useSingleThreadedBLAS() { openblas_set_num_threads(1) }

extension RecurrentKernels {
    /// The step kernels this CPU runs, widest first; baseline is always there.
    public static let available: [RecurrentKernels] = {
        let features = rnnkit_cpu_features()
        var kernels: [RecurrentKernels] = []
        if features & UInt32(RNNKIT_CPU_AVX512) != 0 { kernels.append(avx512Kernels) }
        if features & UInt32(RNNKIT_CPU_AVX2) != 0 { kernels.append(avx2Kernels) }
        kernels.append(.baseline)
        return kernels
    }()

    /// The widest available, unless RNNKIT_KERNELS names another available one
    /// (baseline, avx2, avx512) — for comparing them, or ruling one out.
    public static let selected: RecurrentKernels = {
        if let requested = getenv("RNNKIT_KERNELS").map({ String(cString: $0) }),
           let match = available.first(where: { $0.instructionSet == requested }) {
            return match
        }
        return available[0]
    }()
}

extension RecurrentKernels {
    /// The step kernel of `cell`.
    public func step(for cell: CellKind) -> Step {
        switch cell {
        case .rnn: rnn
        case .gru: gru
        case .lstm: lstm
        }
    }
}
