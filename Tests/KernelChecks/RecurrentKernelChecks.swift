import RNNKernels
import RNNModel

/// Every step kernel this CPU can run (AVX-512, AVX2, NEON, baseline) against the
/// cells' reference equations in Double, from the unpacked weights. Sizes cover
/// full row tiles, leftover pairs and single rows, rows starting from a zero
/// state, a last chunk narrower than a vector alone and inside a many-chunk tile; k summed in both directions; inputs
/// given per row or read from a per-token table.
public struct RecurrentKernelChecks {
    public let check: Check

    public init(_ check: Check) { self.check = check }

    func reference(
        _ cell: CellKind, rows: Int, continuing: Int, hidden H: Int, input: [Float], previous: [Float],
        previousCell: [Float], whh: [Float], bhh: [Float]
    ) -> (h: [Float], c: [Float], gates: [Float]) {
        let gates = cell.gateCount
        var h = [Float](repeating: 0, count: rows * H), c = h, cache = [Float](repeating: 0, count: rows * 4 * H)
        for row in 0..<rows {
            let continues = row < continuing
            var recurrent = [Double](repeating: 0, count: gates * H)
            for unit in 0..<gates * H {
                var sum = Double(bhh[unit])
                if continues { for k in 0..<H { sum += Double(whh[unit * H + k]) * Double(previous[row * H + k]) } }
                recurrent[unit] = sum
            }
            for j in 0..<H {
                let unit = cell.cell.reference(
                    input: (0..<gates).map { Double(input[row * gates * H + $0 * H + j]) },
                    recurrent: (0..<gates).map { recurrent[$0 * H + j] },
                    previous: continues ? Double(previous[row * H + j]) : 0,
                    previousCell: continues ? Double(previousCell[row * H + j]) : 0)
                h[row * H + j] = Float(unit.h)
                c[row * H + j] = Float(unit.c)
                for (g, value) in unit.cache.enumerated() { cache[row * 4 * H + g * H + j] = Float(value) }
            }
        }
        return (h, c, cache)
    }

    public func everyAvailableKernelMatchesTheCellEquations() {
        check.equal(KernelSet.available.last?.instructionSet, "baseline")
        var rng = SplitMix64(seed: 3)
        func values(_ count: Int, scale: Float) -> [Float] {
            (0..<count).map { _ in (Float(rng.nextUnit()) * 2 - 1) * scale }
        }
        for cell in [CellKind.rnn, .gru, .lstm] {
            for (hidden, rows, continuing) in [(20, 19, 13), (128, 9, 9), (60, 11, 7), (16, 3, 0), (37, 1, 1)] {
                let G = cell.gateCount
                let whh = values(G * hidden * hidden, scale: 0.3), bhh = values(G * hidden, scale: 0.5)
                let input = values(rows * G * hidden, scale: 2), previous = values(rows * hidden, scale: 1)
                let previousCell = values(rows * hidden, scale: 1.5)
                let expected = reference(
                    cell, rows: rows, continuing: continuing, hidden: hidden, input: input, previous: previous,
                    previousCell: previousCell, whh: whh, bhh: bhh)
                // The table holds the rows' inputs in reverse order; row r reads token rows - 1 - r.
                let table = (0..<rows).reversed().flatMap { input[$0 * G * hidden..<($0 + 1) * G * hidden] }
                let tokens = (0..<rows).map { Int32(rows - 1 - $0) }
                // Training's layout: each row's input in a gate row, which the step overwrites with its cache.
                let rowWidth = cell == .rnn ? G * hidden : 4 * hidden
                var gateRows = [Float](repeating: .nan, count: rows * rowWidth)
                for row in 0..<rows {
                    for i in 0..<G * hidden { gateRows[row * rowWidth + i] = input[row * G * hidden + i] }
                }
                for kernels in KernelSet.available {
                    let packed = PackedRecurrentWeights(
                        whh: whh, bhh: bhh, hidden: hidden, gates: G, lanes: kernels.lanes)
                    for descending in [false, true] {
                        for source in ["rows", "a token table", "gate rows"] {
                            let fromTable = source == "a token table", inPlace = source == "gate rows"
                            var h = [Float](repeating: .nan, count: rows * hidden), c = h
                            var cache = inPlace ? gateRows : [Float](repeating: .nan, count: rows * 4 * hidden)
                            let separateInput = fromTable ? table : input
                            separateInput.withUnsafeBufferPointer { separateInput in
                                tokens.withUnsafeBufferPointer { tokens in
                                    previous.withUnsafeBufferPointer { previous in
                                        previousCell.withUnsafeBufferPointer { previousCell in
                                            h.withUnsafeMutableBufferPointer { h in
                                                c.withUnsafeMutableBufferPointer { c in
                                                    cache.withUnsafeMutableBufferPointer { cache in
                                                        let arguments = StepArguments(
                                                            rows: rows, continuing: continuing, hidden: hidden,
                                                            input: inPlace
                                                                ? UnsafePointer(cache.baseAddress!)
                                                                : separateInput.baseAddress!,
                                                            ldInput: inPlace ? rowWidth : G * hidden,
                                                            inputTokens: fromTable ? tokens.baseAddress! : nil,
                                                            previous: previous.baseAddress!, ldPrevious: hidden,
                                                            output: h.baseAddress!, ldOutput: hidden,
                                                            previousCell: previousCell.baseAddress!,
                                                            cell: c.baseAddress!, ldCell: hidden,
                                                            gateCache: cache.baseAddress!, descending: descending)
                                                        kernels.kernels(for: cell).step(arguments, packed)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            let what =
                                "\(kernels.instructionSet) \(cell) hidden \(hidden) rows \(rows) continuing \(continuing)"
                                + (descending ? " descending" : "") + " from \(source)"
                            func compare(_ actual: [Float], _ wanted: [Float], _ name: String) {
                                let worst = zip(actual, wanted).map { abs($0 - $1) }.max() ?? 0
                                check.that(worst <= 2e-5, "\(what): \(name) differs by \(worst)")
                            }
                            compare(h, expected.h, "h")
                            if cell == .lstm { compare(c, expected.c, "c") }
                            if cell != .rnn { compare(cache, expected.gates, "gate cache") }
                            if cell == .rnn && inPlace { check.equal(cache, gateRows, "\(what): the input changed") }
                        }
                    }
                }
            }
        }
    }

    /// Every set's gradient step against central differences of the cell's
    /// equations in Double: per unit, the loss d·h' + dc·c' differentiated by
    /// each gate's input and recurrent pre-activation, the previous state and
    /// the previous cell state. Rows cover carried and not, continuing and not;
    /// 20 units leave a partial vector at every width.
    public func everyAvailableGradientStepMatchesDifferencesOfTheCellEquations() {
        var rng = SplitMix64(seed: 11)
        func value(_ scale: Double) -> Double { Double(Float((Double(rng.nextUnit()) * 2 - 1) * scale)) }
        let H = 20, rows = 5, carried = 3, continuing = 4
        for cell in [CellKind.rnn, .gru, .lstm] {
            let equations = cell.cell, gates = cell.gateCount
            var input = [Double](), recurrent = [Double](), previous = [Double](), previousCell = [Double]()
            var output = [Float](repeating: 0, count: rows * H), cells = output, previousFloat = output,
                previousCellFloat = output, cache = [Float](repeating: 0, count: rows * 4 * H)
            for row in 0..<rows {
                for j in 0..<H {
                    let x = (0..<gates).map { _ in value(1.5) }, r = (0..<gates).map { _ in value(1.5) }
                    let p = row < continuing ? value(0.9) : 0, pc = row < continuing ? value(1.2) : 0
                    input += x
                    recurrent += r
                    previous.append(p)
                    previousCell.append(pc)
                    let forward = equations.reference(input: x, recurrent: r, previous: p, previousCell: pc)
                    output[row * H + j] = Float(forward.h)
                    cells[row * H + j] = Float(forward.c)
                    previousFloat[row * H + j] = Float(p)
                    previousCellFloat[row * H + j] = Float(pc)
                    for (g, v) in forward.cache.enumerated() { cache[row * 4 * H + g * H + j] = Float(v) }
                }
            }
            let dOutput = (0..<rows * H).map { _ in Float(value(1)) },
                carry = (0..<rows * H).map { _ in Float(value(1)) }
            let carryCell = (0..<rows * H).map { _ in Float(value(1)) }
            for kernels in KernelSet.available {
                /// dInput, dRecurrent, dL/dh and dL/dc of the previous step; `inPlace`: dInput written over the cache.
                func gradients(inPlace: Bool) -> (dInput: [Float], dRecurrent: [Float], [Float], [Float]) {
                    let ldInput = inPlace ? 4 * H : gates * H
                    var dInput = inPlace ? cache : [Float](repeating: .nan, count: rows * gates * H)
                    var dRecurrent = [Float](repeating: .nan, count: rows * gates * H)
                    var previousCarry = [Float](repeating: .nan, count: rows * H), previousCarryCell = previousCarry
                    if !equations.separateRecurrentGradient { dRecurrent = [] }
                    cache.withUnsafeBufferPointer { separateCache in
                        dInput.withUnsafeMutableBufferPointer { dx in
                            let cache = inPlace ? UnsafePointer(dx.baseAddress!) : separateCache.baseAddress!
                            dRecurrent.withUnsafeMutableBufferPointer { dh in
                                previousCarry.withUnsafeMutableBufferPointer { pc in
                                    previousCarryCell.withUnsafeMutableBufferPointer { pcc in
                                        kernels.kernels(for: cell).gradient(
                                            GradientStepArguments(
                                                rows: rows, carried: carried, continuing: continuing, hidden: H,
                                                output: output, previous: previousFloat, ldOutput: H,
                                                gateCache: cache,
                                                cell: cells, previousCell: previousCellFloat, dOutput: dOutput,
                                                carry: carry, carryCell: carryCell, dInput: dx.baseAddress!,
                                                ldInput: ldInput, dRecurrent: dh.baseAddress ?? dx.baseAddress!,
                                                previousCarry: pc.baseAddress!, previousCarryCell: pcc.baseAddress!))
                                    }
                                }
                            }
                        }
                    }
                    let packedInput = (0..<rows).flatMap { dInput[$0 * ldInput..<$0 * ldInput + gates * H] }
                    return (
                        packedInput, dRecurrent.isEmpty ? packedInput : dRecurrent, previousCarry, previousCarryCell
                    )
                }
                let (dInput, dRecurrent, previousCarry, previousCarryCell) = gradients(inPlace: false)
                // Training's layout: the gradients go over the gate cache they are computed from.
                if cell != .rnn {
                    let inPlace = gradients(inPlace: true)
                    check.equal(inPlace.dInput, dInput, "\(kernels.instructionSet) \(cell): dInput in place")
                    check.equal(inPlace.dRecurrent, dRecurrent, "\(kernels.instructionSet) \(cell): in place")
                }
                var worst = 0.0, where_ = ""
                func compare(_ got: Float, _ wanted: Double, _ what: @autoclosure () -> String) {
                    let error = abs(Double(got) - wanted) / max(1, abs(wanted))
                    if !(error <= worst) {
                        worst = error.isNaN ? .infinity : error
                        where_ = what()
                    }
                }
                for row in 0..<rows {
                    for j in 0..<H {
                        let unit = row * H + j
                        let d = Double(dOutput[unit]) + (row < carried ? Double(carry[unit]) : 0)
                        let dc = row < carried && cell == .lstm ? Double(carryCell[unit]) : 0
                        var x = Array(input[unit * gates..<(unit + 1) * gates])
                        var r = Array(recurrent[unit * gates..<(unit + 1) * gates])
                        var p = previous[unit], pc = previousCell[unit]
                        func loss() -> Double {
                            let f = equations.reference(input: x, recurrent: r, previous: p, previousCell: pc)
                            return d * f.h + dc * f.c
                        }
                        func difference(_ change: (Double) -> Void) -> Double {
                            let step = 1e-6
                            change(step)
                            let up = loss()
                            change(-2 * step)
                            let down = loss()
                            change(step)
                            return (up - down) / (2 * step)
                        }
                        for g in 0..<gates {
                            compare(dInput[row * gates * H + g * H + j], difference { x[g] += $0 }, "dInput gate \(g)")
                            compare(
                                dRecurrent[row * gates * H + g * H + j], difference { r[g] += $0 },
                                "dRecurrent gate \(g)")
                        }
                        guard row < continuing else { continue }
                        if equations.directPathToPrevious {
                            compare(previousCarry[unit], difference { p += $0 }, "dL/dh of the previous step")
                        }
                        if equations.keepsCellState {
                            compare(previousCarryCell[unit], difference { pc += $0 }, "dL/dc of the previous step")
                        }
                    }
                }
                check.that(worst <= 1e-4, "\(kernels.instructionSet) \(cell): \(where_) off by \(worst)")
            }
        }
    }

    /// Pre-activations far outside the activations' working range, infinite or
    /// NaN: every kernel's gates saturate to what the equations give (0, ±1;
    /// never NaN from inf − inf), and NaN stays NaN rather than passing for a number.
    public func everyAvailableKernelSaturatesAtExtremes() {
        let extremes: [Float] = [
            -.infinity, -1e30, -200, -104.5, -89, -88, 0, 88, 89, 104.5, 200, 1e30, .infinity, .nan,
        ]
        let hidden = 16, rows = extremes.count
        for cell in [CellKind.rnn, .gru, .lstm] {
            let G = cell.gateCount
            // Every gate of row r gets extremes[r]; W_hh and b_hh are zero and no row continues.
            let input = extremes.flatMap { [Float](repeating: $0, count: G * hidden) }
            let zeros = [Float](repeating: 0, count: G * hidden * hidden),
                state = [Float](repeating: 0, count: rows * hidden)
            let expected = reference(
                cell, rows: rows, continuing: 0, hidden: hidden, input: input, previous: state, previousCell: state,
                whh: zeros, bhh: [Float](repeating: 0, count: G * hidden))
            for kernels in KernelSet.available {
                let packed = PackedRecurrentWeights(
                    whh: zeros, bhh: [Float](repeating: 0, count: G * hidden), hidden: hidden, gates: G,
                    lanes: kernels.lanes)
                var h = [Float](repeating: 7, count: rows * hidden), c = h,
                    cache = [Float](repeating: 7, count: rows * 4 * hidden)
                h.withUnsafeMutableBufferPointer { h in
                    c.withUnsafeMutableBufferPointer { c in
                        cache.withUnsafeMutableBufferPointer { cache in
                            let arguments = StepArguments(
                                rows: rows, continuing: 0, hidden: hidden, input: input, ldInput: G * hidden,
                                previous: state,
                                ldPrevious: hidden,
                                output: h.baseAddress!, ldOutput: hidden, previousCell: state, cell: c.baseAddress!,
                                ldCell: hidden, gateCache: cache.baseAddress!)
                            kernels.kernels(for: cell).step(arguments, packed)
                        }
                    }
                }
                for (r, x) in extremes.enumerated() {
                    let got = Array(h[r * hidden..<(r + 1) * hidden]),
                        wanted = Array(expected.h[r * hidden..<(r + 1) * hidden])
                    if x.isNaN {
                        check.that(
                            got.allSatisfy(\.isNaN), "\(kernels.instructionSet) \(cell): NaN input gave \(got[0])")
                    } else {
                        let worst = zip(got, wanted).map { abs($0 - $1) }.max()!
                        check.that(
                            worst <= 1e-6,
                            "\(kernels.instructionSet) \(cell): pre-activation \(x) gave \(got[0]), not \(wanted[0])")
                    }
                }
            }
        }
    }

    /// The per-step products of backpropagation: C (+)= A·B with A read row-major or
    /// transposed, sizes with full row tiles, leftovers of four and of one, and a partial last vector.
    public func everyAvailableMatrixProductMatchesDoubleArithmetic() {
        var rng = SplitMix64(seed: 5)
        for (m, n, k) in [(32, 128, 384), (29, 40, 64), (19, 20, 7), (3, 37, 50), (1, 16, 1), (40, 33, 0)] {
            for transposedA in [false, true] {
                let a = (0..<m * k).map { _ in Float(rng.nextUnit()) * 2 - 1 }
                let b = (0..<k * (n + 3)).map { _ in Float(rng.nextUnit()) * 2 - 1 }  // ldb = n + 3
                let start = (0..<m * n).map { _ in Float(rng.nextUnit()) }
                // Stored k × m when transposed: A[i][p] = a[p·m + i].
                let (rowStride, columnStride) = transposedA ? (1, m) : (k, 1)
                for accumulate in [false, true] {
                    var expected = [Float](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = accumulate ? Double(start[i * n + j]) : 0
                            for p in 0..<k {
                                sum += Double(a[i * rowStride + p * columnStride]) * Double(b[p * (n + 3) + j])
                            }
                            expected[i * n + j] = Float(sum)
                        }
                    }
                    for kernels in KernelSet.available {
                        var c = start
                        a.withUnsafeBufferPointer { a in
                            b.withUnsafeBufferPointer { b in
                                c.withUnsafeMutableBufferPointer { c in
                                    kernels.product(
                                        MatrixArguments(
                                            m: m, n: n, k: k, a: a.baseAddress!, aRowStride: rowStride,
                                            aColumnStride: columnStride, b: b.baseAddress!, ldb: n + 3,
                                            c: c.baseAddress!, ldc: n, accumulate: accumulate))
                                }
                            }
                        }
                        let worst = zip(c, expected).map { abs($0 - $1) }.max() ?? 0
                        check.that(
                            worst <= 1e-4,
                            "\(kernels.instructionSet) \(m)×\(k)·\(k)×\(n) transposed \(transposedA) accumulate \(accumulate): off by \(worst)"
                        )
                    }
                }
            }
        }
    }
}
