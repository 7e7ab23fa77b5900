import RNNBinary
import RNNText
import XCTest

@testable import RNNModel

/// The model file as the trainer writes it and the runtime reads it: each part
/// (architecture, tokenizer, sequence policy, labels) through its own keys.
final class ModelFileTests: XCTestCase {
    func classifier(pooling: Pooling = .last) throws -> Classifier {
        let architecture = Architecture(
            cell: .gru, vocabularySize: 6, embedding: 3, hidden: 4, layers: 2, bidirectional: true, classes: 2,
            pooling: pooling)
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
        newer[8] = 3
        XCTAssertThrowsError(try newer.withUnsafeBytes { try ModelFile(bytes: $0) }) { error in
            XCTAssertTrue("\(error)".contains("model format 3.0 is not supported"), "\(error)")
        }
    }

    /// A pooled model is a 2.0 file that requires "pooling" (a 1.x reader refuses its major version
    /// rather than read it as last-state); a last-state model stays 1.0, readable by every 1.x reader.
    func testAPooledModelRequiresPoolingAndOnlyThat() throws {
        XCTAssertEqual(Array(try classifier().file.encoded()[8..<12]), [1, 0, 0, 0])
        for pooling in [Pooling.max, .mean, .attention] {
            let original = try classifier(pooling: pooling)
            let bytes = original.file.encoded()
            XCTAssertEqual(Array(bytes[8..<12]), [2, 0, 0, 0], "\(pooling)")
            let decoded = try bytes.withUnsafeBytes { try ModelFile(bytes: $0) }
            XCTAssertEqual(decoded.requiredFeatures, ["pooling"])
            let reloaded = try Classifier(file: decoded)
            XCTAssertEqual(reloaded.architecture.pooling, pooling)
            XCTAssertEqual(reloaded.parameters, original.parameters)
            // int8 weights in a 2.0 file need no minor version of their own.
            let quantized = original.quantizedFile().encoded()
            XCTAssertEqual(Array(quantized[8..<12]), [2, 0, 0, 0])
            XCTAssertEqual(
                try quantized.withUnsafeBytes { try Classifier(file: ModelFile(bytes: $0)) }.architecture.pooling,
                pooling)
        }
        var unknown = try classifier(pooling: .max).file
        unknown.set("format.requires", .strings(["pooling", "telepathy"]))
        assertRefused(unknown.encoded(), "the model requires \"telepathy\", which this build does not read")
        var empty = try classifier(pooling: .max).file
        empty.set("format.requires", .strings([]))
        assertRefused(resealed(majorVersion(2, of: empty.encoded())), "must list the features it requires")
        var unmarked = try classifier().file
        unmarked.set("architecture.pooling", .string("max"))
        assertRefused(unmarked.encoded(), "architecture.pooling is set, but format.requires does not list")
        var misspelled = try classifier(pooling: .max).file
        misspelled.set("architecture.pooling", .string("maximum"))
        assertRefused(
            misspelled.encoded(), "unknown architecture.pooling \"maximum\" (expected last, max, mean, attention)")
        var old = try classifier(pooling: .mean).file.encoded()
        old[8] = 1
        assertRefused(resealed(old), "format.requires is set in a format 1 file")
    }

    func majorVersion(_ major: UInt8, of bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        out[8] = major
        return out
    }

    /// `bytes` with the CRC recomputed, as a buggy writer or another exporter would produce them.
    func resealed(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        let crc = CRC32.checksum(Array(out[0..<out.count - 4]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { out[out.count - 4 + i] = $0[i] } }
        return out
    }

    func assertRefused(
        _ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(
            try bytes.withUnsafeBytes { try Classifier(file: ModelFile(bytes: $0)) }, file: file, line: line
        ) {
            XCTAssertTrue("\($0)".contains(fragment), "\($0)", file: file, line: line)
        }
    }

    /// The byte offset just past the first occurrence of `text` in `bytes`.
    func offset(after text: String, in bytes: [UInt8]) -> Int {
        let needle = Array(text.utf8)
        let start = (0...bytes.count - needle.count).first { Array(bytes[$0..<$0 + needle.count]) == needle }!
        return start + needle.count
    }

    func testAnotherGateOrderOrFormulationIsRefusedByName() throws {
        var file = try classifier().file
        file.set("architecture.gate_order", .string("z,r,n"))
        assertRefused(file.encoded(), "architecture.gate_order is \"z,r,n\"")
        file = try classifier().file
        file.set("architecture.gru_variant", .string("reset_before_linear"))
        assertRefused(file.encoded(), "architecture.gru_variant is \"reset_before_linear\"")
        file = try classifier().file
        file.metadata.removeAll { $0.key == "architecture.gru_variant" }
        assertRefused(file.encoded(), "missing \"architecture.gru_variant\"")
    }

    func testDuplicateLabelsAreRefused() throws {
        var file = try classifier().file
        file.set("labels", .strings(["pos", "pos"]))
        assertRefused(file.encoded(), "label \"pos\" appears twice")
    }

    func testEveryByteMustMeanWhatTheFormatSays() throws {
        let bytes = try classifier().file.encoded()
        // A bool other than 0 or 1.
        var bool = bytes
        bool[offset(after: "architecture.bidirectional", in: bytes) + 1] = 2
        assertRefused(resealed(bool), "metadata architecture.bidirectional: bool 2 (expected 0 or 1)")
        // A non-zero reserved field in the tensor table (after name, dtype and rank).
        var reserved = bytes
        reserved[offset(after: "l0.w_ih", in: bytes) + 2] = 1
        assertRefused(resealed(reserved), "tensor l0.w_ih: reserved field 1 (expected 0)")
        // A tensor whose data starts where the embedding's does.
        var overlap = bytes
        let rank = Int(bytes[offset(after: "l0.w_hh", in: bytes) + 1])
        let dataOffset = offset(after: "l0.w_hh", in: bytes) + 4 + 8 * rank
        for i in 0..<8 { overlap[dataOffset + i] = 0 }
        assertRefused(resealed(overlap), "share data bytes")
        // A metadata count lower than the entries present leaves bytes unread.
        var count = bytes
        count[52] -= 1
        assertRefused(resealed(count), "bytes left after the")
        // A metadata key written twice.
        var file = try classifier().file
        file.metadata.append(("labels", .strings(["neg", "pos"])))
        assertRefused(file.encoded(), "metadata key labels appears twice")
    }
}
