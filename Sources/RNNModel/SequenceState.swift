import RNNKernels

// Inference on one sequence that arrives a few tokens at a time (a stream):
// the state between tokens is each layer's last output, and reading more
// tokens runs the same kernels, on the same values, as the whole-sequence pass
// of `forwardInference` does for those positions — so the logits after any
// split of a sequence are those of the sequence read at once, bit for bit.
// Unidirectional networks only: a reverse direction starts from the last token.

extension Network {
    /// What a unidirectional network keeps of a sequence after reading some of its tokens.
    public struct SequenceState: Sendable {
        /// Per layer: its output at the last token read [H].
        let hidden: [AlignedFloats]
        /// Per layer: the LSTM cell state at the last token read [H]; empty for the other cells.
        let cell: [AlignedFloats]
        /// A pooling network's running pool of the top layer's states [H] (Pooling.swift); empty for `last`.
        let pooled: AlignedFloats
        var pooledCount = 0
        var attentionLargest: Float = -.infinity
        var attentionNormalizer: Float = 0
        public internal(set) var length = 0

        /// Makes this state equal to `other` (same network) without allocating.
        public mutating func assign(_ other: SequenceState) {
            for (target, source) in zip(hidden + cell + [pooled], other.hidden + other.cell + [other.pooled]) {
                target.baseAddress.update(from: source.baseAddress, count: source.count)
            }
            (pooledCount, attentionLargest, attentionNormalizer) =
                (other.pooledCount, other.attentionLargest, other.attentionNormalizer)
            length = other.length
        }

        func runningPool(_ pooling: Pooling) -> RunningPool {
            RunningPool(
                pooling: pooling, width: pooled.count, values: pooled.baseAddress, count: pooledCount,
                largest: attentionLargest, normalizer: attentionNormalizer)
        }

        mutating func keep(_ running: RunningPool) {
            (pooledCount, attentionLargest, attentionNormalizer) = (running.count, running.largest, running.normalizer)
        }
    }

    /// The buffers of `advance` for one block of tokens; one per stream.
    public final class SequenceWorkspace: @unchecked Sendable {
        var embedded = AlignedFloats(count: 0)
        var projection = AlignedFloats(count: 0)
        /// Two layers' outputs: the one being computed and the one below it.
        var outputs = [AlignedFloats(count: 0), AlignedFloats(count: 0)]
        var cells = AlignedFloats(count: 0)
        var features = AlignedFloats(count: 0)

        public init() {}
    }

    /// The state before the first token.
    public func emptySequenceState() -> SequenceState {
        let a = architecture
        return SequenceState(
            hidden: (0..<a.layers).map { _ in AlignedFloats(count: a.hidden) },
            cell: a.cell.cell.keepsCellState ? (0..<a.layers).map { _ in AlignedFloats(count: a.hidden) } : [],
            pooled: AlignedFloats(count: a.pooling == .last ? 0 : a.featureWidth))
    }

    /// Tokens a block of `advance` takes at a time: bounds its buffers whatever a stream is fed.
    static let sequenceBlock = 256

    /// Reads `tokens` after the ones `state` has read.
    public func advance(
        _ state: inout SequenceState, tokens: ArraySlice<Int32>, parameters: UnsafePointer<Float>,
        weights: InferenceWeights, workspace w: SequenceWorkspace
    ) {
        let a = architecture
        precondition(a.directions == 1, "a sequence state is only defined for unidirectional networks")
        let H = a.hidden, GH = a.gateWidth
        let cell = a.cell.cell
        var start = tokens.startIndex
        while start < tokens.endIndex {
            let block = tokens[start..<min(start + Self.sequenceBlock, tokens.endIndex)]
            let n = block.count
            grow(&w.projection, to: n * GH)
            grow(&w.outputs[0], to: n * H)
            grow(&w.outputs[1], to: n * H)
            if cell.keepsCellState { grow(&w.cells, to: n * H) }
            block.withUnsafeBufferPointer { blockTokens in
                for layer in 0..<a.layers {
                    let output = w.outputs[layer % 2].baseAddress
                    var input = UnsafePointer(w.projection.baseAddress)
                    var inputTokens: UnsafePointer<Int32>? = nil
                    if layer == 0, let tables = weights.tokenProjections {
                        input = UnsafePointer(tables[0].baseAddress)
                        inputTokens = blockTokens.baseAddress
                    } else {
                        var rows = UnsafePointer(w.outputs[(layer + 1) % 2].baseAddress)
                        if layer == 0 {
                            let E = a.embedding, embedding = parameters + layout.offset("embedding")
                            grow(&w.embedded, to: n * E)
                            for (r, token) in blockTokens.enumerated() {
                                (w.embedded.baseAddress + r * E).update(from: embedding + Int(token) * E, count: E)
                            }
                            rows = UnsafePointer(w.embedded.baseAddress)
                        }
                        let bias =
                            parameters + layout.offset(ParameterLayout.prefix(layer: layer, direction: 0) + "b_ih")
                        rowProduct(
                            m: n, n: GH, k: a.inputWidth(layer: layer), rows, weights.inputTransposed[layer],
                            bias: bias, w.projection.baseAddress)
                    }
                    let hidden = state.hidden[layer].baseAddress
                    let cells = cell.keepsCellState ? w.cells.baseAddress : nil
                    let lastCell = cell.keepsCellState ? state.cell[layer].baseAddress : nil
                    let step = step(slot: layer, weights.recurrent, weights.quantizedRecurrent)
                    for r in 0..<n {
                        let position = state.length + r
                        step(
                            StepArguments(
                                rows: 1, continuing: position == 0 ? 0 : 1, hidden: H,
                                input: inputTokens == nil ? input + r * GH : input, ldInput: GH,
                                inputTokens: inputTokens.map { $0 + r },
                                previous: r == 0 ? hidden : output + (r - 1) * H, ldPrevious: H,
                                output: output + r * H, ldOutput: H,
                                previousCell: r == 0 ? lastCell : cells.map { $0 + (r - 1) * H },
                                cell: cells.map { $0 + r * H }, ldCell: H,
                                descending: position % 2 == 1))
                    }
                    if layer == a.layers - 1 && a.pooling != .last {
                        pool(output, tokens: blockTokens, parameters: parameters, into: &state)
                    }
                    hidden.update(from: output + (n - 1) * H, count: H)
                    if let cells, let lastCell { lastCell.update(from: cells + (n - 1) * H, count: H) }
                }
            }
            state.length += n
            start = block.endIndex
        }
    }

    /// Adds the top layer's states of a block ([tokens, H]) to the state's running pool.
    private func pool(
        _ states: UnsafePointer<Float>, tokens: UnsafeBufferPointer<Int32>, parameters: UnsafePointer<Float>,
        into state: inout SequenceState
    ) {
        let a = architecture
        let query = a.pooling == .attention ? parameters + layout.offset("attention.query") : nil
        var running = state.runningPool(a.pooling)
        for (r, token) in tokens.enumerated() where token != a.paddingID {
            let row = states + r * a.hidden
            running.add(row, score: query.map { attentionScore($0, row, width: a.hidden) } ?? 0)
        }
        state.keep(running)
    }

    /// The logits [C] of the sequence `state` has read (an empty sequence's features are zero).
    public func logits(
        _ state: SequenceState, parameters: UnsafePointer<Float>, weights: InferenceWeights,
        workspace w: SequenceWorkspace
    ) -> [Float] {
        let a = architecture
        grow(&w.features, to: a.featureWidth)
        if a.pooling != .last {
            state.runningPool(a.pooling).finish(into: w.features.baseAddress)
        } else if state.length == 0 {
            w.features.baseAddress.update(repeating: 0, count: a.featureWidth)
        } else {
            w.features.baseAddress.update(from: state.hidden[a.layers - 1].baseAddress, count: a.hidden)
        }
        var logits = [Float](repeating: 0, count: a.classes)
        logits.withUnsafeMutableBufferPointer {
            rowProduct(
                m: 1, n: a.classes, k: a.featureWidth, w.features.baseAddress, weights.headTransposed,
                bias: parameters + layout.offset("head.bias"), $0.baseAddress!)
        }
        return logits
    }
}
