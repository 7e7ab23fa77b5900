import CHardware

// Vectorized elementwise math, generic over the vector width: the same
// source is compiled once per instruction set (see `InstructionSet`) at that
// set's width — SSE on baseline x86-64, AVX2 and AVX-512 in the modules that
// are selected at run time.

extension SIMD where Scalar == Float {
    /// `count` floats from `p` (at most a vector's), zeros past them.
    @inlinable @inline(__always)
    public init(loading p: UnsafePointer<Float>, count: Int) {
        if count == Self.scalarCount {
            self = UnsafeRawPointer(p).loadUnaligned(as: Self.self)
            return
        }
        self.init()
        for i in 0..<count { self[i] = p[i] }
    }
}

extension InstructionSet {
    /// `count` floats from `p` as this set's vector.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, _ count: Int) -> Vector { Vector(loading: p, count: count) }
}

/// Asks for the cache lines of `count` floats from `p` (a pass over scattered
/// rows fetches the next row while it works on this one).
@inlinable @inline(__always)
public func prefetch(_ p: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i < count {
        rnnkit_prefetch(p + i)
        i += 16
    }
}

@inlinable @inline(__always)
public func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) where V.Scalar == Float {
    if count == V.scalarCount {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
        return
    }
    for i in 0..<count { p[i] = v[i] }
}

// x limited to [low, high], NaN kept, and √x, at each instruction set's width (see CHardware).
extension InstructionSet where Vector == SIMD4<Float> {
    @_transparent public static func clamp(_ x: Vector, _ low: Float, _ high: Float) -> Vector {
        rnnkit_clamp4(x, low, high)
    }

    @_transparent public static func squareRoot(_ x: Vector) -> Vector { rnnkit_sqrt4(x) }
}

extension InstructionSet where Vector == SIMD8<Float> {
    @_transparent public static func clamp(_ x: Vector, _ low: Float, _ high: Float) -> Vector {
        rnnkit_clamp8(x, low, high)
    }

    @_transparent public static func squareRoot(_ x: Vector) -> Vector { rnnkit_sqrt8(x) }
}

extension InstructionSet where Vector == SIMD16<Float> {
    @_transparent public static func clamp(_ x: Vector, _ low: Float, _ high: Float) -> Vector {
        rnnkit_clamp16(x, low, high)
    }

    @_transparent public static func squareRoot(_ x: Vector) -> Vector { rnnkit_sqrt16(x) }
}

extension InstructionSet {
    /// e^x to about 2 ulp: range reduction to [-ln2/2, ln2/2], a degree-6
    /// polynomial (fused multiply-adds where the instruction set has them: they
    /// shorten its dependency chain, which is what the step epilogue waits on),
    /// and the exponent put back into the float's bits. Rounding uses the
    /// 1.5·2^23 trick so everything stays in vector registers (a float→int
    /// conversion would be scalarized on baseline x86-64).
    @_transparent
    public static func exp(_ x: Vector) -> Vector {
        let x = clamp(x, -87, 88)
        let magic = Vector(repeating: 12_582_912)  // 1.5 · 2^23
        let shifted = multiplyAdd(x, Vector(repeating: 1.442_695_04), magic)
        let n = shifted - magic  // round(x / ln 2), ties to even
        let r = multiplyAdd(
            n, Vector(repeating: -1.428_606_765_330_187e-06),
            multiplyAdd(n, Vector(repeating: -0.693_145_751_953_125), x))
        var p = Vector(repeating: 1.0 / 720)
        p = multiplyAdd(p, r, Vector(repeating: 1.0 / 120))
        p = multiplyAdd(p, r, Vector(repeating: 1.0 / 24))
        p = multiplyAdd(p, r, Vector(repeating: 1.0 / 6))
        p = multiplyAdd(p, r, Vector(repeating: 0.5))
        p = multiplyAdd(p, r, Vector(repeating: 1))
        p = multiplyAdd(p, r, Vector(repeating: 1))
        // The low mantissa bits of `shifted` hold n; move n + 127 into the exponent field.
        let exponent = (unsafeBitCast(shifted, to: Vector.MaskStorage.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: Vector.self)
    }

    @_transparent
    public static func sigmoid(_ x: Vector) -> Vector { 1 / (1 + exp(-x)) }

    @_transparent
    public static func tanh(_ x: Vector) -> Vector { 2 / (1 + exp(-2 * x)) - 1 }
}
