import Foundation

/// SGD with momentum, Adam and AdamW over one flat parameter vector.
public struct Optimizer: Sendable {
    public let config: TrainConfig
    /// Adam's first moment or SGD's velocity.
    public var first: [Float]
    /// Adam's second moment (empty for SGD).
    public var second: [Float]
    public var steps = 0

    public init(config: TrainConfig, count: Int) {
        self.config = config
        first = [Float](repeating: 0, count: count)
        second = config.optimizer == .sgd ? [] : [Float](repeating: 0, count: count)
    }

    /// Scales `gradient` so its global L2 norm is at most `limit`; returns the
    /// norm before. Entries outside `regions` must be zero.
    @discardableResult
    public static func clip(_ gradient: inout [Float], regions: [Range<Int>], to limit: Float?) -> Float {
        var sum: Double = 0
        gradient.withUnsafeBufferPointer { g in
            for region in regions {
                // Float lanes for speed, a Double total per region for accuracy.
                var lanes = SIMD8<Float>.zero
                var i = region.lowerBound
                while i + 8 <= region.upperBound {
                    let v = UnsafeRawPointer(g.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self)
                    lanes += v * v
                    i += 8
                }
                var partial = Double(lanes.sum())
                while i < region.upperBound { partial += Double(g[i]) * Double(g[i]); i += 1 }
                sum += partial
            }
        }
        let norm = Float(sum.squareRoot())
        if let limit, norm > limit {
            let scale = limit / norm
            gradient.withUnsafeMutableBufferPointer { g in
                for region in regions { for i in region { g[i] *= scale } }
            }
        }
        return norm
    }

    /// One update of every parameter (dense, as PyTorch's optimizers). The
    /// update is elementwise, so it is split across `config.threads` threads
    /// with the same result as one.
    public mutating func step(_ parameters: inout [Float], gradient: [Float], learningRate lr: Float) {
        steps += 1
        let c = config, count = parameters.count
        let threads = max(1, min(c.threads, count / 65_536))
        let stepNumber = steps
        parameters.withUnsafeMutableBufferPointer { pb in
        gradient.withUnsafeBufferPointer { gb in
        first.withUnsafeMutableBufferPointer { mb in
        second.withUnsafeMutableBufferPointer { vb in
            let p = pb.baseAddress!, g = gb.baseAddress!, m = mb.baseAddress!, v = vb.baseAddress
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let range = count * t / threads..<count * (t + 1) / threads
                Self.update(c, step: stepNumber, lr: lr, range: range, p: p, g: g, m: m, v: v)
            }
        }}}}
    }

    private static func update(_ c: TrainConfig, step: Int, lr: Float, range: Range<Int>, p: UnsafeMutablePointer<Float>,
                               g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>?) {
        let decay = c.weightDecay
        switch c.optimizer {
        case .sgd:
            for i in range {
                m[i] = c.momentum * m[i] + g[i] + decay * p[i]
                p[i] -= lr * m[i]
            }
        case .adam, .adamw:
            let v = v!
            let correction1 = 1 - pow(c.beta1, Float(step)), correction2 = 1 - pow(c.beta2, Float(step))
            let stepSize = lr / correction1, inverseCorrection2 = 1 / correction2
            // Adam folds weight decay into the gradient (L2); AdamW shrinks the weights directly.
            let coupled: Float = c.optimizer == .adam ? decay : 0
            let shrink: Float = c.optimizer == .adamw ? 1 - lr * decay : 1
            let b1 = c.beta1, b2 = c.beta2, eps = c.epsilon
            for i in range {
                let gi = g[i] + coupled * p[i]
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                p[i] = p[i] * shrink - stepSize * m[i] / ((v[i] * inverseCorrection2).squareRoot() + eps)
            }
        }
    }
}
