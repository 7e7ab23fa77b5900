import CBLAS
import RNNModel

extension MatrixProducts {
    /// OpenBLAS's sgemm: faster than our kernels on whole batches' products (packing pays off there).
    public static let openBLAS = MatrixProducts(name: "OpenBLAS") { g in
        if g.k == 0 {
            if g.beta == 0 { for i in 0..<g.m { (g.c + i * g.ldc).update(repeating: 0, count: g.n) } }
            return
        }
        if g.m == 1 && !g.transposeA {
            // One row: a matrix-vector product. sgemm would repack all of B on every
            // call, which costs as much as the product itself at this size.
            // c = a·Bᵀ is B·a (B is n×k); c = a·B is Bᵀ·a (B is k×n).
            if g.transposeB {
                cblas_sgemv(
                    CblasRowMajor, CblasNoTrans, Int32(g.n), Int32(g.k), 1, g.b, Int32(g.ldb), g.a, 1, g.beta, g.c, 1)
            } else {
                cblas_sgemv(
                    CblasRowMajor, CblasTrans, Int32(g.k), Int32(g.n), 1, g.b, Int32(g.ldb), g.a, 1, g.beta, g.c, 1)
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor, g.transposeA ? CblasTrans : CblasNoTrans, g.transposeB ? CblasTrans : CblasNoTrans,
            Int32(g.m), Int32(g.n), Int32(g.k), 1, g.a, Int32(g.lda), g.b, Int32(g.ldb), g.beta, g.c, Int32(g.ldc))
    }
}

/// Small matrices run faster on one OpenBLAS thread; parallelism comes from
/// splitting batches across our own threads instead.
public func useSingleThreadedBLAS() { openblas_set_num_threads(1) }
