import CBLAS

#if canImport(Glibc)
import Glibc
#endif

/// Row-major C = alpha·op(A)·op(B) + beta·C through OpenBLAS.
@inline(__always)
public func gemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
) {
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
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Small matrices run faster on one OpenBLAS thread; parallelism comes from
/// splitting batches across our own threads instead.
public func useSingleThreadedBLAS() { openblas_set_num_threads(1) }
