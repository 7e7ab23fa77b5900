import CBLAS

/// Vectorized elementwise math. SIMD8 compiles to SSE on baseline x86-64 (and
/// wider where the compiler may), so the runtime stays portable.
public typealias Vector = SIMD16<Float>

@inlinable @inline(__always)
public func load(_ p: UnsafePointer<Float>, _ count: Int) -> Vector {
    if count == Vector.scalarCount { return UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }
    var v = Vector.zero
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inlinable @inline(__always)
public func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count == Vector.scalarCount { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self); return }
    for i in 0..<count { p[i] = v[i] }
}

/// e^x to about 2 ulp: range reduction to [-ln2/2, ln2/2], a degree-6
/// polynomial, and the exponent put back into the float's bits. Rounding uses
/// the 1.5·2^23 trick so everything stays in vector registers (a float→int
/// conversion would be scalarized on baseline x86-64).
@inlinable @inline(__always)
public func vexp(_ x: Vector) -> Vector {
    var x = x
    x.replace(with: -87, where: x .< -87)
    x.replace(with: 88, where: x .> 88)
    let magic = Vector(repeating: 12_582_912)  // 1.5 · 2^23
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic                   // round(x / ln 2), ties to even
    let r = x - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187e-06
    var p = Vector(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // The low mantissa bits of `shifted` hold n; move n + 127 into the exponent field.
    let exponent = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: Vector.self)
}

@inlinable @inline(__always)
public func vsigmoid(_ x: Vector) -> Vector { 1 / (1 + vexp(-x)) }

@inlinable @inline(__always)
public func vtanh(_ x: Vector) -> Vector { 2 / (1 + vexp(-2 * x)) - 1 }

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

/// The per-time-step cell equations, shared by training and inference.
/// `xg` holds the input projection W_ih x + b_ih of the rows (stride `gates`·H),
/// `hg` the recurrent projection W_hh h + b_hh (same stride); rows `< previousCount`
/// continue a sequence whose previous state is in `hPrevious`/`cPrevious`, the
/// others start from zero. Post-activation gates go to `gateCache` when given.
public enum CellStep {
    public struct Rows {
        public var count: Int
        public var previousCount: Int
        public var hidden: Int
        public init(count: Int, previousCount: Int, hidden: Int) {
            self.count = count
            self.previousCount = previousCount
            self.hidden = hidden
        }
    }

    /// h' = tanh(x + h-projection)
    @inline(__always)
    public static func rnn(_ rows: Rows, xg: UnsafePointer<Float>, hg: UnsafePointer<Float>,
                           h: UnsafeMutablePointer<Float>, ldh: Int) {
        let H = rows.hidden
        for i in 0..<rows.count {
            var j = 0
            while j < H {
                let w = min(Vector.scalarCount, H - j)
                store(vtanh(load(xg + i * H + j, w) + load(hg + i * H + j, w)), h + i * ldh + j, w)
                j += Vector.scalarCount
            }
        }
    }

    /// PyTorch's GRU. Caches r, z, n and the recurrent n-projection (4H per row).
    @inline(__always)
    public static func gru(_ rows: Rows, xg: UnsafePointer<Float>, hg: UnsafePointer<Float>,
                           hPrevious: UnsafePointer<Float>?, ldPrevious: Int,
                           h: UnsafeMutablePointer<Float>, ldh: Int, gateCache: UnsafeMutablePointer<Float>?) {
        let H = rows.hidden, G = 3 * H
        for i in 0..<rows.count {
            let x = xg + i * G, r0 = hg + i * G
            let continues = i < rows.previousCount
            var j = 0
            while j < H {
                let w = min(Vector.scalarCount, H - j)
                let r = vsigmoid(load(x + j, w) + load(r0 + j, w))
                let z = vsigmoid(load(x + H + j, w) + load(r0 + H + j, w))
                let hn = load(r0 + 2 * H + j, w)
                let n = vtanh(load(x + 2 * H + j, w) + r * hn)
                let previous = continues ? load(hPrevious! + i * ldPrevious + j, w) : .zero
                store((1 - z) * n + z * previous, h + i * ldh + j, w)
                if let cache = gateCache {
                    let c = cache + i * 4 * H
                    store(r, c + j, w)
                    store(z, c + H + j, w)
                    store(n, c + 2 * H + j, w)
                    store(hn, c + 3 * H + j, w)
                }
                j += Vector.scalarCount
            }
        }
    }

    /// PyTorch's LSTM. Caches i, f, g, o (4H per row); writes c' to `c`.
    @inline(__always)
    public static func lstm(_ rows: Rows, xg: UnsafePointer<Float>, hg: UnsafePointer<Float>,
                            cPrevious: UnsafePointer<Float>?, ldPrevious: Int,
                            h: UnsafeMutablePointer<Float>, ldh: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                            gateCache: UnsafeMutablePointer<Float>?) {
        let H = rows.hidden, G = 4 * H
        for row in 0..<rows.count {
            let x = xg + row * G, r0 = hg + row * G
            let continues = row < rows.previousCount
            var j = 0
            while j < H {
                let w = min(Vector.scalarCount, H - j)
                let i = vsigmoid(load(x + j, w) + load(r0 + j, w))
                let f = vsigmoid(load(x + H + j, w) + load(r0 + H + j, w))
                let g = vtanh(load(x + 2 * H + j, w) + load(r0 + 2 * H + j, w))
                let o = vsigmoid(load(x + 3 * H + j, w) + load(r0 + 3 * H + j, w))
                let previous = continues ? load(cPrevious! + row * ldPrevious + j, w) : .zero
                let cell = f * previous + i * g
                store(cell, c + row * ldc + j, w)
                store(o * vtanh(cell), h + row * ldh + j, w)
                if let cache = gateCache {
                    let k = cache + row * G
                    store(i, k + j, w)
                    store(f, k + H + j, w)
                    store(g, k + 2 * H + j, w)
                    store(o, k + 3 * H + j, w)
                }
                j += Vector.scalarCount
            }
        }
    }
}
