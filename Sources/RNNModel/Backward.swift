import RNNKernels

// Backpropagation through time over packed sequences: the exact reverse of
// `Network.forwardTraining` for the same batch and workspace, stage by stage
// (head, final states, then each layer's steps in reverse, input projections,
// embedding rows). The cells' step equations are in RNNKernels/Cells.
//
// Shapes as in Network.swift, plus:
//   dOutput, dInput        [R, H·D] / [R, input width]: dL/d(layer output), dL/d(layer input)
//   finalRows              [rows of one step, H·D]: the top layer's dL/dh from the head, nonzero
//                          at the rows whose state is a feature (no dense dOutput for the top layer
//                          when it is read at its last state; a pooled one has, from Pooling.swift)
//   dProjection            [R, GH]: dL/d(W_ih·x + b_ih) of one direction, in the forward
//                          pass's gate rows (stride gateRowWidth), over the gate cache it was computed from
//   dRecurrent             [rows of one step, GH]: dL/d(W_hh·h + b_hh), when it differs
//   carry, nextCarry       [rows of one step, H]: dL/dh (and dL/dc) passed between steps
//   dFeatures              [B, H·D]

/// Backpropagation for one network: the trainer's gradients, and the
/// runtime's input gradients for explanations (`Classifier.explain`).
public struct Backward: Sendable {
    public let network: Network
    var layout: ParameterLayout { network.layout }
    var architecture: Architecture { network.architecture }

    public init(network: Network) { self.network = network }

    @inline(__always)
    func gemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        network.products.gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a, lda: lda, b, ldb: ldb, beta: beta,
            c, ldc: ldc)
    }

    /// One thread's buffers; they only grow.
    public final class Workspace: @unchecked Sendable {
        var dOutput = AlignedFloats(count: 0)
        /// After `run`: dL/d(layer 0's input rows), [rows, E] (per distinct token when the forward pass had them).
        public internal(set) var dInput = AlignedFloats(count: 0)
        var dRecurrent = AlignedFloats(count: 0)
        var carry = AlignedFloats(count: 0)
        var nextCarry = AlignedFloats(count: 0)
        var carryCell = AlignedFloats(count: 0)
        var nextCarryCell = AlignedFloats(count: 0)
        var dFeatures = AlignedFloats(count: 0)
        var finalRows = AlignedFloats(count: 0)
        /// Layer 0's projection gradients summed per distinct token (see Network.Workspace.distinctTokens).
        var dDistinct = AlignedFloats(count: 0)
        /// Rows of dL/d(W_hh·h) and of the h they multiply, gathered over steps:
        /// dW_hh is one product per `window` rows instead of one per step.
        var windowGradients = AlignedFloats(count: 0)
        var windowStates = AlignedFloats(count: 0)
        var window = 512

        public init() {}
    }

    /// Adds the gradient of the summed loss whose logit gradient is `dLogits` ([B, C]) to `gradient`,
    /// the embedding's only with `embeddingGradient`; without `gradient`, only the input gradients
    /// (`Workspace.dInput`) are computed.
    public func run(
        _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, forward w: Network.Workspace, dLogits: [Float],
        gradient: UnsafeMutablePointer<Float>?, embeddingGradient: Bool = true, workspace b: Workspace
    ) {
        let a = architecture
        head(parameters, batch, forward: w, dLogits: dLogits, gradient: gradient, workspace: b)
        if a.pooling != .last { pooledStates(parameters, batch, forward: w, gradient: gradient, workspace: b) }
        for layer in stride(from: a.layers - 1, through: 0, by: -1) {
            let inputWidth = a.inputWidth(layer: layer)
            // Layer 0 may have one input row per distinct token: its rows' gradients are summed per token first.
            let distinct = layer == 0 && !w.distinctTokens.isEmpty
            let inputRows = distinct ? w.distinctTokens.count : batch.rows
            zeroed(&b.dInput, inputRows * inputWidth)
            for direction in 0..<a.directions {
                recurrentLayer(
                    layer, direction: direction, parameters, batch, forward: w, gradient: gradient,
                    inputGradient: layer > 0 || gradient == nil || embeddingGradient, workspace: b)
            }
            if let mask = w.inputMasks[layer] {
                for i in 0..<batch.rows * inputWidth { b.dInput.baseAddress[i] *= mask.baseAddress[i] }
            }
            if layer > 0 {
                swap(&b.dOutput, &b.dInput)
            } else if let gradient, embeddingGradient {
                embeddingRows(batch, forward: w, gradient: gradient, workspace: b)
            }
        }
    }

    /// The head (logits = features · W_headᵀ + b_head) and its dropout: `dFeatures`.
    private func head(
        _ parameters: UnsafePointer<Float>, _ batch: PackedBatch, forward w: Network.Workspace,
        dLogits: [Float], gradient: UnsafeMutablePointer<Float>?, workspace b: Workspace
    ) {
        let a = architecture
        let F = a.featureWidth, C = a.classes
        let headWeight = layout.offset("head.weight"), headBias = layout.offset("head.bias")
        zeroed(&b.dFeatures, batch.count * F)
        let dFeatures = b.dFeatures.baseAddress
        dLogits.withUnsafeBufferPointer { dl in
            if let gradient {
                gemm(
                    transposeA: true, m: C, n: F, k: batch.count, dl.baseAddress!, lda: C, w.features.baseAddress,
                    ldb: F, beta: 1, gradient + headWeight, ldc: F)
                for r in 0..<batch.count { for c in 0..<C { gradient[headBias + c] += dl[r * C + c] } }
            }
            gemm(
                m: batch.count, n: F, k: C, dl.baseAddress!, lda: C, parameters + headWeight, ldb: F, beta: 0,
                dFeatures, ldc: F)
        }
        if let mask = w.featureMask { for i in 0..<batch.count * F { dFeatures[i] *= mask.baseAddress[i] } }
    }

    /// One layer and direction: the steps in reverse, then the input projection's
    /// gradients (dW_ih, db_ih, and with `inputGradient` dInput) in one GEMM each for all steps.
    private func recurrentLayer(
        _ layer: Int, direction: Int, _ parameters: UnsafePointer<Float>, _ batch: PackedBatch,
        forward w: Network.Workspace, gradient: UnsafeMutablePointer<Float>?, inputGradient: Bool,
        workspace b: Workspace
    ) {
        let a = architecture
        let GH = a.gateWidth, rows = batch.rows, inputWidth = a.inputWidth(layer: layer)
        let distinct = layer == 0 && !w.distinctTokens.isEmpty
        let inputRows = distinct ? w.distinctTokens.count : rows
        let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
        let wih = layout.offset(prefix + "w_ih"), whh = layout.offset(prefix + "w_hh")
        let bih = layout.offset(prefix + "b_ih"), bhh = layout.offset(prefix + "b_hh")
        // Every row's gate gradients are written by its step: no zeroing (3 MB a batch).
        steps(
            a.cell.cell, batch, layer: layer, direction: direction, whh: parameters + whh,
            dWhh: gradient.map { $0 + whh }, dBhh: gradient.map { $0 + bhh }, forward: w, workspace: b)
        let slot = layer * a.directions + direction, rowWidth = network.gateRowWidth
        var (dp, ldp) = (w.gateRows[slot].baseAddress, rowWidth)
        if distinct {
            zeroed(&b.dDistinct, inputRows * GH)
            for r in 0..<rows {
                addRow(dp + r * rowWidth, into: b.dDistinct.baseAddress + Int(w.rowDistinct[r]) * GH, count: GH)
            }
            (dp, ldp) = (b.dDistinct.baseAddress, GH)
        }
        // dW_ih += dpᵀ · input;  db_ih += Σ rows of dp;  dInput += dp · W_ih
        if let gradient {
            gemm(
                transposeA: true, m: GH, n: inputWidth, k: inputRows, dp, lda: ldp, w.layerInput[layer].baseAddress,
                ldb: inputWidth, beta: 1, gradient + wih, ldc: inputWidth)
            for r in 0..<inputRows { addRow(dp + r * ldp, into: gradient + bih, count: GH) }
        }
        guard inputGradient else { return }
        gemm(
            m: inputRows, n: inputWidth, k: GH, dp, lda: ldp, parameters + wih, ldb: inputWidth,
            beta: 1, b.dInput.baseAddress, ldc: inputWidth)
    }

    /// Embedding rows get their tokens' gradients (dInput of layer 0); the padding row gets none.
    private func embeddingRows(
        _ batch: PackedBatch, forward w: Network.Workspace, gradient: UnsafeMutablePointer<Float>,
        workspace b: Workspace
    ) {
        let a = architecture
        let embedding = layout.offset("embedding"), E = a.embedding
        let tokens = w.distinctTokens.isEmpty ? batch.tokens[0..<batch.rows] : w.distinctTokens[...]
        let dInput = b.dInput.baseAddress
        for (r, token) in tokens.enumerated() where token != a.paddingID {
            // The rows are scattered over the table: fetch the next one's lines first.
            if r + 1 < tokens.count {
                prefetch(gradient + embedding + Int(tokens[tokens.startIndex + r + 1]) * E, count: E)
            }
            addRow(dInput + r * E, into: gradient + embedding + Int(token) * E, count: E)
        }
    }

    /// The recurrent part of one layer and direction: steps in the reverse of
    /// their forward order, carrying dL/dh (and dL/dc) to the previous step.
    private func steps<Cell: RecurrentCell>(
        _ cell: Cell.Type, _ batch: PackedBatch, layer: Int, direction: Int, whh: UnsafePointer<Float>,
        dWhh: UnsafeMutablePointer<Float>?, dBhh: UnsafeMutablePointer<Float>?,
        forward w: Network.Workspace, workspace b: Workspace
    ) {
        let a = architecture
        let H = a.hidden, GH = a.gateWidth, ldo = H * a.directions, column = direction * H
        let order = StepOrder(batch, reverse: direction == 1)
        let maxRows = batch.batchSizes.max() ?? 0
        for buffer in [\Workspace.carry, \Workspace.nextCarry, \Workspace.carryCell, \Workspace.nextCarryCell] {
            grow(&b[keyPath: buffer], to: maxRows * H)
        }
        grow(&b.dRecurrent, to: maxRows * GH)
        grow(&b.finalRows, to: maxRows * ldo)
        let slot = layer * a.directions + direction
        let product = network.kernels.product, gradient = network.kernels.kernels(for: cell).gradient
        let window = max(b.window, maxRows)
        grow(&b.windowGradients, to: window * GH)
        grow(&b.windowStates, to: window * H)
        var gathered = 0
        // dW_hh += Σ over gathered rows of dRecurrentᵀ · h_previous: a whole window's rows deep, a large
        // product, so it goes to the network's large-product provider (OpenBLAS in training).
        func flush() {
            defer { gathered = 0 }
            guard gathered > 0, let dWhh else { return }
            network.products.gemm(
                transposeA: true, m: GH, n: H, k: gathered, b.windowGradients.baseAddress, lda: GH,
                b.windowStates.baseAddress, ldb: H, beta: 1, dWhh, ldc: H)
        }
        let output = w.output[layer].baseAddress + column
        let rowWidth = network.gateRowWidth
        let gateRows = w.gateRows[slot].baseAddress, cells = w.cellState[slot].baseAddress
        // The input projection's gradient goes over the gate cache; the recurrent one, when it differs, apart.
        let ldh = Cell.separateRecurrentGradient ? GH : rowWidth
        var carried = 0  // rows of this step that a later step continued from
        for step in order.reversed() {
            if gathered + step.continuing > window { flush() }
            let dx = gateRows + step.start * rowWidth
            let fromAbove: UnsafePointer<Float>
            if layer == a.layers - 1 && a.pooling == .last {
                // The step's rows that no later step continued are its sequences' last in this
                // direction (packed row i is sequence i): their states are features. Added onto
                // zeros, as into the dense buffer this replaced: the same bits (−0 becomes +0).
                let finalRows = b.finalRows.baseAddress + column
                for i in 0..<step.rows {
                    (finalRows + i * ldo).update(repeating: 0, count: H)
                    if i >= carried {
                        addRow(b.dFeatures.baseAddress + i * ldo + column, into: finalRows + i * ldo, count: H)
                    }
                }
                fromAbove = UnsafePointer(finalRows)
            } else {
                fromAbove = UnsafePointer(b.dOutput.baseAddress + step.start * ldo + column)
            }
            let dh = Cell.separateRecurrentGradient ? b.dRecurrent.baseAddress : dx
            gradient(
                GradientStepArguments(
                    rows: step.rows, carried: carried, continuing: step.continuing, hidden: H,
                    output: output + step.start * ldo, previous: output + step.previousStart * ldo, ldOutput: ldo,
                    gateCache: gateRows + step.start * rowWidth, cell: cells + step.start * H,
                    previousCell: cells + step.previousStart * H,
                    dOutput: fromAbove, carry: b.carry.baseAddress,
                    carryCell: b.carryCell.baseAddress,
                    dInput: dx, ldInput: rowWidth, dRecurrent: dh, previousCarry: b.nextCarry.baseAddress,
                    previousCarryCell: b.nextCarryCell.baseAddress))
            // Recurrent projection: every row's bias; the continuing rows' gradients
            // and previous states are gathered for dW_hh.
            if let dBhh { for i in 0..<step.rows { addRow(dh + i * ldh, into: dBhh, count: GH) } }
            if step.continuing > 0 {
                if dWhh != nil {
                    for i in 0..<step.continuing {
                        (b.windowGradients.baseAddress + (gathered + i) * GH).update(from: dh + i * ldh, count: GH)
                        (b.windowStates.baseAddress + (gathered + i) * H).update(
                            from: output + (step.previousStart + i) * ldo, count: H)
                    }
                }
                // dL/dh of the previous step = the cell's direct path (if any) + dRecurrent · W_hh.
                product(
                    MatrixArguments(
                        m: step.continuing, n: H, k: GH, a: dh, aRowStride: ldh, aColumnStride: 1,
                        b: whh, ldb: H, c: b.nextCarry.baseAddress, ldc: H, accumulate: Cell.directPathToPrevious))
            }
            gathered += step.continuing
            swap(&b.carry, &b.nextCarry)
            swap(&b.carryCell, &b.nextCarryCell)
            carried = step.continuing
        }
        flush()
    }

    /// Grows `buffer` to `count` floats and zeroes them.
    func zeroed(_ buffer: inout AlignedFloats, _ count: Int) {
        grow(&buffer, to: count)
        buffer.baseAddress.update(repeating: 0, count: count)
    }
}

/// target[0..<count] += source[0..<count], a vector at a time.
@inline(__always)
func addRow(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
    var j = 0
    while j < count {
        let w = min(Baseline.Vector.scalarCount, count - j)
        store(Baseline.load(target + j, w) + Baseline.load(source + j, w), target + j, w)
        j += Baseline.Vector.scalarCount
    }
}
