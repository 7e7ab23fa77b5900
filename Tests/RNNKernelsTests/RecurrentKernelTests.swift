import RNNKernels
import RNNModel
import XCTest

/// Every step kernel this CPU can run (AVX-512, AVX2, baseline) against the
/// cells' reference equations in Double, from the unpacked weights. Sizes cover
/// full row tiles, leftover single rows, rows starting from a zero state and
/// a last chunk narrower than a vector; k summed in both directions; inputs
/// given per row or read from a per-token table.
final class RecurrentKernelTests: XCTestCase {
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

    func testEveryAvailableKernelMatchesTheCellEquations() {
        XCTAssertEqual(KernelSet.available.last?.instructionSet, "baseline")
        var rng = SplitMix64(seed: 3)
        func values(_ count: Int, scale: Float) -> [Float] {
            (0..<count).map { _ in (Float(rng.nextUnit()) * 2 - 1) * scale }
        }
        for cell in [CellKind.rnn, .gru, .lstm] {
            for (hidden, rows, continuing) in [(20, 19, 13), (128, 9, 9), (16, 3, 0), (37, 1, 1)] {
                let G = cell.gateCount
                let whh = values(G * hidden * hidden, scale: 0.3), bhh = values(G * hidden, scale: 0.5)
                let input = values(rows * G * hidden, scale: 2), previous = values(rows * hidden, scale: 1)
                let previousCell = values(rows * hidden, scale: 1.5)
                let expected = reference(
                    cell, rows: rows, continuing: continuing, hidden: hidden, input: input, previous: previous,
                    previousCell: previousCell, whh: whh, bhh: bhh)
                let packed = PackedRecurrentWeights(whh: whh, bhh: bhh, hidden: hidden, gates: G)
                // The table holds the rows' inputs in reverse order; row r reads token rows - 1 - r.
                let table = (0..<rows).reversed().flatMap { input[$0 * G * hidden..<($0 + 1) * G * hidden] }
                let tokens = (0..<rows).map { Int32(rows - 1 - $0) }
                for kernels in KernelSet.available {
                    for descending in [false, true] {
                        for fromTable in [false, true] {
                            var h = [Float](repeating: .nan, count: rows * hidden), c = h
                            var cache = [Float](repeating: .nan, count: rows * 4 * hidden)
                            (fromTable ? table : input).withUnsafeBufferPointer { input in
                                tokens.withUnsafeBufferPointer { tokens in
                                    previous.withUnsafeBufferPointer { previous in
                                        previousCell.withUnsafeBufferPointer { previousCell in
                                            h.withUnsafeMutableBufferPointer { h in
                                                c.withUnsafeMutableBufferPointer { c in
                                                    cache.withUnsafeMutableBufferPointer { cache in
                                                        let arguments = StepArguments(
                                                            rows: rows, continuing: continuing, hidden: hidden,
                                                            input: input.baseAddress!,
                                                            inputTokens: fromTable ? tokens.baseAddress! : nil,
                                                            previous: previous.baseAddress!, ldPrevious: hidden,
                                                            output: h.baseAddress!, ldOutput: hidden,
                                                            previousCell: previousCell.baseAddress!,
                                                            cell: c.baseAddress!, ldCell: hidden,
                                                            gateCache: cache.baseAddress!, descending: descending)
                                                        kernels.step(for: cell)(arguments, packed)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            let what =
                                "\(kernels.instructionSet) \(cell) hidden \(hidden) rows \(rows) continuing \(continuing)"
                                + (descending ? " descending" : "") + (fromTable ? " from a token table" : "")
                            func compare(_ actual: [Float], _ wanted: [Float], _ name: String) {
                                let worst = zip(actual, wanted).map { abs($0 - $1) }.max() ?? 0
                                XCTAssert(worst <= 2e-5, "\(what): \(name) differs by \(worst)")
                            }
                            compare(h, expected.h, "h")
                            if cell == .lstm { compare(c, expected.c, "c") }
                            if cell != .rnn { compare(cache, expected.gates, "gate cache") }
                        }
                    }
                }
            }
        }
    }

    /// Pre-activations far outside the activations' working range, infinite or
    /// NaN: every kernel's gates saturate to what the equations give (0, ±1;
    /// never NaN from inf − inf), and NaN stays NaN rather than passing for a number.
    func testEveryAvailableKernelSaturatesAtExtremes() {
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
            let packed = PackedRecurrentWeights(
                whh: zeros, bhh: [Float](repeating: 0, count: G * hidden), hidden: hidden, gates: G)
            for kernels in KernelSet.available {
                var h = [Float](repeating: 7, count: rows * hidden), c = h,
                    cache = [Float](repeating: 7, count: rows * 4 * hidden)
                h.withUnsafeMutableBufferPointer { h in
                    c.withUnsafeMutableBufferPointer { c in
                        cache.withUnsafeMutableBufferPointer { cache in
                            let arguments = StepArguments(
                                rows: rows, continuing: 0, hidden: hidden, input: input, previous: state,
                                ldPrevious: hidden,
                                output: h.baseAddress!, ldOutput: hidden, previousCell: state, cell: c.baseAddress!,
                                ldCell: hidden, gateCache: cache.baseAddress!)
                            kernels.step(for: cell)(arguments, packed)
                        }
                    }
                }
                for (r, x) in extremes.enumerated() {
                    let got = Array(h[r * hidden..<(r + 1) * hidden]),
                        wanted = Array(expected.h[r * hidden..<(r + 1) * hidden])
                    if x.isNaN {
                        XCTAssertTrue(
                            got.allSatisfy(\.isNaN), "\(kernels.instructionSet) \(cell): NaN input gave \(got[0])")
                    } else {
                        let worst = zip(got, wanted).map { abs($0 - $1) }.max()!
                        XCTAssert(
                            worst <= 1e-6,
                            "\(kernels.instructionSet) \(cell): pre-activation \(x) gave \(got[0]), not \(wanted[0])")
                    }
                }
            }
        }
    }

    /// The per-step products of backpropagation: C (+)= A·B with A read row-major or
    /// transposed, sizes with full row tiles, leftovers of four and of one, and a partial last vector.
    func testEveryAvailableMatrixProductMatchesDoubleArithmetic() {
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
                        XCTAssert(
                            worst <= 1e-4,
                            "\(kernels.instructionSet) \(m)×\(k)·\(k)×\(n) transposed \(transposedA) accumulate \(accumulate): off by \(worst)"
                        )
                    }
                }
            }
        }
    }
}
