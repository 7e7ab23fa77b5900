import Foundation
import RNNKernels
import RNNModel

/// SGD with momentum, Adam and AdamW over one flat parameter vector, with
/// PyTorch's dense semantics: every parameter moves on every step, also where
/// its gradient is zero (momentum, weight decay).
///
/// The embedding rows, though, are brought up to date lazily. A batch touches
/// a few thousand of AG News' 30,522 rows, and a dense pass over the whole
/// table (parameters and both moments: 47 MB) on every step is bound by memory
/// bandwidth: a quarter of an AG News training step, measured. So a row that a
/// step does not touch is left behind, and the steps it missed are replayed,
/// with a zero gradient and each step's own scalars, when a batch next reads
/// it or when the epoch ends (`settle`). The replay runs the very same float
/// operations as the dense pass, on a row that stays in L1, and skips rows
/// that cannot move: the results are bit for bit those of the dense update.
public struct Optimizer: Sendable {
    public let config: TrainConfig
    /// Adam's first moment or SGD's velocity.
    public private(set) var first: [Float]
    /// Adam's second moment (empty for SGD).
    public private(set) var second: [Float]
    public private(set) var steps = 0
    /// The first `lazyRows` rows of `rowWidth` parameters are updated lazily.
    let lazyRows: Int
    let rowWidth: Int
    /// How many steps each lazy row has had.
    var rowSteps: [Int]
    /// Whether a lazy row's moments can be nonzero. Without weight decay a
    /// zero-gradient step leaves a row whose moments are zero exactly as it is,
    /// so the rows no batch has read yet (40% of AG News' vocabulary) cost nothing.
    var rowMoved: [Bool]
    /// The scalars of the steps since `historyStart`, for replays.
    var history: [StepScalars] = []
    var historyStart = 0

    /// What one step applies to every parameter besides its gradient.
    struct StepScalars {
        var learningRate: Float
        var stepSize: Float
        var inverseCorrection2: Float
        var shrink: Float

        init(_ c: TrainConfig, step: Int, learningRate lr: Float) {
            learningRate = lr
            stepSize = lr / (1 - pow(c.beta1, Float(step)))
            inverseCorrection2 = 1 / (1 - pow(c.beta2, Float(step)))
            // AdamW shrinks the weights directly; Adam and SGD fold decay into the gradient (L2).
            shrink = c.optimizer == .adamw ? 1 - lr * c.weightDecay : 1
        }
    }

    public init(config: TrainConfig, count: Int, lazyRows: Int = 0, rowWidth: Int = 0) {
        precondition(lazyRows * rowWidth <= count, "lazy rows past the parameters")
        self.config = config
        self.lazyRows = lazyRows
        self.rowWidth = rowWidth
        first = [Float](repeating: 0, count: count)
        second = config.optimizer == .sgd ? [] : [Float](repeating: 0, count: count)
        rowSteps = [Int](repeating: 0, count: lazyRows)
        rowMoved = [Bool](repeating: false, count: lazyRows)
    }

    /// Continues from saved state (which `settle` had brought fully up to date).
    public mutating func restore(first: [Float], second: [Float], steps: Int) {
        precondition(
            first.count == self.first.count && second.count == self.second.count, "optimizer state of another size")
        self.first = first
        self.second = second
        self.steps = steps
        rowSteps = [Int](repeating: steps, count: lazyRows)
        let E = rowWidth
        rowMoved = (0..<lazyRows).map { row in
            (row * E..<(row + 1) * E).contains { first[$0] != 0 || (!second.isEmpty && second[$0] != 0) }
        }
        history = []
        historyStart = steps
    }

    /// The factor that brings a gradient of L2 norm `norm` down to `limit`
    /// (clipping by global norm); 1 when it is within, or without a limit.
    public static func clipFactor(norm: Float, limit: Float?) -> Float {
        guard let limit, norm > limit else { return 1 }
        return limit / norm
    }

    /// Brings lazy rows `rows` up to date (before a batch reads them). Frozen rows (`--freeze-embedding`)
    /// never move, not even by weight decay.
    public mutating func catchUp(_ parameters: inout [Float], rows: [Int]) {
        guard !config.freezeEmbedding else { return }
        let E = rowWidth, c = config, steps = steps, historyStart = historyStart
        let threads = rows.count >= 512 ? max(1, c.threads) : 1
        let stillWhenUnmoved = c.weightDecay == 0
        parameters.withUnsafeMutableBufferPointer { pb in
            first.withUnsafeMutableBufferPointer { mb in
                second.withUnsafeMutableBufferPointer { vb in
                    rowSteps.withUnsafeMutableBufferPointer { rowSteps in
                        rowMoved.withUnsafeBufferPointer { moved in
                            history.withUnsafeBufferPointer { history in
                                let p = pb.baseAddress!, m = mb.baseAddress!, v = vb.baseAddress,
                                    done = rowSteps.baseAddress!
                                DispatchQueue.concurrentPerform(iterations: threads) { t in
                                    for index in stride(from: t, to: rows.count, by: threads) {
                                        let row = rows[index]
                                        if stillWhenUnmoved && !moved[row] { done[row] = steps; continue }
                                        for step in done[row]..<steps {
                                            Self.update(
                                                c, history[step - historyStart], range: row * E..<(row + 1) * E, p: p,
                                                g: nil, m: m, v: v)
                                        }
                                        done[row] = steps
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Brings every lazy row (or `rows`) up to date: before the parameters are evaluated, saved
    /// or exported. The replays' scalars are dropped, so any other row must then come from `restore`.
    public mutating func settle(_ parameters: inout [Float], rows: [Int]? = nil) {
        catchUp(&parameters, rows: rows ?? Array(0..<lazyRows))
        history = []
        historyStart = steps
    }

    /// One step: the parameters past the lazy rows, and the lazy rows `rows`
    /// (whose gradients may be nonzero; the gradient is zero on the others),
    /// on `gradientScale` × `gradient` (the clipping factor). The threads share
    /// the rows as well as the dense part: run on one core, the rows alone were
    /// a few percent of an AG News step.
    public mutating func step(
        _ parameters: inout [Float], gradient: UnsafePointer<Float>, gradientScale: Float = 1, learningRate lr: Float,
        rows: [Int] = []
    ) {
        step(
            &parameters, gradient: UnsafeMutablePointer(mutating: gradient), clearing: false,
            gradientScale: gradientScale,
            learningRate: lr, rows: rows)
    }

    /// The same step, leaving `gradient` zero where it read it, ready for the
    /// next step's sum: each thread clears what it has just read, while in cache.
    public mutating func step(
        _ parameters: inout [Float], consuming gradient: UnsafeMutablePointer<Float>, gradientScale: Float = 1,
        learningRate lr: Float, rows: [Int] = []
    ) {
        step(
            &parameters, gradient: gradient, clearing: true, gradientScale: gradientScale, learningRate: lr, rows: rows)
    }

    private mutating func step(
        _ parameters: inout [Float], gradient g: UnsafeMutablePointer<Float>, clearing: Bool, gradientScale: Float,
        learningRate lr: Float, rows: [Int]
    ) {
        catchUp(&parameters, rows: rows)
        steps += 1
        let scalars = StepScalars(config, step: steps, learningRate: lr)
        history.append(scalars)
        let c = config, count = parameters.count, E = rowWidth
        let dense = lazyRows * E..<count
        let threads = max(1, min(c.threads, (dense.count + rows.count * E) / 65_536))
        parameters.withUnsafeMutableBufferPointer { pb in
            first.withUnsafeMutableBufferPointer { mb in
                second.withUnsafeMutableBufferPointer { vb in
                    let p = pb.baseAddress!, m = mb.baseAddress!, v = vb.baseAddress
                    func update(_ range: Range<Int>) {
                        Self.update(c, scalars, range: range, p: p, g: g, gradientScale: gradientScale, m: m, v: v)
                        if clearing { (g + range.lowerBound).update(repeating: 0, count: range.count) }
                    }
                    DispatchQueue.concurrentPerform(iterations: threads) { t in
                        update(
                            dense.lowerBound + dense.count * t / threads..<dense.lowerBound + dense.count * (t + 1)
                                / threads)
                        for row in rows[rows.count * t / threads..<rows.count * (t + 1) / threads] {
                            update(row * E..<(row + 1) * E)
                        }
                    }
                }
            }
        }
        for row in rows {
            rowSteps[row] = steps
            rowMoved[row] = true
        }
    }

    /// One step on `range`; `g` nil is a zero gradient. Adam runs in the
    /// instruction-set kernels (square roots and divisions a vector wide); both give
    /// the same bits whether a row is updated densely or replayed.
    private static func update(
        _ c: TrainConfig, _ s: StepScalars, range: Range<Int>, p: UnsafeMutablePointer<Float>,
        g: UnsafePointer<Float>?, gradientScale: Float = 1, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>?
    ) {
        let decay = c.weightDecay
        switch c.optimizer {
        case .sgd:
            let momentum = c.momentum, lr = s.learningRate
            for i in range {
                m[i] = momentum * m[i] + (g.map { $0[i] * gradientScale } ?? 0) + decay * p[i]
                p[i] -= lr * m[i]
            }
        case .adam, .adamw:
            let step = AdamStep(
                beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon, stepSize: s.stepSize,
                inverseCorrection2: s.inverseCorrection2, shrink: s.shrink,
                coupledDecay: c.optimizer == .adam ? decay : 0, gradientScale: gradientScale)
            KernelSet.selected.adam(
                step, range.count, p + range.lowerBound, g.map { $0 + range.lowerBound },
                m + range.lowerBound, v! + range.lowerBound)
        }
    }
}
