import RNNKernels
import RNNText
import TestSupport
import XCTest

@testable import RNNModel

/// A stream fed a text in random pieces gives exactly the probabilities of the
/// whole text, for every cell, one and two layers, every pooling, with and without layer 0's
/// token tables, f32 and int8, word-level and WordPiece, with markers and length limits.
final class ClassifierStreamTests: XCTestCase {
    let wordVocabulary =
        WordLevelTokenizer.specialTokens + ["the", "movie", "was", "good", "don't", "!", "é", "日", "br"]
    let wordPieceVocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "movie", "good", "go", "##od", "##s", "##ing", "!", "'", ",", "e",
        "日", "本", "<", ">", "/", "br",
    ]
    /// Pieces texts are made of: words, the line-break tag and its spaces, apostrophes,
    /// multi-byte and CJK characters, control and invalid bytes.
    let fragments: [[UInt8]] =
        [
            "the", "movie", "was", "good", "goods", "going", " ", "  ", "\n", "\t", "\r\n", "!", ",", "don't", "'",
            "<br />", "<br/>", "<BR  >", "<br", " />", "é", "e\u{301}", "日本", "😀", "THE", "\u{0B}",
        ].map { Array($0.utf8) } + [[0xFF], [0xE6, 0x97], [0xC3]]

    func randomText(_ rng: inout SplitMix64) -> [UInt8] {
        let count = Int(rng.next() % 40)
        return (0..<count).flatMap { _ in fragments[Int(rng.next() % UInt64(fragments.count))] }
    }

    func classifiers(tokenizer: TokenizerSpec.Kind) throws -> [(String, Classifier)] {
        let vocabulary = try Vocabulary(tokens: tokenizer == .word ? wordVocabulary : wordPieceVocabulary)
        var result: [(String, Classifier)] = []
        for cell in CellKind.allCases {
            for (layers, pooling) in [1, 2].flatMap({ layers in Pooling.allCases.map { (layers, $0) } }) {
                let architecture = Architecture(
                    cell: cell, vocabularySize: vocabulary.count, embedding: 3, hidden: 21, layers: layers,
                    bidirectional: false, classes: 3, pooling: pooling)
                let parameters = ParameterLayout(architecture).testValues(seed: 5, scale: 2)
                let policies = [
                    SequencePolicy(), SequencePolicy(markers: false), SequencePolicy(maxLength: 7),
                    SequencePolicy(maxLength: 1), SequencePolicy(maxLength: 2, markers: false),
                ]
                for (p, policy) in policies.enumerated() {
                    let built = try Classifier(
                        architecture: architecture,
                        tokenizerSpec: TokenizerSpec(
                            kind: tokenizer, wordPiece: tokenizer == .wordpiece ? .init() : nil),
                        vocabulary: vocabulary, policy: policy, labels: ["a", "b", "c"], parameters: parameters)
                    for tables in [true, false] {
                        let classifier = try Classifier(file: built.file, tokenTableLimit: tables ? 1 << 26 : 0)
                        XCTAssertEqual(classifier.weights.tokenProjections != nil, tables)
                        result.append(
                            ("\(cell) layers \(layers) \(pooling) policy \(p) tables \(tables)", classifier))
                    }
                    result.append(
                        (
                            "\(cell) layers \(layers) \(pooling) policy \(p) int8",
                            try Classifier(file: built.quantizedFile())
                        ))
                }
            }
        }
        return result
    }

    func wholeText(_ classifier: Classifier, _ text: [UInt8]) -> [Float] {
        var workspace = TokenizerWorkspace()
        let sequence = text.withUnsafeBufferPointer { classifier.sequence($0, workspace: &workspace) }
        return classifier.probabilities([sequence[...]], workspace: Network.Workspace())
    }

    func testAnyChunkingGivesTheWholeTextsBits() throws {
        var rng = SplitMix64(seed: 3)
        for kind in TokenizerSpec.Kind.allCases {
            for (name, classifier) in try classifiers(tokenizer: kind) {
                var stream = try ClassifierStream(classifier)
                for _ in 0..<12 {
                    stream.reset()
                    let text = randomText(&rng)
                    var fed = 0
                    while fed < text.count {
                        let piece = min(text.count - fed, Int(rng.next() % 9))
                        text[fed..<fed + piece].withUnsafeBufferPointer { stream.feed($0) }
                        fed += piece
                        // Queries in between must not disturb the stream.
                        if rng.next() % 3 == 0 {
                            XCTAssertEqual(
                                stream.probabilities(), wholeText(classifier, Array(text[..<fed])),
                                "\(kind) \(name): after \(fed) of \(text.count) bytes")
                        }
                    }
                    XCTAssertEqual(
                        stream.probabilities(), wholeText(classifier, text),
                        "\(kind) \(name): \(String(decoding: text, as: UTF8.self))")
                }
            }
        }
    }

    func testOneTextAloneAndInABatchGiveTheSameBits() throws {
        var rng = SplitMix64(seed: 8)
        for (name, classifier) in try classifiers(tokenizer: .word) {
            let texts = (0..<9).map { _ in randomText(&rng) }
            var workspace = TokenizerWorkspace()
            let sequences = texts.map { text in
                text.withUnsafeBufferPointer { classifier.sequence($0, workspace: &workspace)[...] }
            }
            let batch = classifier.probabilities(sequences, workspace: Network.Workspace())
            for (i, sequence) in sequences.enumerated() {
                XCTAssertEqual(
                    Array(batch[i * 3..<(i + 1) * 3]),
                    classifier.probabilities([sequence], workspace: Network.Workspace()),
                    "\(name): text \(i)")
            }
        }
    }

    func testModelsWhoseInputDependsOnTheWholeTextAreRefused() throws {
        let vocabulary = try Vocabulary(tokens: wordVocabulary)
        let policies: [(SequencePolicy, Bool)] = [
            (SequencePolicy(maxLength: 8, padding: .post), false), (SequencePolicy(maxLength: 8, padding: .pre), false),
            (SequencePolicy(truncation: .head), false), (SequencePolicy(), true),
        ]
        for (policy, bidirectional) in policies {
            let architecture = Architecture(
                cell: .gru, vocabularySize: vocabulary.count, embedding: 2, hidden: 3, layers: 1,
                bidirectional: bidirectional, classes: 2)
            let classifier = try Classifier(
                architecture: architecture, tokenizerSpec: TokenizerSpec(kind: .word), vocabulary: vocabulary,
                policy: policy, labels: ["a", "b"],
                parameters: ParameterLayout(architecture).initialValues(seed: 1))
            XCTAssertThrowsError(try ClassifierStream(classifier), "\(policy) bidirectional \(bidirectional)")
        }
    }
}
