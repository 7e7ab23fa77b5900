import CHardware

/// What one Adam or AdamW step applies besides each parameter's gradient.
public struct AdamStep: Sendable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// lr / (1 − β1^t)
    public var stepSize: Float
    /// 1 / (1 − β2^t)
    public var inverseCorrection2: Float
    /// AdamW's decoupled decay, 1 − lr·λ (1 for Adam).
    public var shrink: Float
    /// Adam's L2 decay folded into the gradient (0 for AdamW).
    public var coupledDecay: Float
    /// Multiplies the gradient first: gradient clipping's factor, 1 without.
    public var gradientScale: Float

    public init(
        beta1: Float, beta2: Float, epsilon: Float, stepSize: Float, inverseCorrection2: Float, shrink: Float,
        coupledDecay: Float, gradientScale: Float = 1
    ) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.stepSize = stepSize
        self.inverseCorrection2 = inverseCorrection2
        self.shrink = shrink
        self.coupledDecay = coupledDecay
        self.gradientScale = gradientScale
    }
}

/// One Adam step on `count` parameters; `g` nil is a zero gradient (the
/// optimizer's replays of the steps a lazy row missed). Correctly rounded
/// operations only — no fused multiply-add, which Swift never forms itself —
/// so every instruction set, and the vector body and the scalar tail, give the
/// same bits: a replayed row ends exactly as a dense pass would leave it.
public enum AdamUpdate<ISA: InstructionSet> {
    @inlinable @inline(__always)
    public static func run(
        _ s: AdamStep, count: Int, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>?,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    ) {
        let L = ISA.Vector.scalarCount
        let b1 = s.beta1, b2 = s.beta2, eps = s.epsilon, stepSize = s.stepSize, ic2 = s.inverseCorrection2
        let shrink = s.shrink, decay = s.coupledDecay, scale = s.gradientScale
        var i = 0
        while i + L <= count {
            let weights = ISA.load(p + i, L)
            let gi = (g.map { ISA.load($0 + i, L) * scale } ?? .zero) + decay * weights
            let first = b1 * ISA.load(m + i, L) + (1 - b1) * gi
            let second = b2 * ISA.load(v + i, L) + (1 - b2) * gi * gi
            store(first, m + i, L)
            store(second, v + i, L)
            store(weights * shrink - stepSize * first / (ISA.squareRoot(second * ic2) + eps), p + i, L)
            i += L
        }
        while i < count {
            let gi = (g.map { $0[i] * scale } ?? 0) + decay * p[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] = p[i] * shrink - stepSize * m[i] / ((v[i] * ic2).squareRoot() + eps)
            i += 1
        }
    }
}
