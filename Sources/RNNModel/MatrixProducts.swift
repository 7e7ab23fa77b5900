import RNNKernels

/// Row-major C = op(A)·op(B) + beta·C: the large products of the forward and backward passes (input projections
/// over all rows, the head, and their gradients).
public struct GEMM {
    public var transposeA: Bool, transposeB: Bool
    public var m: Int, n: Int, k: Int
    public var a: UnsafePointer<Float>, lda: Int
    public var b: UnsafePointer<Float>, ldb: Int
    public var beta: Float
    public var c: UnsafeMutablePointer<Float>, ldc: Int
}

/// Who computes the large products. A network made for inference (a Classifier, and so librnninfer) uses
/// rnnkit's own kernels: no BLAS is linked into the runtime, and a host's BLAS settings are never touched.
/// The trainer passes OpenBLAS's (RNNTrain): at whole batches' shapes it runs 1.2–4× as fast as these
/// (`rnnbench products`), whose tiles are not packed or blocked for caches.
public struct MatrixProducts: Sendable {
    let run: @Sendable (GEMM) -> Void

    public init(run: @escaping @Sendable (GEMM) -> Void) { self.run = run }

    @inline(__always)
    public func gemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        run(
            GEMM(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                beta: beta, c: c, ldc: ldc))
    }

    /// The kernel set's register-tiled product, which reads B as [k, n] rows: a B given as [n, k] is
    /// transposed into a copy first (the weights it multiplies are small next to the rows they meet).
    public static func own(_ kernels: KernelSet) -> MatrixProducts {
        MatrixProducts { g in
            if g.beta != 1 {
                for i in 0..<g.m {
                    let row = g.c + i * g.ldc
                    if g.beta == 0 {
                        row.update(repeating: 0, count: g.n)
                    } else {
                        for j in 0..<g.n { row[j] *= g.beta }
                    }
                }
            }
            guard g.k > 0 else { return }
            let transposed = g.transposeB ? AlignedFloats(count: g.k * g.n) : nil
            if let transposed {
                for j in 0..<g.n { for p in 0..<g.k { transposed.baseAddress[p * g.n + j] = g.b[j * g.ldb + p] } }
            }
            kernels.product(
                MatrixArguments(
                    m: g.m, n: g.n, k: g.k, a: g.a, aRowStride: g.transposeA ? 1 : g.lda,
                    aColumnStride: g.transposeA ? g.lda : 1, b: transposed.map { UnsafePointer($0.baseAddress) } ?? g.b,
                    ldb: transposed == nil ? g.ldb : g.n, c: g.c, ldc: g.ldc, accumulate: true))
        }
    }
}
