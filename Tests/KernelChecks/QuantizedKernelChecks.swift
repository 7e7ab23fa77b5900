import RNNKernels
import RNNModel

/// Every quantized step kernel this CPU can run (AVX-512 with VPDPBUSD or
/// PMADDWD as the CPU has VNNI or not, AVX2, SSE2) against the cells' equations
/// in Double, with the int8 weights times their scales and previous states on
/// the kernels' grid: the integer sums are exact, so only float rounding is left.
/// Sizes cover the row tiles, the multi-chunk single-row tile, leftover rows
/// and chunks, an odd hidden size (a padded pair) and rows from a zero state.
extension RecurrentKernelChecks {
    public func everyAvailableQuantizedStepMatchesTheCellEquations() {
        var rng = SplitMix64(seed: 17)
        func values(_ count: Int, scale: Float) -> [Float] {
            (0..<count).map { _ in (Float(rng.nextUnit()) * 2 - 1) * scale }
        }
        for cell in [CellKind.rnn, .gru, .lstm] {
            for (hidden, rows, continuing) in [(21, 11, 9), (128, 1, 1), (37, 6, 5), (64, 9, 0), (130, 2, 2)] {
                let G = cell.gateCount
                let int8 = (0..<G * hidden * hidden).map { _ in Int8(Int(rng.next() % 255) - 127) }
                let rowScales = values(G * hidden, scale: 0.004).map(abs)
                let bhh = values(G * hidden, scale: 0.5), input = values(rows * G * hidden, scale: 2)
                // States on the kernels' grid of 255 levels: rounding them for the product changes nothing.
                let previous = values(rows * hidden, scale: 1).map { ($0 * 127).rounded() / 127 }
                let previousCell = values(rows * hidden, scale: 1.5)
                let whh = int8.enumerated().map { Float($1) * rowScales[$0 / hidden] }
                let expected = reference(
                    cell, rows: rows, continuing: continuing, hidden: hidden, input: input, previous: previous,
                    previousCell: previousCell, whh: whh, bhh: bhh)
                for kernels in KernelSet.available {
                    let packed = QuantizedRecurrentWeights(
                        whh: int8, rowScales: rowScales, bhh: bhh, hidden: hidden, gates: G, lanes: kernels.lanes,
                        layout: kernels.quantizedLayout)
                    var h = [Float](repeating: .nan, count: rows * hidden), c = h
                    input.withUnsafeBufferPointer { input in
                        previous.withUnsafeBufferPointer { previous in
                            previousCell.withUnsafeBufferPointer { previousCell in
                                h.withUnsafeMutableBufferPointer { h in
                                    c.withUnsafeMutableBufferPointer { c in
                                        kernels.kernels(for: cell).quantizedStep(
                                            StepArguments(
                                                rows: rows, continuing: continuing, hidden: hidden,
                                                input: input.baseAddress!, ldInput: G * hidden,
                                                previous: previous.baseAddress!,
                                                ldPrevious: hidden, output: h.baseAddress!, ldOutput: hidden,
                                                previousCell: previousCell.baseAddress!, cell: c.baseAddress!,
                                                ldCell: hidden),
                                            packed)
                                    }
                                }
                            }
                        }
                    }
                    let what =
                        "\(kernels.instructionSet) \(cell) hidden \(hidden) rows \(rows) continuing \(continuing)"
                    let worst = zip(h, expected.h).map { abs($0 - $1) }.max() ?? 0
                    check.that(worst <= 2e-5, "\(what): h differs by \(worst)")
                    if cell == .lstm {
                        let worstCell = zip(c, expected.c).map { abs($0 - $1) }.max() ?? 0
                        check.that(worstCell <= 2e-5, "\(what): c differs by \(worstCell)")
                    }
                }
            }
        }
    }

    /// Every set's integer product against the exact sums, with scale 1 and no
    /// bias so that the floats hold them exactly; weights and states include the
    /// extremes (127 and -128 against states of ±1) where VPMADDUBSW on whole
    /// bytes would saturate.
    public func everyAvailableQuantizedProductIsTheExactIntegerSum() {
        var rng = SplitMix64(seed: 23)
        for gates in [1, 3, 4] {
            for hidden in [128, 37] {
                let rows = gates * hidden
                var int8 = (0..<rows * hidden).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 256)) }
                for k in 0..<hidden {
                    int8[k] = 127
                    int8[hidden + k] = -128
                }
                let levels = (0..<hidden).map { k in
                    k < hidden / 3 ? 127 : k < hidden / 2 ? -127 : Int(rng.next() % 255) - 127
                }
                let rowScales = [Float](repeating: 127, count: rows), bias = [Float](repeating: 0, count: rows)
                for kernels in KernelSet.available {
                    let products = kernels.quantizedProducts, layout = kernels.quantizedLayout
                    let packed = QuantizedRecurrentWeights(
                        whh: int8, rowScales: rowScales, bhh: bias, hidden: hidden, gates: gates, lanes: kernels.lanes,
                        layout: layout)
                    let L = kernels.lanes, width = packed.groups * layout.group
                    // The state as QuantizedStep hands it over: int16 or int8 levels, or uint8 levels plus 128.
                    var states = [UInt8](repeating: layout.states == .uint8Offset ? 128 : 0, count: 2 * width)
                    states.withUnsafeMutableBytes { bytes in
                        for (k, level) in levels.enumerated() {
                            switch layout.states {
                            case .int16: bytes.storeBytes(of: Int16(level), toByteOffset: 2 * k, as: Int16.self)
                            case .int8: bytes.storeBytes(of: Int8(level), toByteOffset: k, as: Int8.self)
                            case .uint8Offset: bytes[k] = UInt8(level + 128)
                            }
                        }
                    }
                    var out = [Float](repeating: .nan, count: gates * L)
                    let panelBytes = packed.panels.count / packed.chunks
                    for chunk in 0..<packed.chunks {
                        let at = chunk * gates * L
                        states.withUnsafeBytes { states in
                            packed.panels.withUnsafeBytes { panels in
                                products.run(
                                    Int32(QuantizedTile.one.rawValue), Int32(gates), states.baseAddress!, width,
                                    panels.baseAddress! + chunk * panelBytes, packed.groups,
                                    Array(packed.corrections[at...]), Array(packed.bias[at...]),
                                    Array(packed.scale[at...]), &out)
                            }
                        }
                        for g in 0..<gates {
                            for u in 0..<L where chunk * L + u < hidden {
                                let row = g * hidden + chunk * L + u
                                let exact = (0..<hidden).reduce(0) { $0 + levels[$1] * Int(int8[row * hidden + $1]) }
                                check.equal(
                                    out[g * L + u], Float(exact),
                                    "\(kernels.instructionSet) gates \(gates) hidden \(hidden): row \(row)")
                            }
                        }
                    }
                }
            }
        }
    }
}
