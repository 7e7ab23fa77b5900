import RNNText
import XCTest

@testable import RNNModel

/// A text's probabilities are the same bits alone or in any batch: the runtime
/// promises it (rnn_classify_batch against rnn_classify), and the reverse
/// direction once broke it, summing W_hh·h in an order that depended on the
/// batch's longest text.
final class BatchInvarianceTests: XCTestCase {
    func testEveryRowOfABatchEqualsItsTextAlone() throws {
        var rng = SplitMix64(seed: 4)
        let sequences: [[Int32]] = (0..<40).map { _ in
            (0..<(1 + Int(rng.next() % 37))).map { _ in Int32(rng.next() % 50) }
        }
        for cell in CellKind.allCases {
            for (layers, bidirectional) in [(1, true), (2, true), (1, false), (2, false)] {
                let architecture = Architecture(
                    cell: cell, vocabularySize: 50, embedding: 12, hidden: 40, layers: layers,
                    bidirectional: bidirectional, classes: 3)
                let vocabulary = try Vocabulary(tokens: ["<pad>", "<start>", "<unk>"] + (3..<50).map { "w\($0)" })
                let classifier = try Classifier(
                    architecture: architecture, tokenizerSpec: TokenizerSpec(kind: .word, vocabularySize: 47),
                    vocabulary: vocabulary, policy: SequencePolicy(), labels: ["a", "b", "c"],
                    parameters: ParameterLayout(architecture).initialValues(seed: 2))
                let workspace = Network.Workspace()
                let batch = classifier.probabilities(sequences.map { $0[...] }, workspace: workspace)
                for (i, sequence) in sequences.enumerated() {
                    let alone = classifier.probabilities([sequence[...]], workspace: workspace)
                    XCTAssertEqual(
                        Array(batch[3 * i..<3 * i + 3]), alone,
                        "\(cell), \(layers) layer(s), bidirectional \(bidirectional): text \(i) of length \(sequence.count)"
                    )
                }
            }
        }
    }
}
