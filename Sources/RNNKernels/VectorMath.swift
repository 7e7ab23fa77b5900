import CHardware

/// Vectorized elementwise math. The same source is compiled once per
/// instruction set (see `KernelSet`): SSE on baseline x86-64, AVX2 and
/// AVX-512 in the modules that are selected at run time.
public typealias Vector = SIMD16<Float>

@inlinable @inline(__always)
public func load(_ p: UnsafePointer<Float>, _ count: Int) -> Vector {
    if count == Vector.scalarCount { return UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }
    var v = Vector.zero
    for i in 0..<count { v[i] = p[i] }
    return v
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
public func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count == Vector.scalarCount { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self); return }
    for i in 0..<count { p[i] = v[i] }
}

/// x limited to [low, high] by a compare-and-blend on the bits. The standard
/// library's pointwiseMin/replace(with:where:) either go through per-lane mask
/// shuffles or stay generic calls, and a generic specialization compiled into
/// an instruction-set module could be merged by the linker into baseline code.
@_transparent
public func clamp(_ x: Vector, _ low: Float, _ high: Float) -> Vector {
    let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
    let below = unsafeBitCast(x .< low, to: SIMD16<Int32>.self)
    let above = unsafeBitCast(x .> high, to: SIMD16<Int32>.self)
    let lowBits = unsafeBitCast(Vector(repeating: low), to: SIMD16<Int32>.self)
    let highBits = unsafeBitCast(Vector(repeating: high), to: SIMD16<Int32>.self)
    return unsafeBitCast((bits & ~(below | above)) | (lowBits & below) | (highBits & above), to: Vector.self)
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
        let exponent = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: Vector.self)
    }

    @_transparent
    public static func sigmoid(_ x: Vector) -> Vector { 1 / (1 + exp(-x)) }

    @_transparent
    public static func tanh(_ x: Vector) -> Vector { 2 / (1 + exp(-2 * x)) - 1 }
}
