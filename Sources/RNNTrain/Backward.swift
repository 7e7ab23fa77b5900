import RNNKernels
import RNNModel

/// Backpropagation through time over packed sequences, the exact reverse of
/// `Network.forward` for the same batch and workspace.
struct Backward {
    let network: Network
    var layout: ParameterLayout { network.layout }
    var architecture: Architecture { network.architecture }

    final class Buffers {
        var dOutput: [Float] = []
        var dInput: [Float] = []
        var dProjection: [Float] = []
        var dRecurrent: [Float] = []
        var carryH: [Float] = []
        var nextCarryH: [Float] = []
        var carryC: [Float] = []
        var nextCarryC: [Float] = []
        var dFeatures: [Float] = []
        /// Layer 0's projection gradients summed per distinct token (see Workspace.distinctTokens).
        var dDistinct: [Float] = []
        /// Rows of dL/d(W_hh·h) and of the h they multiply, gathered over steps:
        /// dW_hh is one product per `window` rows instead of one per step.
        var windowGradients: [Float] = []
        var windowStates: [Float] = []
        var window = 512
    }

    /// Adds the gradient of the summed loss whose logit gradient is `dLogits` to `gradient`.
    func run(_ parameters: UnsafePointer<Float>, _ batch: PackedBatch, workspace w: Network.Workspace, dLogits: [Float],
             gradient: UnsafeMutablePointer<Float>, buffers b: Buffers) {
        let a = architecture
        let H = a.hidden, D = a.directions, F = a.featureWidth, C = a.classes, G = a.gateWidth
        let rows = batch.rows
        func fit(_ array: inout [Float], _ count: Int, zeroed: Bool = true) {
            if array.count < count { array = [Float](repeating: 0, count: count) }
            if zeroed { array.withUnsafeMutableBufferPointer { $0.baseAddress!.update(repeating: 0, count: count) } }
        }

        // Head: logits = features · Wᵀ + b.
        let headWeight = layout.offset("head.weight"), headBias = layout.offset("head.bias")
        fit(&b.dFeatures, batch.count * F)
        dLogits.withUnsafeBufferPointer { dl in
            w.features.withUnsafeBufferPointer { features in
                gemm(transposeA: true, m: C, n: F, k: batch.count, dl.baseAddress!, lda: C, features.baseAddress!, ldb: F,
                     beta: 1, gradient + headWeight, ldc: F)
            }
            for r in 0..<batch.count { for c in 0..<C { gradient[headBias + c] += dl[r * C + c] } }
            b.dFeatures.withUnsafeMutableBufferPointer { df in
                gemm(m: batch.count, n: F, k: C, dl.baseAddress!, lda: C, parameters + headWeight, ldb: F, beta: 0, df.baseAddress!, ldc: F)
            }
        }
        if !w.featureMask.isEmpty { for i in 0..<batch.count * F { b.dFeatures[i] *= w.featureMask[i] } }

        // Scatter the feature gradient onto the final rows of the top layer.
        fit(&b.dOutput, rows * H * D)
        for s in 0..<batch.count where batch.lengths[s] > 0 {
            for direction in 0..<D {
                let t = direction == 0 ? batch.lengths[s] - 1 : 0
                let row = batch.row(sequence: s, step: t)
                for j in 0..<H { b.dOutput[row * H * D + direction * H + j] += b.dFeatures[s * F + direction * H + j] }
            }
        }

        for layer in stride(from: a.layers - 1, through: 0, by: -1) {
            let inputWidth = a.inputWidth(layer: layer)
            // Layer 0 may have one input row per distinct token: its rows' gradients are summed per token first.
            let distinct = layer == 0 && !w.distinctTokens.isEmpty
            let inputRows = distinct ? w.distinctTokens.count : rows
            fit(&b.dInput, inputRows * inputWidth)
            for direction in 0..<D {
                let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
                let wih = layout.offset(prefix + "w_ih"), whh = layout.offset(prefix + "w_hh")
                let bih = layout.offset(prefix + "b_ih"), bhh = layout.offset(prefix + "b_hh")
                // Every row's gate gradients are written by its step: no zeroing (3 MB a batch).
                fit(&b.dProjection, rows * G, zeroed: false)
                steps(batch, layer: layer, direction: direction, whh: parameters + whh, dWhh: gradient + whh, dBhh: gradient + bhh,
                      workspace: w, buffers: b)
                if distinct {
                    fit(&b.dDistinct, inputRows * G)
                    b.dDistinct.withUnsafeMutableBufferPointer { dd in
                        b.dProjection.withUnsafeBufferPointer { dp in
                            for r in 0..<rows { addRow(dp.baseAddress! + r * G, into: dd.baseAddress! + Int(w.rowDistinct[r]) * G, count: G) }
                        }
                    }
                }
                // The input projection's gradients, one GEMM each for all steps.
                (distinct ? b.dDistinct : b.dProjection).withUnsafeBufferPointer { dp in
                    w.layerInput[layer].withUnsafeBufferPointer { input in
                        gemm(transposeA: true, m: G, n: inputWidth, k: inputRows, dp.baseAddress!, lda: G, input.baseAddress!, ldb: inputWidth,
                             beta: 1, gradient + wih, ldc: inputWidth)
                    }
                    for r in 0..<inputRows { addRow(dp.baseAddress! + r * G, into: gradient + bih, count: G) }
                    b.dInput.withUnsafeMutableBufferPointer { di in
                        gemm(m: inputRows, n: inputWidth, k: G, dp.baseAddress!, lda: G, parameters + wih, ldb: inputWidth,
                             beta: 1, di.baseAddress!, ldc: inputWidth)
                    }
                }
            }
            let mask = w.inputMasks[layer]
            if !mask.isEmpty { for i in 0..<rows * inputWidth { b.dInput[i] *= mask[i] } }
            if layer > 0 {
                swap(&b.dOutput, &b.dInput)
            } else {
                // Embedding rows get their tokens' gradients; the padding row gets none.
                let embedding = layout.offset("embedding"), E = a.embedding
                let tokens = distinct ? w.distinctTokens[...] : batch.tokens[0..<rows]
                b.dInput.withUnsafeBufferPointer { di in
                    for (r, token) in tokens.enumerated() where token != a.paddingID {
                        // The rows are scattered over the table: fetch the next one's lines first.
                        if r + 1 < tokens.count { prefetch(gradient + embedding + Int(tokens[tokens.startIndex + r + 1]) * E, count: E) }
                        addRow(di.baseAddress! + r * E, into: gradient + embedding + Int(token) * E, count: E)
                    }
                }
            }
        }
    }

    /// The recurrent part of one layer and direction: steps in the reverse of
    /// their forward order, carrying dL/dh (and dL/dc) to the previous step.
    private func steps(_ batch: PackedBatch, layer: Int, direction: Int, whh: UnsafePointer<Float>,
                       dWhh: UnsafeMutablePointer<Float>, dBhh: UnsafeMutablePointer<Float>,
                       workspace w: Network.Workspace, buffers b: Buffers) {
        let a = architecture
        let H = a.hidden, G = a.gateWidth, ldo = H * a.directions, column = direction * H
        let forwardOrder = direction == 1 ? Array((0..<batch.steps).reversed()) : Array(0..<batch.steps)
        let maxRows = batch.batchSizes.max() ?? 0
        for buffer in [\Buffers.carryH, \Buffers.nextCarryH, \Buffers.carryC, \Buffers.nextCarryC] {
            if b[keyPath: buffer].count < maxRows * H { b[keyPath: buffer] = [Float](repeating: 0, count: maxRows * H) }
        }
        if b.dRecurrent.count < maxRows * G { b.dRecurrent = [Float](repeating: 0, count: maxRows * G) }
        let slot = layer * a.directions + direction
        let product = RecurrentKernels.selected.product
        let window = max(b.window, maxRows)
        if b.windowGradients.count < window * G { b.windowGradients = [Float](repeating: 0, count: window * G) }
        if b.windowStates.count < window * H { b.windowStates = [Float](repeating: 0, count: window * H) }
        var gathered = 0
        func flush() {
            guard gathered > 0 else { return }
            b.windowGradients.withUnsafeBufferPointer { d in
                b.windowStates.withUnsafeBufferPointer { h in
                    product(MatrixArguments(m: G, n: H, k: gathered, a: d.baseAddress!, aRowStride: 1, aColumnStride: G,
                                            b: h.baseAddress!, ldb: H, c: dWhh, ldc: H, accumulate: true))
                }
            }
            gathered = 0
        }
        var carried = 0  // rows of this step that a later step continued from
        for index in stride(from: forwardOrder.count - 1, through: 0, by: -1) {
            let t = forwardOrder[index]
            let n = batch.batchSizes[t], start = batch.stepOffsets[t]
            let previousStep = index == 0 ? nil : forwardOrder[index - 1]
            let previousCount = previousStep.map { min(n, batch.batchSizes[$0]) } ?? 0
            let previousStart = previousStep.map { batch.stepOffsets[$0] } ?? 0
            if gathered + previousCount > window { flush() }
            w.output[layer].withUnsafeBufferPointer { output in
            w.gates[slot].withUnsafeBufferPointer { gates in
            w.cells[slot].withUnsafeBufferPointer { cells in
            b.dOutput.withUnsafeBufferPointer { dOutput in
            b.dProjection.withUnsafeMutableBufferPointer { dProjection in
            b.dRecurrent.withUnsafeMutableBufferPointer { dRecurrent in
            b.carryH.withUnsafeMutableBufferPointer { carryH in
            b.nextCarryH.withUnsafeMutableBufferPointer { nextCarryH in
            b.carryC.withUnsafeMutableBufferPointer { carryC in
            b.nextCarryC.withUnsafeMutableBufferPointer { nextCarryC in
            b.windowGradients.withUnsafeMutableBufferPointer { windowGradients in
            b.windowStates.withUnsafeMutableBufferPointer { windowStates in
                let out = output.baseAddress! + column
                let step = GradientStep(hidden: H, count: n, carried: carried, previousCount: previousCount)
                let dx = dProjection.baseAddress! + start * G
                // RNN and LSTM gates enter the input and recurrent projections alike,
                // so one gradient serves both; GRU's n gate differs (r scales W_hn h).
                let dh = a.cell == .gru ? dRecurrent.baseAddress! : dx
                let incoming = dOutput.baseAddress! + start * ldo + column
                switch a.cell {
                case .rnn:
                    step.rnn(h: out + start * ldo, ldo: ldo, dOut: incoming, carry: carryH.baseAddress!, dx: dx)
                case .gru:
                    step.gru(gates: gates.baseAddress! + start * 4 * H, hPrevious: out + previousStart * ldo, ldo: ldo, dOut: incoming,
                             carry: carryH.baseAddress!, dx: dx, dh: dh, directPrevious: nextCarryH.baseAddress!)
                case .lstm:
                    step.lstm(gates: gates.baseAddress! + start * 4 * H, c: cells.baseAddress! + start * H,
                              cPrevious: cells.baseAddress! + previousStart * H, ldo: ldo, dOut: incoming,
                              carryH: carryH.baseAddress!, carryC: carryC.baseAddress!, dx: dx,
                              nextCarryC: nextCarryC.baseAddress!)
                }
                // Recurrent projection: every row's bias; the continuing rows' gradients
                // and previous states are gathered for dW_hh.
                for i in 0..<n { addRow(dh + i * G, into: dBhh, count: G) }
                guard previousCount > 0 else { return }
                (windowGradients.baseAddress! + gathered * G).update(from: dh, count: previousCount * G)
                for i in 0..<previousCount {
                    (windowStates.baseAddress! + (gathered + i) * H).update(from: out + (previousStart + i) * ldo, count: H)
                }
                // dL/dh of the previous step = direct path (GRU's z·dh) + dRecurrent · W_hh.
                product(MatrixArguments(m: previousCount, n: H, k: G, a: dh, aRowStride: G, aColumnStride: 1,
                                        b: whh, ldb: H, c: nextCarryH.baseAddress!, ldc: H, accumulate: a.cell == .gru))
            }}}}}}}}}}}}
            gathered += previousCount
            swap(&b.carryH, &b.nextCarryH)
            swap(&b.carryC, &b.nextCarryC)
            carried = previousCount
        }
        flush()
    }
}

/// target[0..<count] += source[0..<count], a vector at a time.
@inline(__always)
func addRow(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
    var j = 0
    while j < count {
        let w = min(Vector.scalarCount, count - j)
        store(load(target + j, w) + load(source + j, w), target + j, w)
        j += Vector.scalarCount
    }
}

/// Gate gradients of one time step, given dL/dh from above (`dOut`, stride
/// `ldo`) and from the next step (`carry`, for the first `carried` rows).
struct GradientStep {
    let hidden: Int
    let count: Int
    let carried: Int
    let previousCount: Int

    @inline(__always)
    func incoming(_ dOut: UnsafePointer<Float>, ldo: Int, _ carry: UnsafePointer<Float>, row: Int, at j: Int, _ w: Int) -> Vector {
        let fromAbove = load(dOut + row * ldo + j, w)
        return row < carried ? fromAbove + load(carry + row * hidden + j, w) : fromAbove
    }

    func rnn(h: UnsafePointer<Float>, ldo: Int, dOut: UnsafePointer<Float>, carry: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let H = hidden
        for row in 0..<count {
            var j = 0
            while j < H {
                let w = min(Vector.scalarCount, H - j)
                let y = load(h + row * ldo + j, w)
                store(incoming(dOut, ldo: ldo, carry, row: row, at: j, w) * (1 - y * y), dx + row * H + j, w)
                j += Vector.scalarCount
            }
        }
    }

    func gru(gates: UnsafePointer<Float>, hPrevious: UnsafePointer<Float>, ldo: Int, dOut: UnsafePointer<Float>,
             carry: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dh: UnsafeMutablePointer<Float>,
             directPrevious: UnsafeMutablePointer<Float>) {
        let H = hidden, G = 3 * H
        for row in 0..<count {
            let cache = gates + row * 4 * H
            var j = 0
            while j < H {
                let w = min(Vector.scalarCount, H - j)
                let r = load(cache + j, w), z = load(cache + H + j, w), n = load(cache + 2 * H + j, w), hn = load(cache + 3 * H + j, w)
                let previous = row < previousCount ? load(hPrevious + row * ldo + j, w) : .zero
                let d = incoming(dOut, ldo: ldo, carry, row: row, at: j, w)
                let dnPre = d * (1 - z) * (1 - n * n)
                let dzPre = d * (previous - n) * z * (1 - z)
                let drPre = dnPre * hn * r * (1 - r)
                store(drPre, dx + row * G + j, w)
                store(dzPre, dx + row * G + H + j, w)
                store(dnPre, dx + row * G + 2 * H + j, w)
                store(drPre, dh + row * G + j, w)
                store(dzPre, dh + row * G + H + j, w)
                store(dnPre * r, dh + row * G + 2 * H + j, w)
                if row < previousCount { store(d * z, directPrevious + row * H + j, w) }
                j += Vector.scalarCount
            }
        }
    }

    func lstm(gates: UnsafePointer<Float>, c: UnsafePointer<Float>, cPrevious: UnsafePointer<Float>, ldo: Int,
              dOut: UnsafePointer<Float>, carryH: UnsafePointer<Float>, carryC: UnsafePointer<Float>,
              dx: UnsafeMutablePointer<Float>, nextCarryC: UnsafeMutablePointer<Float>) {
        let H = hidden, G = 4 * H
        for row in 0..<count {
            let cache = gates + row * G
            var j = 0
            while j < H {
                let w = min(Vector.scalarCount, H - j)
                let i = load(cache + j, w), f = load(cache + H + j, w), g = load(cache + 2 * H + j, w), o = load(cache + 3 * H + j, w)
                let tc = Baseline.tanh(load(c + row * H + j, w))
                let previous = row < previousCount ? load(cPrevious + row * H + j, w) : .zero
                let dhTotal = incoming(dOut, ldo: ldo, carryH, row: row, at: j, w)
                var dc = dhTotal * o * (1 - tc * tc)
                if row < carried { dc += load(carryC + row * H + j, w) }
                store(dc * g * i * (1 - i), dx + row * G + j, w)
                store(dc * previous * f * (1 - f), dx + row * G + H + j, w)
                store(dc * i * (1 - g * g), dx + row * G + 2 * H + j, w)
                store(dhTotal * tc * o * (1 - o), dx + row * G + 3 * H + j, w)
                if row < previousCount { store(dc * f, nextCarryC + row * H + j, w) }
                j += Vector.scalarCount
            }
        }
    }
}
