import RNNKernels

/// The batched forward pass of an embedding → stacked (bi)RNN → linear head
/// classifier over packed sequences. Training records what backpropagation
/// needs in the same buffers inference uses, so there is one forward pass.
public struct Network: Sendable {
    public let layout: ParameterLayout
    public var architecture: Architecture { layout.architecture }

    public init(_ architecture: Architecture) { layout = ParameterLayout(architecture) }

    /// Per-batch buffers; reused across batches so steady state allocates nothing.
    public final class Workspace: @unchecked Sendable {
        /// Per layer: its input rows (embeddings for layer 0), after dropout.
        public var layerInput: [[Float]] = []
        /// Per layer: output rows, directions side by side (width H·directions).
        public var output: [[Float]] = []
        /// Per layer·direction: cached gates (GRU: r z n hn; LSTM: i f g o).
        public var gates: [[Float]] = []
        /// Per layer·direction (LSTM): cell state of each row.
        public var cells: [[Float]] = []
        /// Per layer: dropout multipliers applied to that layer's input (empty when off).
        public var inputMasks: [[Float]] = []
        public var features: [Float] = []
        public var featureMask: [Float] = []
        public var logits: [Float] = []
        var projection: [Float] = []
        /// Layer 0 without input dropout: the batch's distinct tokens, and each
        /// row's index among them. Rows of the same token have the same input,
        /// so layer 0's input rows (`layerInput[0]`) and projections are one per
        /// distinct token (45% of the rows of an AG News batch), and so are the
        /// GEMMs of their gradients. Empty when every row has its own input.
        public internal(set) var distinctTokens: [Int32] = []
        public internal(set) var rowDistinct: [Int32] = []
        /// Vocabulary-sized scratch for finding distinct tokens (-1: not seen).
        var tokenSlot: [Int32] = []
        /// Per layer·direction: W_hh and b_hh packed for the step kernel, when the caller has none.
        var packedRecurrent: [PackedRecurrentWeights] = []

        public init() {}
    }

    /// Dropout for training: the rate and the generator drawing the masks.
    public struct Dropout {
        public var rate: Float
        public var rng: SplitMix64
        public init(rate: Float, rng: SplitMix64) {
            self.rate = rate
            self.rng = rng
        }
    }

    /// Layer 0's input projection W_ih·embedding(v) + b_ih for every token v,
    /// one table per direction (V × gates·H): inference turns that GEMM into row copies.
    /// Aligned, so that a chunk of a row is one cache line (the step kernel prefetches it).
    public func tokenProjectionTables(_ parameters: UnsafePointer<Float>) -> [AlignedFloats] {
        let a = architecture
        let V = a.vocabularySize, E = a.embedding, G = a.gateWidth
        return (0..<a.directions).map { direction in
            let prefix = ParameterLayout.prefix(layer: 0, direction: direction)
            let table = AlignedFloats(count: V * G)
            let bih = parameters + layout.offset(prefix + "b_ih")
            for v in 0..<V { (table.baseAddress + v * G).update(from: bih, count: G) }
            gemm(transposeB: true, m: V, n: G, k: E, parameters + layout.offset("embedding"), lda: E,
                 parameters + layout.offset(prefix + "w_ih"), ldb: E, beta: 1, table.baseAddress, ldc: G)
            return table
        }
    }

    /// W_hh and b_hh of every layer·direction, packed for the step kernel.
    public func packedRecurrentWeights(_ parameters: UnsafePointer<Float>) -> [PackedRecurrentWeights] {
        var packed = (0..<architecture.layers * architecture.directions).map { _ in
            PackedRecurrentWeights(hidden: architecture.hidden, gates: architecture.cell.gateCount)
        }
        pack(parameters, into: &packed)
        return packed
    }

    private func pack(_ parameters: UnsafePointer<Float>, into packed: inout [PackedRecurrentWeights]) {
        for layer in 0..<architecture.layers {
            for direction in 0..<architecture.directions {
                let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
                packed[layer * architecture.directions + direction].pack(whh: parameters + layout.offset(prefix + "w_hh"),
                                                                        bhh: parameters + layout.offset(prefix + "b_hh"))
            }
        }
    }

    /// Runs the batch; logits (count × classes) end in `workspace.logits`.
    /// `recordGates` keeps what backpropagation needs. Inference leaves it off and
    /// passes what it prepared at load: `tokenProjections` (see `tokenProjectionTables`)
    /// for layer 0 and `recurrentWeights` (see `packedRecurrentWeights`); training
    /// packs the recurrent weights afresh on every call, as they change every step.
    public func forward(_ parameters: UnsafePointer<Float>, _ batch: PackedBatch, workspace w: Workspace, dropout: inout Dropout?,
                        recordGates: Bool = true, tokenProjections: [AlignedFloats]? = nil,
                        recurrentWeights: [PackedRecurrentWeights]? = nil) {
        let a = architecture
        let H = a.hidden, D = a.directions, G = a.gateWidth
        let rows = batch.rows
        // With token tables, a one-layer network never fills the projection buffer.
        let needsProjection = tokenProjections == nil || a.layers > 1
        resize(w, rows: rows, batch: batch.count, recordGates: recordGates, projection: needsProjection)
        if recurrentWeights == nil {
            if w.packedRecurrent.isEmpty { w.packedRecurrent = packedRecurrentWeights(parameters) } else { pack(parameters, into: &w.packedRecurrent) }
        }

        precondition(tokenProjections == nil || dropout == nil, "token projection tables are for inference")
        // Embedding lookup: one row per distinct token, or per packed row when
        // dropout gives each row its own input.
        let embedding = parameters + layout.offset("embedding")
        w.distinctTokens.removeAll(keepingCapacity: true)
        w.rowDistinct.removeAll(keepingCapacity: true)
        if tokenProjections == nil && (dropout?.rate ?? 0) == 0 {
            findDistinctTokens(batch, workspace: w)
        }
        if tokenProjections == nil {
            let inputTokens = w.distinctTokens.isEmpty ? batch.tokens[0..<rows] : w.distinctTokens[...]
            w.layerInput[0].withUnsafeMutableBufferPointer { input in
                for (r, token) in inputTokens.enumerated() {
                    (input.baseAddress! + r * a.embedding).update(from: embedding + Int(token) * a.embedding, count: a.embedding)
                }
            }
        }
        for layer in 0..<a.layers {
            let inputWidth = a.inputWidth(layer: layer)
            let perDistinctToken = layer == 0 && !w.distinctTokens.isEmpty
            let inputRows = perDistinctToken ? w.distinctTokens.count : rows
            if layer > 0 {
                w.output[layer - 1].withUnsafeBufferPointer { previous in
                    w.layerInput[layer].withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: previous.baseAddress!, count: rows * inputWidth) }
                }
            }
            applyDropout(&w.layerInput[layer], count: rows * inputWidth, mask: &w.inputMasks[layer], dropout: &dropout)
            for direction in 0..<D {
                let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
                let wih = parameters + layout.offset(prefix + "w_ih"), bih = parameters + layout.offset(prefix + "b_ih")
                let slot = layer * D + direction
                // Layer 0 at inference reads its inputs from the per-token table.
                if layer == 0, let tables = tokenProjections {
                    runSteps(batch, reverse: direction == 1, slot: slot, layer: layer, column: direction * H,
                             input: tables[direction].baseAddress, index: batch.tokens,
                             recurrentWeights: recurrentWeights?[slot] ?? w.packedRecurrent[slot], recordGates: recordGates, workspace: w)
                    continue
                }
                // One GEMM projects the inputs of every time step (or of every distinct token).
                w.projection.withUnsafeMutableBufferPointer { xp in
                    for r in 0..<inputRows { (xp.baseAddress! + r * G).update(from: bih, count: G) }
                    w.layerInput[layer].withUnsafeBufferPointer { input in
                        gemm(transposeB: true, m: inputRows, n: G, k: inputWidth, input.baseAddress!, lda: inputWidth, wih, ldb: inputWidth,
                             beta: 1, xp.baseAddress!, ldc: G)
                    }
                }
                w.projection.withUnsafeBufferPointer { xp in
                    runSteps(batch, reverse: direction == 1, slot: slot, layer: layer, column: direction * H,
                             input: xp.baseAddress!, index: perDistinctToken ? w.rowDistinct : nil,
                             recurrentWeights: recurrentWeights?[slot] ?? w.packedRecurrent[slot], recordGates: recordGates, workspace: w)
                }
            }
        }

        // Features: each sequence's final state — forward direction at its last
        // token, reverse direction at its first.
        let F = a.featureWidth
        w.output[a.layers - 1].withUnsafeBufferPointer { top in
            for b in 0..<batch.count {
                let destination = b * F
                let length = batch.lengths[b]
                for direction in 0..<D {
                    let t = direction == 0 ? length - 1 : 0
                    for j in 0..<H {
                        w.features[destination + direction * H + j] = length == 0 ? 0 : top[batch.row(sequence: b, step: t) * H * D + direction * H + j]
                    }
                }
            }
        }
        applyDropout(&w.features, count: w.features.count, mask: &w.featureMask, dropout: &dropout)
        let headWeight = parameters + layout.offset("head.weight"), headBias = parameters + layout.offset("head.bias")
        w.logits.withUnsafeMutableBufferPointer { logits in
            for b in 0..<batch.count { (logits.baseAddress! + b * a.classes).update(from: headBias, count: a.classes) }
            w.features.withUnsafeBufferPointer { features in
                gemm(transposeB: true, m: batch.count, n: a.classes, k: F, features.baseAddress!, lda: F, headWeight, ldb: F,
                     beta: 1, logits.baseAddress!, ldc: a.classes)
            }
        }
    }

    /// Fills `distinctTokens` and `rowDistinct` for the batch's rows.
    private func findDistinctTokens(_ batch: PackedBatch, workspace w: Workspace) {
        if w.tokenSlot.count != architecture.vocabularySize { w.tokenSlot = [Int32](repeating: -1, count: architecture.vocabularySize) }
        for r in 0..<batch.rows {
            let token = Int(batch.tokens[r])
            if w.tokenSlot[token] < 0 {
                w.tokenSlot[token] = Int32(w.distinctTokens.count)
                w.distinctTokens.append(Int32(token))
            }
            w.rowDistinct.append(w.tokenSlot[token])
        }
        for token in w.distinctTokens { w.tokenSlot[Int(token)] = -1 }
    }

    /// `input`: the layer's input projections, one row per packed row; or, with
    /// `index`, rows of a table read at each packed row's index (its token, or
    /// its distinct token's slot).
    private func runSteps(_ batch: PackedBatch, reverse: Bool, slot: Int, layer: Int, column: Int, input: UnsafePointer<Float>,
                          index: [Int32]?, recurrentWeights: PackedRecurrentWeights, recordGates: Bool, workspace w: Workspace) {
        let a = architecture
        let H = a.hidden, G = a.gateWidth, ldo = H * a.directions
        let step = RecurrentKernels.selected.step(for: a.cell)
        let order = reverse ? Array((0..<batch.steps).reversed()) : Array(0..<batch.steps)
        let indexed = index != nil
        w.output[layer].withUnsafeMutableBufferPointer { outputBuffer in
        (index ?? []).withUnsafeBufferPointer { indices in
        w.gates[slot].withUnsafeMutableBufferPointer { gates in
        w.cells[slot].withUnsafeMutableBufferPointer { cells in
            let output = outputBuffer.baseAddress! + column
            for (index, t) in order.enumerated() {
                let n = batch.batchSizes[t], start = batch.stepOffsets[t]
                // Rows that continue from the previous step taken, and where its states are.
                let previousStep = index == 0 ? nil : order[index - 1]
                let previousCount = previousStep.map { min(n, batch.batchSizes[$0]) } ?? 0
                let previousStart = previousStep.map { batch.stepOffsets[$0] } ?? 0
                let isLSTM = a.cell == .lstm
                step(StepArguments(rows: n, continuing: previousCount, hidden: H,
                                   input: input + (indexed ? 0 : start * G),
                                   inputTokens: indexed ? indices.baseAddress! + start : nil,
                                   previous: output + previousStart * ldo, ldPrevious: ldo, output: output + start * ldo, ldOutput: ldo,
                                   previousCell: isLSTM ? cells.baseAddress! + previousStart * H : nil,
                                   cell: isLSTM ? cells.baseAddress! + start * H : nil, ldCell: H,
                                   gateCache: recordGates && a.cell != .rnn ? gates.baseAddress! + start * 4 * H : nil,
                                   descending: index % 2 == 1),
                     recurrentWeights)
            }
        }}}}
    }

    /// Inverted dropout on the first `count` values; the mask is kept for backpropagation.
    private func applyDropout(_ values: inout [Float], count: Int, mask: inout [Float], dropout: inout Dropout?) {
        guard var active = dropout, active.rate > 0 else { mask.removeAll(); return }
        let keep = 1 - active.rate, scale = 1 / keep
        if mask.count < count { mask = [Float](repeating: 0, count: count) }
        for i in 0..<count {
            mask[i] = active.rng.nextUnit() < keep ? scale : 0
            values[i] *= mask[i]
        }
        dropout = active
    }

    private func resize(_ w: Workspace, rows: Int, batch: Int, recordGates: Bool, projection: Bool) {
        let a = architecture
        let slots = a.layers * a.directions
        // Per-row buffers only grow, so batches of varying length reuse them;
        // the per-sequence ones are sized exactly, as callers read them whole.
        func fit(_ array: inout [Float], _ count: Int) {
            if array.count < count { array = [Float](repeating: 0, count: count) }
        }
        func exact(_ array: inout [Float], _ count: Int) {
            if array.count != count { array = [Float](repeating: 0, count: count) }
        }
        if w.layerInput.count != a.layers {
            w.layerInput = Array(repeating: [], count: a.layers)
            w.output = Array(repeating: [], count: a.layers)
            w.inputMasks = Array(repeating: [], count: a.layers)
            w.gates = Array(repeating: [], count: slots)
            w.cells = Array(repeating: [], count: slots)
        }
        for layer in 0..<a.layers {
            fit(&w.layerInput[layer], rows * a.inputWidth(layer: layer))
            fit(&w.output[layer], rows * a.hidden * a.directions)
        }
        let cacheWidth = a.cell == .rnn || !recordGates ? 0 : 4 * a.hidden
        for slot in 0..<slots {
            fit(&w.gates[slot], rows * cacheWidth)
            fit(&w.cells[slot], a.cell == .lstm ? rows * a.hidden : 0)
        }
        fit(&w.projection, projection ? rows * a.gateWidth : 0)
        exact(&w.features, batch * a.featureWidth)
        exact(&w.logits, batch * a.classes)
    }
}

/// Softmax of each row of `logits` (rows × classes), in place; stable for large logits.
public func softmaxRows(_ logits: inout [Float], classes: Int) {
    let rows = logits.count / classes
    for r in 0..<rows {
        var largest = -Float.infinity
        for c in 0..<classes { largest = max(largest, logits[r * classes + c]) }
        var sum: Float = 0
        for c in 0..<classes {
            let e = Baseline.exp(Vector(repeating: logits[r * classes + c] - largest))[0]
            logits[r * classes + c] = e
            sum += e
        }
        for c in 0..<classes { logits[r * classes + c] /= sum }
    }
}
