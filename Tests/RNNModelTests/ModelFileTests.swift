import RNNBinary
import RNNText
import XCTest

@testable import RNNModel

/// The model file as the trainer writes it and the runtime reads it: each part
/// (architecture, tokenizer, sequence policy, labels) through its own keys.
final class ModelFileTests: XCTestCase {
    func classifier() throws -> Classifier {
        let architecture = Architecture(
            cell: .gru, vocabularySize: 6, embedding: 3, hidden: 4, layers: 2, bidirectional: true, classes: 2)
        let vocabulary = try Vocabulary(tokens: ["<pad>", "<start>", "<unk>", "good", "bad", "film"])
        return try Classifier(
            architecture: architecture, tokenizerSpec: TokenizerSpec(kind: .word, vocabularySize: 3),
            vocabulary: vocabulary,
            policy: SequencePolicy(maxLength: 10, padding: .pre, truncation: .head, markers: true),
            labels: ["neg", "pos"],
            parameters: ParameterLayout(architecture).initialValues(seed: 1),
            provenance: [("training.note", .string("test"))])
    }

    func testRoundTripKeepsEverything() throws {
        let original = try classifier()
        let bytes = original.file.encoded()
        let decoded = try bytes.withUnsafeBytes { try ModelFile(bytes: $0) }
        XCTAssertEqual(decoded, original.file)
        let reloaded = try Classifier(file: decoded)
        XCTAssertEqual(reloaded.parameters, original.parameters)
        XCTAssertEqual(reloaded.policy, original.policy)
        XCTAssertEqual(reloaded.labels, ["neg", "pos"])
        XCTAssertEqual(reloaded.tokenizer.encode("Good film, bad!"), [3, 5, 2, 4, 2])
        XCTAssertEqual(bytes.count % 4, 0)
    }

    func testEveryTruncationAndCorruptionFailsAtLoad() throws {
        let bytes = try classifier().file.encoded()
        for length in stride(from: 0, to: bytes.count, by: 7) {
            XCTAssertThrowsError(
                try Array(bytes[0..<length]).withUnsafeBytes { try ModelFile(bytes: $0) }, "length \(length)")
        }
        for offset in stride(from: 0, to: bytes.count, by: 13) {
            var corrupt = bytes
            corrupt[offset] ^= 0x40
            XCTAssertThrowsError(
                try corrupt.withUnsafeBytes { try Classifier(file: ModelFile(bytes: $0)) }, "offset \(offset)")
        }
        var newer = bytes
        newer[8] = 2
        XCTAssertThrowsError(try newer.withUnsafeBytes { try ModelFile(bytes: $0) }) { error in
            XCTAssertTrue("\(error)".contains("model format 2.0 is not supported"), "\(error)")
        }
    }
}
