/// C (m × n, row-major) = A (m × k) · B (k × n, row-major), or C += it.
/// A is read through two strides, so Aᵀ of a row-major matrix is A too.
public struct MatrixArguments {
    public var m: Int
    public var n: Int
    public var k: Int
    public var a: UnsafePointer<Float>
    /// A[i][p] is a[i·aRowStride + p·aColumnStride].
    public var aRowStride: Int
    public var aColumnStride: Int
    public var b: UnsafePointer<Float>
    public var ldb: Int
    public var c: UnsafeMutablePointer<Float>
    public var ldc: Int
    public var accumulate: Bool

    public init(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
        b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        self.m = m
        self.n = n
        self.k = k
        self.a = a
        self.aRowStride = aRowStride
        self.aColumnStride = aColumnStride
        self.b = b
        self.ldb = ldb
        self.c = c
        self.ldc = ldc
        self.accumulate = accumulate
    }
}

/// The recurrent products of backpropagation through time: dh = dGates·W_hh
/// on every step, and dW_hh += dGatesᵀ·h over a few steps' rows — each with
/// a batch slice (about 32 rows) or a few hundred rows on one side. OpenBLAS
/// packs both operands on every such call; these tiles read them in place,
/// Rows rows × Chunks vectors of columns in registers.
public enum MatrixProduct<ISA: InstructionSet, let Rows: Int, let Chunks: Int> {
    @inlinable @inline(__always)
    public static func run(_ x: MatrixArguments) {
        let L = ISA.Vector.scalarCount
        let chunks = (x.n + L - 1) / L
        let tiledRows = x.m / Rows * Rows
        var chunk = 0
        // Chunk-outer: a group's columns of B stay in cache while every row tile uses them.
        while chunk < chunks {
            let group = chunk
            let width = chunk + Chunks <= chunks ? Chunks : 1
            var row = 0
            while row < tiledRows { tile(row, Rows, group, width, x); row += Rows }
            // Leftover rows four at a time while they last: a one-row tile does a
            // load per multiply-add (a packed batch leaves some on most steps).
            while Rows > 4 && row + 4 <= x.m { tile(row, 4, group, width, x); row += 4 }
            while row < x.m { tile(row, 1, group, width, x); row += 1 }
            chunk += width
        }
    }

    @inlinable @inline(__always)
    static func tile(_ firstRow: Int, _ rows: Int, _ firstChunk: Int, _ chunks: Int, _ x: MatrixArguments) {
        switch rows {
        case Rows: tile(firstRow, InlineArray<Rows, Int>.self, firstChunk, chunks, x)
        case 4: tile(firstRow, InlineArray<4, Int>.self, firstChunk, chunks, x)
        default: tile(firstRow, InlineArray<1, Int>.self, firstChunk, chunks, x)
        }
    }

    @inlinable @inline(__always)
    static func tile<let TR: Int>(
        _ firstRow: Int, _ rows: InlineArray<TR, Int>.Type, _ firstChunk: Int, _ chunks: Int, _ x: MatrixArguments
    ) {
        if chunks == Chunks {
            block(firstRow, firstChunk, x, rows, InlineArray<Chunks, Int>.self)
        } else {
            block(firstRow, firstChunk, x, rows, InlineArray<1, Int>.self)
        }
    }

    /// TR rows × TC chunks (the metatypes only carry the sizes).
    @inlinable @inline(never)
    static func block<let TR: Int, let TC: Int>(
        _ firstRow: Int, _ firstChunk: Int, _ x: MatrixArguments,
        _: InlineArray<TR, Int>.Type, _: InlineArray<TC, Int>.Type
    ) {
        let L = ISA.Vector.scalarCount
        let lanes = InlineArray<TC, Int> { min(L, x.n - (firstChunk + $0) * L) }
        // Whole vectors are the rule: deciding once keeps the partial loads, and
        // the registers they take, out of the k loop.
        let sums: InlineArray<TR, InlineArray<TC, ISA.Vector>> =
            (firstChunk + TC) * L <= x.n
            ? products(firstRow, firstChunk, x) { _ in L } : products(firstRow, firstChunk, x) { lanes[$0] }
        for r in 0..<TR {
            for c in 0..<TC {
                let target = x.c + (firstRow + r) * x.ldc + (firstChunk + c) * L
                store(x.accumulate ? ISA.load(target, lanes[c]) + sums[r][c] : sums[r][c], target, lanes[c])
            }
        }
    }

    /// Σ_k A[row][k]·B[k][chunk] of a TR × TC tile, `lanes(c)` columns of chunk c.
    @inlinable @inline(__always)
    static func products<let TR: Int, let TC: Int>(
        _ firstRow: Int, _ firstChunk: Int, _ x: MatrixArguments, lanes: (Int) -> Int
    ) -> InlineArray<TR, InlineArray<TC, ISA.Vector>> {
        let L = ISA.Vector.scalarCount
        var sums = InlineArray<TR, InlineArray<TC, ISA.Vector>>(repeating: InlineArray(repeating: .zero))
        var aRows = InlineArray<TR, UnsafePointer<Float>> { x.a + (firstRow + $0) * x.aRowStride }
        var b = x.b + firstChunk * L
        for _ in 0..<x.k {
            let columns = InlineArray<TC, ISA.Vector> { ISA.load(b + $0 * L, lanes($0)) }
            for r in 0..<TR {
                let factor = ISA.Vector(repeating: aRows[r].pointee)
                for c in 0..<TC { sums[r][c] = ISA.multiplyAdd(factor, columns[c], sums[r][c]) }
                aRows[r] += x.aColumnStride
            }
            b += x.ldb
        }
        return sums
    }
}
