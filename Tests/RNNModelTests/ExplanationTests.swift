import RNNKernels
import RNNText
import TestSupport
import XCTest

@testable import RNNModel

/// Explanations: the scores are gradient × input, checked against finite
/// differences of the Double reference network; the spans are the text's.
final class ExplanationTests: XCTestCase {
    let words = ["good", "bad", "film", "the", "don't", "é"]

    func classifier(
        cell: CellKind, layers: Int, bidirectional: Bool, policy: SequencePolicy, pooling: Pooling = .last
    ) throws -> Classifier {
        let vocabulary = try Vocabulary(tokens: WordLevelTokenizer.specialTokens + words)
        let architecture = Architecture(
            cell: cell, vocabularySize: vocabulary.count, embedding: 4, hidden: 6, layers: layers,
            bidirectional: bidirectional, classes: 3, pooling: pooling)
        return try Classifier(
            architecture: architecture, tokenizerSpec: TokenizerSpec(kind: .word), vocabulary: vocabulary,
            policy: policy, labels: ["a", "b", "c"],
            parameters: ParameterLayout(architecture).testValues(seed: 9, scale: 2))
    }

    func explain(_ classifier: Classifier, _ text: String, label: Int) -> [TokenScore] {
        Array(text.utf8).withUnsafeBufferPointer {
            classifier.explain($0, label: label, workspace: Classifier.ExplanationWorkspace())
        }
    }

    /// Scaling token v's embedding row by (1 + ε) changes log p(label) by ε × the
    /// sum of v's scores: the scores' definition, on every cell, shape and pooling.
    func testScoresAreGradientTimesInputByFiniteDifferences() throws {
        let text = "the good film, bad film! the good é don't good"
        let shapes = [
            (1, false, Pooling.last), (2, true, .last), (1, true, .max), (2, false, .mean), (1, true, .attention),
        ]
        for cell in CellKind.allCases {
            for (layers, bidirectional, pooling) in shapes {
                for policy in [SequencePolicy(), SequencePolicy(maxLength: 12, padding: .pre, truncation: .head)] {
                    let classifier = try classifier(
                        cell: cell, layers: layers, bidirectional: bidirectional, policy: policy, pooling: pooling)
                    var workspace = TokenizerWorkspace()
                    let sequence = Array(text.utf8).withUnsafeBufferPointer {
                        classifier.sequence($0, workspace: &workspace)
                    }
                    for label in 0..<3 {
                        let scores = explain(classifier, text, label: label)
                        for token in Set(scores.map(\.id)) {
                            var reference = ReferenceNetwork(classifier.architecture, parameters: classifier.parameters)
                            let row = classifier.network.layout.offset("embedding") + Int(token) * 4
                            let original = Array(reference.parameters[row..<row + 4])
                            func logProbability(_ scale: Double) -> Double {
                                for e in 0..<4 { reference.parameters[row + e] = original[e] * scale }
                                return log(reference.probabilities(sequence)[label])
                            }
                            let epsilon = 1e-4
                            let expected = (logProbability(1 + epsilon) - logProbability(1 - epsilon)) / (2 * epsilon)
                            let actual = scores.filter { $0.id == token }.map { Double($0.score) }.reduce(0, +)
                            XCTAssertEqual(
                                actual, expected, accuracy: 1e-4 + 1e-3 * abs(expected),
                                "\(cell) layers \(layers) \(pooling) \(policy) label \(label) token \(token)")
                        }
                    }
                }
            }
        }
    }

    func testTokensAreTheTextsInOrderAndOnlyThoseTheModelReads() throws {
        let text = "The GOOD film<br />don't, bad é"
        let bytes = Array(text.utf8)
        let all = explain(
            try classifier(cell: .gru, layers: 1, bidirectional: false, policy: SequencePolicy()), text, label: 0)
        XCTAssertEqual(
            all.map { String(decoding: bytes[$0.span], as: UTF8.self) },
            ["The", "GOOD", "film", "don't", ",", "bad", "é"])
        // <start> and the pads are left out; truncation from the head keeps the last tokens.
        let policy = SequencePolicy(maxLength: 4, padding: .post, truncation: .head)
        let cut = explain(try classifier(cell: .lstm, layers: 1, bidirectional: true, policy: policy), text, label: 2)
        XCTAssertEqual(cut.map { String(decoding: bytes[$0.span], as: UTF8.self) }, [",", "bad", "é"])
        XCTAssertEqual(
            explain(try classifier(cell: .rnn, layers: 1, bidirectional: false, policy: policy), "", label: 1), [])
    }
}
