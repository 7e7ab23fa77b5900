import RNNKernels

// The batched forward pass of an embedding → stacked (bi)RNN → linear head
// classifier over packed sequences (PackedBatch). There is one pass, in two
// modes: training records what backpropagation needs (gate caches, dropout
// masks) in the workspace; inference reads weights prepared once at load.
//
// Shapes (R = packed rows of the batch, B = sequences, E = embedding,
// H = hidden, D = directions, GH = gates·H, C = classes):
//   layer input   [R, E] for layer 0 — [distinct tokens, E] when rows share inputs — else [R, H·D]
//   projection    [R, GH]: W_ih·x + b_ih of one direction (inference; training's per distinct token)
//   layer output  [R, H·D]: directions side by side
//   gate rows     [R, gateRowWidth] per layer·direction (training): a row's input projection,
//                 which its step replaces with the gate cache (the cell's `cacheLayout`), which
//                 backpropagation replaces with the projection's gradient
//   cell state    [R, H] per layer·direction (LSTM)
//   features      [B, H·D]: each sequence's final or pooled state (Pooling.swift)
//   logits        [B, C]

public struct Network: Sendable {
    public let layout: ParameterLayout
    /// Every kernel this network runs comes from here, so that two models in one process may run different sets.
    public let kernels: KernelSet
    public let products: MatrixProducts
    public var architecture: Architecture { layout.architecture }

    /// products: rnnkit's own (the kernel set's) unless given.
    public init(_ architecture: Architecture, kernels: KernelSet = .selected, products: MatrixProducts? = nil) {
        layout = ParameterLayout(architecture)
        self.kernels = kernels
        self.products = products ?? .own(kernels)
    }

    @inline(__always)
    func gemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        products.gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a, lda: lda, b, ldb: ldb, beta: beta,
            c, ldc: ldc)
    }

    /// The width of a gate row (see `Workspace.gateRows`): the wider of the
    /// projection and the gate cache, which has four values per unit.
    public var gateRowWidth: Int {
        architecture.cell.cell.cacheLayout.isEmpty ? architecture.gateWidth : 4 * architecture.hidden
    }

    /// One thread's buffers for a batch; reused across batches (they only grow),
    /// so steady state allocates nothing.
    public final class Workspace: @unchecked Sendable {
        /// Per layer: its input rows after dropout.
        public internal(set) var layerInput: [AlignedFloats] = []
        /// Per layer: the dropout multipliers applied to its input; nil without dropout.
        public internal(set) var inputMasks: [AlignedFloats?] = []
        /// Per layer: its output rows.
        public internal(set) var output: [AlignedFloats] = []
        /// Per layer·direction: the gate rows and (LSTM) the cell states. One buffer holds a
        /// row's projection, gate cache and projection gradient in turn, each dead once the
        /// next is written: at GRU 128 a token held 6.5 KB for backpropagation with three
        /// buffers, and long reviews' batches set a training run's peak memory.
        public internal(set) var gateRows: [AlignedFloats] = []
        public internal(set) var cellState: [AlignedFloats] = []
        public internal(set) var features = AlignedFloats(count: 0)
        /// Max pooling: per sequence and unit [B, H·D], the packed row of the maximum.
        public internal(set) var maxRows: [Int32] = []
        /// Attention pooling: each packed row's score, and per sequence the softmax's largest score and normalizer.
        public internal(set) var scores: [Float] = []
        public internal(set) var attentionLargest: [Float] = []
        public internal(set) var attentionNormalizer: [Float] = []
        /// Dropout multipliers of the features; nil without dropout.
        public internal(set) var featureMask: AlignedFloats?
        /// [B, C], exactly the batch's.
        public internal(set) var logits: [Float] = []
        var projection = AlignedFloats(count: 0)
        /// Layer 0 without input dropout: the batch's distinct tokens, and each
        /// row's index among them. Rows of the same token have the same input,
        /// so layer 0's input rows and projections are one per distinct token
        /// (45% of the rows of an AG News batch), and so are the GEMMs of their
        /// gradients. Empty when every row has its own input.
        public internal(set) var distinctTokens: [Int32] = []
        public internal(set) var rowDistinct: [Int32] = []
        /// Vocabulary-sized scratch for finding distinct tokens (-1: not seen).
        var tokenSlot: [Int32] = []
        /// Training: W_hh and b_hh packed afresh for each batch, as they change every step.
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

    /// What inference prepares once from the parameters: W_hh and b_hh packed for
    /// the step kernel, optionally layer 0's per-token input projections, and the
    /// other products' weights transposed for the kernel set's matrix product.
    ///
    /// Inference multiplies with that product, not OpenBLAS: each output row is a
    /// sum over k in one fixed order whatever the number of rows, where OpenBLAS
    /// picks kernels (sgemv for one row, small-matrix paths) by shape. So a text's
    /// probabilities do not depend on the texts batched with it, nor on how a
    /// stream was cut into chunks.
    public struct InferenceWeights: Sendable {
        public let recurrent: [PackedRecurrentWeights]
        /// Per layer·direction, for models stored with int8 W_hh: the step runs these instead of `recurrent`.
        public let quantizedRecurrent: [QuantizedRecurrentWeights]?
        public let tokenProjections: [AlignedFloats]?
        /// Per layer·direction: W_ihᵀ [input width, GH]; empty for layer 0 with token tables.
        let inputTransposed: [AlignedFloats]
        /// W_headᵀ [F, C].
        let headTransposed: AlignedFloats
    }

    public func inferenceWeights(
        _ parameters: UnsafePointer<Float>, tokenTables: Bool, quantizedRecurrent: [QuantizedRecurrentWeights]? = nil
    ) -> InferenceWeights {
        let a = architecture
        let inputTransposed = (0..<a.layers * a.directions).map { slot in
            let layer = slot / a.directions
            let prefix = ParameterLayout.prefix(layer: layer, direction: slot % a.directions)
            return layer == 0 && tokenTables
                ? AlignedFloats(count: 0)
                : transposed(
                    parameters + layout.offset(prefix + "w_ih"), rows: a.gateWidth, columns: a.inputWidth(layer: layer))
        }
        return InferenceWeights(
            recurrent: packedRecurrentWeights(parameters), quantizedRecurrent: quantizedRecurrent,
            tokenProjections: tokenTables ? tokenProjectionTables(parameters) : nil,
            inputTransposed: inputTransposed,
            headTransposed: transposed(
                parameters + layout.offset("head.weight"), rows: a.classes, columns: a.featureWidth))
    }

    private func transposed(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int) -> AlignedFloats {
        let result = AlignedFloats(count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns { result.baseAddress[c * rows + r] = matrix[r * columns + c] }
        }
        return result
    }

    /// out [m, n] = bias (each row) + input [m, k] · weightᵀ, weightᵀ given as [k, n]: inference's products.
    func rowProduct(
        m: Int, n: Int, k: Int, _ input: UnsafePointer<Float>, _ weightTransposed: AlignedFloats,
        bias: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        guard m > 0 else { return }
        for r in 0..<m { (out + r * n).update(from: bias, count: n) }
        kernels.product(
            MatrixArguments(
                m: m, n: n, k: k, a: input, aRowStride: k, aColumnStride: 1, b: weightTransposed.baseAddress,
                ldb: n, c: out, ldc: n, accumulate: true))
    }

    /// Layer 0's input projection W_ih·embedding(v) + b_ih for every token v,
    /// one table per direction ([V, GH]): inference turns that GEMM into row reads.
    /// Aligned, so that a chunk of a row is one cache line (the step kernel prefetches it).
    /// Our own product, not BLAS: a library loaded into someone else's process must not
    /// depend on, or change, the host's BLAS and its threads.
    public func tokenProjectionTables(_ parameters: UnsafePointer<Float>) -> [AlignedFloats] {
        let a = architecture
        let V = a.vocabularySize, E = a.embedding, GH = a.gateWidth
        let embedding = parameters + layout.offset("embedding")
        // Blocks of vocabulary rows small enough to stay in cache while every column chunk reads them.
        let blockRows = 256
        return (0..<a.directions).map { direction in
            let prefix = ParameterLayout.prefix(layer: 0, direction: direction)
            let table = AlignedFloats(count: V * GH)
            let weightTransposed = transposed(parameters + layout.offset(prefix + "w_ih"), rows: GH, columns: E)
            for first in stride(from: 0, to: V, by: blockRows) {
                rowProduct(
                    m: min(blockRows, V - first), n: GH, k: E, embedding + first * E, weightTransposed,
                    bias: parameters + layout.offset(prefix + "b_ih"), table.baseAddress + first * GH)
            }
            return table
        }
    }

    /// W_hh and b_hh of every layer·direction, packed for the step kernel.
    public func packedRecurrentWeights(_ parameters: UnsafePointer<Float>) -> [PackedRecurrentWeights] {
        var packed = (0..<architecture.layers * architecture.directions).map { _ in
            PackedRecurrentWeights(
                hidden: architecture.hidden, gates: architecture.cell.gateCount, lanes: kernels.lanes)
        }
        pack(parameters, into: &packed)
        return packed
    }

    private func pack(_ parameters: UnsafePointer<Float>, into packed: inout [PackedRecurrentWeights]) {
        for layer in 0..<architecture.layers {
            for direction in 0..<architecture.directions {
                let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
                packed[layer * architecture.directions + direction].pack(
                    whh: parameters + layout.offset(prefix + "w_hh"),
                    bhh: parameters + layout.offset(prefix + "b_hh"))
            }
        }
    }

    // MARK: The two modes

    /// Training: logits in `workspace.logits`, and everything `Backward` reads
    /// (gate caches, cell states, layer inputs, dropout masks) in the workspace.
    /// `perRowInputs` keeps one layer-0 input row per packed row even without
    /// dropout, so that `Backward` gives each position its own input gradient.
    public func forwardTraining(
        _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, dropout: Dropout?, perRowInputs: Bool = false,
        workspace w: Workspace
    ) {
        var dropout = dropout
        resize(w, batch, cachesGates: true)
        if w.packedRecurrent.isEmpty {
            w.packedRecurrent = packedRecurrentWeights(parameters)
        } else {
            pack(parameters, into: &w.packedRecurrent)
        }
        // Dropout gives each row its own input: rows of one token share it only without.
        embed(parameters, batch, distinct: !perRowInputs && (dropout?.rate ?? 0) == 0, workspace: w)
        for layer in 0..<architecture.layers {
            recurrentLayer(
                layer, parameters, batch, recurrent: w.packedRecurrent, inference: nil, cachesGates: true,
                dropout: &dropout, workspace: w)
        }
        pool(parameters, batch, workspace: w)
        applyDropout(
            w.features, count: batch.count * architecture.featureWidth, mask: &w.featureMask, dropout: &dropout)
        head(parameters, batch, inference: nil, workspace: w)
    }

    /// Inference: logits in `workspace.logits`; nothing is cached.
    public func forwardInference(
        _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, weights: InferenceWeights, workspace w: Workspace
    ) {
        var noDropout: Dropout? = nil
        resize(w, batch, cachesGates: false)
        if weights.tokenProjections == nil {
            embed(parameters, batch, distinct: true, workspace: w)
        } else {
            w.distinctTokens.removeAll(keepingCapacity: true)
            w.rowDistinct.removeAll(keepingCapacity: true)
        }
        for layer in 0..<architecture.layers {
            recurrentLayer(
                layer, parameters, batch, recurrent: weights.recurrent, inference: weights, cachesGates: false,
                dropout: &noDropout, workspace: w)
        }
        pool(parameters, batch, workspace: w)
        w.featureMask = nil
        head(parameters, batch, inference: weights, workspace: w)
    }

    // MARK: Stages

    /// Embedding lookup into layer 0's input [R, E], or [distinct tokens, E].
    private func embed(_ parameters: UnsafePointer<Float>, _ batch: PackedBatch, distinct: Bool, workspace w: Workspace)
    {
        let E = architecture.embedding
        let embedding = parameters + layout.offset("embedding")
        w.distinctTokens.removeAll(keepingCapacity: true)
        w.rowDistinct.removeAll(keepingCapacity: true)
        if distinct { findDistinctTokens(batch, workspace: w) }
        let inputTokens = w.distinctTokens.isEmpty ? batch.tokens[0..<batch.rows] : w.distinctTokens[...]
        let input = w.layerInput[0].baseAddress
        for (r, token) in inputTokens.enumerated() {
            (input + r * E).update(from: embedding + Int(token) * E, count: E)
        }
    }

    /// Fills `distinctTokens` and `rowDistinct` for the batch's rows.
    private func findDistinctTokens(_ batch: PackedBatch, workspace w: Workspace) {
        if w.tokenSlot.count != architecture.vocabularySize {
            w.tokenSlot = [Int32](repeating: -1, count: architecture.vocabularySize)
        }
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

    /// One layer, both directions: input dropout, the input projection of every
    /// step at once (one GEMM), then the steps. Layer 0 at inference may read its
    /// projections from the per-token tables instead.
    private func recurrentLayer(
        _ layer: Int, _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, recurrent: [PackedRecurrentWeights],
        inference: InferenceWeights?, cachesGates: Bool, dropout: inout Dropout?, workspace w: Workspace
    ) {
        let a = architecture
        let H = a.hidden, D = a.directions, GH = a.gateWidth, rows = batch.rows
        let inputWidth = a.inputWidth(layer: layer)
        let perDistinctToken = layer == 0 && !w.distinctTokens.isEmpty
        let inputRows = perDistinctToken ? w.distinctTokens.count : rows
        // input: [R, H·D], the layer below's output
        if layer > 0 {
            w.layerInput[layer].baseAddress.update(from: w.output[layer - 1].baseAddress, count: rows * inputWidth)
        }
        applyDropout(w.layerInput[layer], count: rows * inputWidth, mask: &w.inputMasks[layer], dropout: &dropout)
        for direction in 0..<D {
            let slot = layer * D + direction
            let steps = StepOrder(batch, reverse: direction == 1)
            if layer == 0, let tables = inference?.tokenProjections {
                runSteps(
                    steps, slot: slot, layer: layer, column: direction * H, input: tables[direction].baseAddress,
                    ldInput: GH, index: batch.tokens, step: step(slot: slot, recurrent, inference?.quantizedRecurrent),
                    cachesGates: cachesGates, workspace: w)
                continue
            }
            // projection: [inputRows, GH] = input · W_ihᵀ + b_ih, in the gate rows when there is one per row
            let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
            let wih = parameters + layout.offset(prefix + "w_ih"), bih = parameters + layout.offset(prefix + "b_ih")
            let inGateRows = cachesGates && !perDistinctToken
            if !inGateRows { grow(&w.projection, to: inputRows * GH) }
            let projection = inGateRows ? w.gateRows[slot].baseAddress : w.projection.baseAddress
            let ldProjection = inGateRows ? gateRowWidth : GH
            if let inference {
                rowProduct(
                    m: inputRows, n: GH, k: inputWidth, w.layerInput[layer].baseAddress,
                    inference.inputTransposed[slot], bias: bih, projection)
            } else {
                for r in 0..<inputRows { (projection + r * ldProjection).update(from: bih, count: GH) }
                gemm(
                    transposeB: true, m: inputRows, n: GH, k: inputWidth, w.layerInput[layer].baseAddress,
                    lda: inputWidth, wih, ldb: inputWidth, beta: 1, projection, ldc: ldProjection)
            }
            runSteps(
                steps, slot: slot, layer: layer, column: direction * H, input: projection, ldInput: ldProjection,
                index: perDistinctToken ? w.rowDistinct : nil,
                step: step(slot: slot, recurrent, inference?.quantizedRecurrent), cachesGates: cachesGates, workspace: w
            )
        }
    }

    /// The steps of one layer and direction. `input`: the layer's input
    /// projections, one row per packed row; or, with `index`, rows of a table
    /// read at each packed row's index (its token, or its distinct token's slot).
    private func runSteps(
        _ steps: StepOrder, slot: Int, layer: Int, column: Int, input: UnsafePointer<Float>, ldInput: Int,
        index: [Int32]?,
        step kernel: (StepArguments) -> Void, cachesGates: Bool, workspace w: Workspace
    ) {
        let a = architecture
        let H = a.hidden, ldo = H * a.directions
        let cell = a.cell.cell
        let output = w.output[layer].baseAddress + column
        let cells = w.cellState[slot].baseAddress, cache = w.gateRows[slot].baseAddress
        let keepsCache = cachesGates && !cell.cacheLayout.isEmpty
        (index ?? []).withUnsafeBufferPointer { indices in
            for step in steps {
                kernel(
                    StepArguments(
                        rows: step.rows, continuing: step.continuing, hidden: H,
                        input: input + (index == nil ? step.start * ldInput : 0), ldInput: ldInput,
                        inputTokens: index == nil ? nil : indices.baseAddress! + step.start,
                        previous: output + step.previousStart * ldo, ldPrevious: ldo,
                        output: output + step.start * ldo, ldOutput: ldo,
                        previousCell: cell.keepsCellState ? cells + step.previousStart * H : nil,
                        cell: cell.keepsCellState ? cells + step.start * H : nil, ldCell: H,
                        gateCache: keepsCache ? cache + step.start * gateRowWidth : nil,
                        // By the time, not the step's index: a row's order is then its own in any batch
                        // (a shorter text in the reverse direction starts after the batch's first step).
                        descending: step.time % 2 == 1))
            }
        }
    }

    /// The step kernel of layer·direction `slot`: with its int8 W_hh when the model stores one.
    func step(slot: Int, _ recurrent: [PackedRecurrentWeights], _ quantized: [QuantizedRecurrentWeights]?)
        -> (StepArguments) -> Void
    {
        let kernels = self.kernels.kernels(for: architecture.cell.cell)
        if let quantized {
            let weights = quantized[slot]
            return { kernels.quantizedStep($0, weights) }
        }
        let weights = recurrent[slot]
        return { kernels.step($0, weights) }
    }

    /// logits: [B, C] = features · W_headᵀ + b_head
    private func head(
        _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, inference: InferenceWeights?, workspace w: Workspace
    ) {
        let C = architecture.classes, F = architecture.featureWidth
        let headWeight = parameters + layout.offset("head.weight"), headBias = parameters + layout.offset("head.bias")
        w.logits.withUnsafeMutableBufferPointer { logits in
            if let inference {
                rowProduct(
                    m: batch.count, n: C, k: F, w.features.baseAddress, inference.headTransposed, bias: headBias,
                    logits.baseAddress!)
                return
            }
            for b in 0..<batch.count { (logits.baseAddress! + b * C).update(from: headBias, count: C) }
            gemm(
                transposeB: true, m: batch.count, n: C, k: F, w.features.baseAddress, lda: F, headWeight, ldb: F,
                beta: 1, logits.baseAddress!, ldc: C)
        }
    }

    /// Inverted dropout on the first `count` values; the mask is kept for backpropagation.
    private func applyDropout(_ values: AlignedFloats, count: Int, mask: inout AlignedFloats?, dropout: inout Dropout?)
    {
        guard var active = dropout, active.rate > 0 else { mask = nil; return }
        let keep = 1 - active.rate, scale = 1 / keep
        var m = mask ?? AlignedFloats(count: count)
        grow(&m, to: count)
        let multipliers = m.baseAddress, v = values.baseAddress
        for i in 0..<count {
            multipliers[i] = active.rng.nextUnit() < keep ? scale : 0
            v[i] *= multipliers[i]
        }
        mask = m
        dropout = active
    }

    private func resize(_ w: Workspace, _ batch: PackedBatch, cachesGates: Bool) {
        let a = architecture
        let rows = batch.rows, slots = a.layers * a.directions
        if w.layerInput.count != a.layers {
            w.layerInput = (0..<a.layers).map { _ in AlignedFloats(count: 0) }
            w.output = (0..<a.layers).map { _ in AlignedFloats(count: 0) }
            w.inputMasks = Array(repeating: nil, count: a.layers)
            w.gateRows = (0..<slots).map { _ in AlignedFloats(count: 0) }
            w.cellState = (0..<slots).map { _ in AlignedFloats(count: 0) }
        }
        for layer in 0..<a.layers {
            grow(&w.layerInput[layer], to: rows * a.inputWidth(layer: layer))
            grow(&w.output[layer], to: rows * a.hidden * a.directions)
        }
        let cell = a.cell.cell
        for slot in 0..<slots {
            grow(&w.gateRows[slot], to: cachesGates ? rows * gateRowWidth : 0)
            grow(&w.cellState[slot], to: cell.keepsCellState ? rows * a.hidden : 0)
        }
        grow(&w.features, to: batch.count * a.featureWidth)
        if w.logits.count != batch.count * a.classes {
            w.logits = [Float](repeating: 0, count: batch.count * a.classes)
        }
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
            let e = Baseline.exp(Baseline.Vector(repeating: logits[r * classes + c] - largest))[0]
            logits[r * classes + c] = e
            sum += e
        }
        for c in 0..<classes { logits[r * classes + c] /= sum }
    }
}

extension Output {
    /// Turns rows of `classes` logits into probabilities in place.
    public func probabilities(_ logits: inout [Float], classes: Int) {
        switch self {
        case .softmax: softmaxRows(&logits, classes: classes)
        case .sigmoid:
            for i in logits.indices { logits[i] = logistic(logits[i]) }
        }
    }

    /// d log p[label] / d logits for one row, given the row's probabilities: what explanations follow.
    public func logProbabilityGradient(_ probabilities: ArraySlice<Float>, label: Int) -> [Float] {
        probabilities.indices.map { i in
            let c = i - probabilities.startIndex
            switch self {
            case .softmax: return (c == label ? 1 : 0) - probabilities[i]
            case .sigmoid: return c == label ? 1 - probabilities[i] : 0
            }
        }
    }
}

/// 1 / (1 + e^(−x)), through the kernels' scalar exp so every machine gives the same bits.
public func logistic(_ x: Float) -> Float {
    // e^(−|x|) never overflows; the large side is then 1 / (1 + e), the small side e / (1 + e).
    let e = Baseline.exp(Baseline.Vector(repeating: -abs(x)))[0]
    return x >= 0 ? 1 / (1 + e) : e / (1 + e)
}

/// The position of the largest value (the first, on ties): a classifier's prediction.
/// The trainer's metrics, `train eval` and the C ABI all predict through it.
public func argmax<Values: Sequence<Float>>(_ values: Values) -> Int {
    var best = 0
    var largest: Float?
    for (index, value) in values.enumerated() where largest.map({ value > $0 }) ?? true {
        best = index
        largest = value
    }
    return best
}
