import RNNKernels

#if canImport(Glibc)
import Glibc
#endif

// Pooling reads a sequence's top-layer states in time order, one at a time, into a
// running pool: the whole-sequence pass and a stream (SequenceState) run the same
// update on the same values in the same order, so a stream's features are the whole
// text's bit for bit. Positions holding the padding id are not pooled: a padded
// batch's max, mean or attention is over the text's own tokens.
//
// Attention keeps its softmax online (Milakov and Gimelshein 2018): the largest score
// so far, the normalizer Σ exp(s − largest) and the weighted sum, rescaled whenever a
// larger score arrives, so that it never holds the scores of tokens already read.

/// The running pool of one sequence over `width` values.
struct RunningPool {
    let pooling: Pooling
    let width: Int
    /// The running max, sum or weighted sum [width].
    let values: UnsafeMutablePointer<Float>
    /// Positions pooled so far.
    var count = 0
    /// Attention: the largest score so far and Σ exp(score − largest).
    var largest: Float = -.infinity
    var normalizer: Float = 0

    /// Adds the state at packed row `row`; `maxRows` [width], when given, gets the row of each unit's maximum
    /// (the first, on ties), which backpropagation routes the gradient to.
    @inline(__always)
    mutating func add(
        _ state: UnsafePointer<Float>, score: Float, row: Int32 = 0, maxRows: UnsafeMutablePointer<Int32>? = nil
    ) {
        defer { count += 1 }
        guard count > 0 else {
            values.update(from: state, count: width)
            maxRows?.update(repeating: row, count: width)
            (largest, normalizer) = (score, 1)
            return
        }
        switch pooling {
        case .last: preconditionFailure("the last state is read, not pooled")
        case .max:
            for j in 0..<width where state[j] > values[j] {
                values[j] = state[j]
                maxRows?[j] = row
            }
        case .mean:
            for j in 0..<width { values[j] += state[j] }
        case .attention:
            if score > largest {
                let scale = expf(largest - score)
                for j in 0..<width { values[j] = values[j] * scale + state[j] }
                normalizer = normalizer * scale + 1
                largest = score
            } else {
                let weight = expf(score - largest)
                for j in 0..<width { values[j] += weight * state[j] }
                normalizer += weight
            }
        }
    }

    /// The pooled features [width]; zero when nothing was pooled. `features` may be `values`.
    func finish(into features: UnsafeMutablePointer<Float>) {
        guard count > 0 else { features.update(repeating: 0, count: width); return }
        let divisor: Float
        switch pooling {
        case .last, .max: divisor = 1
        case .mean: divisor = Float(count)
        case .attention: divisor = normalizer
        }
        for j in 0..<width { features[j] = values[j] / divisor }
    }
}

/// Grows `array` to at least `count` entries; a workspace's arrays only grow, so steady state allocates nothing.
func reserve<Element: Numeric>(_ array: inout [Element], _ count: Int) {
    if array.count < count { array = [Element](repeating: 0, count: count) }
}

/// query · state, summed in index order (the score a stream and a batch must agree on).
@inline(__always)
func attentionScore(_ query: UnsafePointer<Float>, _ state: UnsafePointer<Float>, width: Int) -> Float {
    var score: Float = 0
    for j in 0..<width { score += query[j] * state[j] }
    return score
}

extension Network {
    /// features [B, H·D]: the top layer's states, each sequence's pooled as the architecture says.
    func pool(_ parameters: UnsafePointer<Float>, _ batch: PackedBatch, workspace w: Workspace) {
        let a = architecture
        guard a.pooling != .last else { finalStates(batch, workspace: w); return }
        let F = a.featureWidth
        let top = UnsafePointer(w.output[a.layers - 1].baseAddress), features = w.features.baseAddress
        let query = a.pooling == .attention ? parameters + layout.offset("attention.query") : nil
        // Sized, not cleared: each entry backpropagation reads is written below for this batch.
        if a.pooling == .max { reserve(&w.maxRows, batch.count * F) }
        if a.pooling == .attention {
            reserve(&w.scores, batch.rows)
            reserve(&w.attentionLargest, batch.count)
            reserve(&w.attentionNormalizer, batch.count)
        }
        w.maxRows.withUnsafeMutableBufferPointer { maxRows in
            for b in 0..<batch.count {
                var running = RunningPool(pooling: a.pooling, width: F, values: features + b * F)
                for t in 0..<batch.lengths[b] {
                    let row = batch.row(sequence: b, step: t)
                    guard batch.tokens[row] != a.paddingID else { continue }
                    let state = top + row * F
                    let score = query.map { attentionScore($0, state, width: F) } ?? 0
                    if query != nil { w.scores[row] = score }
                    running.add(
                        state, score: score, row: Int32(row),
                        maxRows: a.pooling == .max ? maxRows.baseAddress! + b * F : nil)
                }
                running.finish(into: features + b * F)
                if query != nil {
                    (w.attentionLargest[b], w.attentionNormalizer[b]) = (running.largest, running.normalizer)
                }
            }
        }
    }

    /// features: [B, H·D], each sequence's final state — the forward direction
    /// at its last token, the reverse direction at its first; zero for an empty sequence.
    func finalStates(_ batch: PackedBatch, workspace w: Workspace) {
        let a = architecture
        let H = a.hidden, D = a.directions, F = a.featureWidth
        let top = w.output[a.layers - 1].baseAddress, features = w.features.baseAddress
        for b in 0..<batch.count {
            let length = batch.lengths[b]
            for direction in 0..<D {
                let t = direction == 0 ? length - 1 : 0
                for j in 0..<H {
                    features[b * F + direction * H + j] =
                        length == 0 ? 0 : top[batch.row(sequence: b, step: t) * H * D + direction * H + j]
                }
            }
        }
    }
}

extension Backward {
    /// dL/d(top layer's states) [R, H·D] from dL/d(pooled features), into `dOutput`, and
    /// (attention, with `gradient`) dL/d(query). With α_t the softmax weights and g = dL/df:
    /// dh_t = α_t g + ds_t q and dq = Σ ds_t h_t, where ds_t = α_t (g·h_t − Σ_u α_u g·h_u).
    func pooledStates(
        _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, forward w: Network.Workspace,
        gradient: UnsafeMutablePointer<Float>?, workspace b: Workspace
    ) {
        let a = architecture
        let F = a.featureWidth
        zeroed(&b.dOutput, batch.rows * F)
        let dOutput = b.dOutput.baseAddress, dFeatures = b.dFeatures.baseAddress
        let top = UnsafePointer(w.output[a.layers - 1].baseAddress)
        for s in 0..<batch.count {
            let g = dFeatures + s * F
            let rows = (0..<batch.lengths[s]).map { batch.row(sequence: s, step: $0) }.filter {
                batch.tokens[$0] != a.paddingID
            }
            guard !rows.isEmpty else { continue }
            switch a.pooling {
            case .last: preconditionFailure("the last state's gradient goes to its step directly")
            case .max:
                for j in 0..<F { dOutput[Int(w.maxRows[s * F + j]) * F + j] += g[j] }
            case .mean:
                let share = 1 / Float(rows.count)
                for row in rows { for j in 0..<F { dOutput[row * F + j] += g[j] * share } }
            case .attention:
                let query = parameters + layout.offset("attention.query")
                let weights = rows.map { expf(w.scores[$0] - w.attentionLargest[s]) / w.attentionNormalizer[s] }
                let gh = rows.map { attentionScore(g, top + $0 * F, width: F) }
                let expected = zip(weights, gh).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                for (i, row) in rows.enumerated() {
                    let dScore = weights[i] * (gh[i] - expected)
                    for j in 0..<F { dOutput[row * F + j] += weights[i] * g[j] + dScore * query[j] }
                    if let gradient {
                        let dQuery = gradient + layout.offset("attention.query")
                        for j in 0..<F { dQuery[j] += dScore * top[row * F + j] }
                    }
                }
            }
        }
    }
}
