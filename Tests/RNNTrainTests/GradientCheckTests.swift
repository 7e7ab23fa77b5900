import XCTest

@testable import RNNModel
@testable import RNNTrain

/// Analytic gradients against central finite differences, for every cell,
/// stacked and bidirectional, on packed and padded batches.
final class GradientCheckTests: XCTestCase {
    /// Packed: ragged lengths, one empty sequence. Padded: equal lengths with pad (id 0) tokens.
    let packed: [[Int32]] = [[3, 1, 4, 1, 5], [2, 6], [], [5, 3, 5], [6]]
    let padded: [[Int32]] = [[0, 0, 3, 1, 4], [0, 0, 0, 2, 6], [5, 3, 5, 6, 1]]

    func check(
        _ cell: CellKind, layers: Int = 1, bidirectional: Bool = false, hidden: Int = 5,
        sequences: [[Int32]], dropout: Float = 0, window: Int? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let architecture = Architecture(
            cell: cell, vocabularySize: 7, embedding: 3, hidden: hidden, layers: layers,
            bidirectional: bidirectional, classes: 3)
        let network = Network(architecture)
        let objective = Objective(network: network)
        var parameters = network.layout.initialValues(seed: 11)
        for i in parameters.indices { parameters[i] *= 1.5 }  // larger weights reach the nonlinear range
        let labels: [Int32] = sequences.indices.map { Int32($0 % 3) }
        let slices = sequences.map { $0[...] }
        let workspace = Objective.Workspace()
        if let window { workspace.backward.window = window }
        func loss(_ p: [Float]) -> Double {
            let dropoutState = dropout > 0 ? Network.Dropout(rate: dropout, rng: SplitMix64(seed: 5)) : nil
            return p.withUnsafeBufferPointer {
                objective.evaluate(
                    $0.baseAddress!, sequences: slices, labels: labels, gradient: nil, dropout: dropoutState,
                    workspace: workspace
                ).loss
            }
        }
        var gradient = [Float](repeating: 0, count: parameters.count)
        let dropoutState = dropout > 0 ? Network.Dropout(rate: dropout, rng: SplitMix64(seed: 5)) : nil
        parameters.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                _ = objective.evaluate(
                    p.baseAddress!, sequences: slices, labels: labels, gradient: g.baseAddress!,
                    dropout: dropoutState, workspace: workspace)
            }
        }
        let paddingRow =
            network.layout.offset("embedding")..<network.layout.offset("embedding") + architecture.embedding
        var worst = 0.0
        for i in parameters.indices {
            if paddingRow.contains(i) {
                XCTAssertEqual(gradient[i], 0, "padding embedding row must get no gradient", file: file, line: line)
                continue
            }
            let epsilon: Float = 3e-3
            var plus = parameters, minus = parameters
            plus[i] += epsilon
            minus[i] -= epsilon
            let numeric = (loss(plus) - loss(minus)) / Double(2 * epsilon)
            let error = abs(numeric - Double(gradient[i])) / max(1, abs(numeric))
            worst = max(worst, error)
            if error > 5e-3 {
                let name = network.layout.tensors.last { $0.offset <= i }!.name
                XCTFail(
                    "\(cell) \(name)[\(i - network.layout.offset(name))]: analytic \(gradient[i]) vs numeric \(numeric)",
                    file: file, line: line)
                return
            }
        }
        XCTAssertLessThan(worst, 5e-3, file: file, line: line)
        XCTAssertGreaterThan(
            gradient.map { abs($0) }.max()!, 1e-3, "gradient should not vanish", file: file, line: line)
    }

    func testRNN() {
        check(.rnn, sequences: packed)
        check(.rnn, sequences: padded)
        check(.rnn, layers: 2, bidirectional: true, hidden: 9, sequences: packed)
    }

    func testGRU() {
        check(.gru, sequences: packed)
        check(.gru, sequences: padded)
        check(.gru, layers: 2, sequences: packed)
        check(.gru, bidirectional: true, sequences: packed)
        check(.gru, layers: 2, bidirectional: true, hidden: 9, sequences: padded)
    }

    func testLSTM() {
        check(.lstm, sequences: packed)
        check(.lstm, sequences: padded)
        check(.lstm, layers: 2, sequences: packed)
        check(.lstm, bidirectional: true, hidden: 9, sequences: packed)
        check(.lstm, layers: 2, bidirectional: true, sequences: padded)
    }

    /// dW_hh gathers rows over steps; a window of one row per step flushes on every step.
    func testRecurrentWeightGradientsGatheredInSmallWindows() {
        for cell in CellKind.allCases {
            check(cell, sequences: packed, window: 1)
            check(cell, bidirectional: true, sequences: padded, window: 4)
        }
    }

    func testWithDropoutMasksHeldFixed() {
        check(.gru, layers: 2, bidirectional: true, sequences: packed, dropout: 0.3)
        check(.lstm, layers: 2, sequences: packed, dropout: 0.3)
    }

    /// Packing must not change results: a sequence's logits are the same alone
    /// or batched with others of any length.
    func testPackedBatchGivesTheSameOutputsAsOneByOne() {
        for cell in CellKind.allCases {
            let network = Network(
                Architecture(
                    cell: cell, vocabularySize: 7, embedding: 3, hidden: 6, layers: 2, bidirectional: true, classes: 3))
            let parameters = network.layout.initialValues(seed: 3)
            let objective = Objective(network: network)
            let workspace = Objective.Workspace()
            let slices = packed.map { $0[...] }
            let together = parameters.withUnsafeBufferPointer {
                objective.evaluate(
                    $0.baseAddress!, sequences: slices, labels: slices.map { _ in 0 }, gradient: nil,
                    keepProbabilities: true, workspace: workspace)
            }
            for (i, sequence) in slices.enumerated() {
                let alone = parameters.withUnsafeBufferPointer {
                    objective.evaluate(
                        $0.baseAddress!, sequences: [sequence], labels: [0], gradient: nil, keepProbabilities: true,
                        workspace: workspace)
                }
                for c in 0..<3 {
                    XCTAssertEqual(
                        alone.probabilities[c], together.probabilities[i * 3 + c], accuracy: 1e-6,
                        "\(cell) sequence \(i)")
                }
            }
        }
    }
}
