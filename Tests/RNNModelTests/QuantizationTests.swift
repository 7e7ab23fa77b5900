import RNNBinary
import RNNKernels
import RNNText
import XCTest

@testable import RNNModel

/// Quantized model files: what they store, that they load and classify close
/// to the f32 model (bit for bit the same after a round trip through bytes),
/// and that a reader of format 1.0 refuses them by their dtype.
final class QuantizationTests: XCTestCase {
    func classifier(_ cell: CellKind, layers: Int, bidirectional: Bool) throws -> Classifier {
        let vocabulary = try Vocabulary(
            tokens: WordLevelTokenizer.specialTokens + ["good", "bad", "film", "the", "plot", "was", "not"])
        let architecture = Architecture(
            cell: cell, vocabularySize: vocabulary.count, embedding: 6, hidden: 20, layers: layers,
            bidirectional: bidirectional, classes: 3)
        return try Classifier(
            architecture: architecture, tokenizerSpec: TokenizerSpec(kind: .word), vocabulary: vocabulary,
            policy: SequencePolicy(), labels: ["a", "b", "c"],
            parameters: ParameterLayout(architecture).initialValues(seed: 4).map { $0 * 2 })
    }

    func probabilities(_ classifier: Classifier, _ texts: [String]) -> [Float] {
        var workspace = TokenizerWorkspace()
        let sequences = texts.map { text in
            Array(text.utf8).withUnsafeBufferPointer { classifier.sequence($0, workspace: &workspace)[...] }
        }
        return classifier.probabilities(sequences, workspace: Network.Workspace())
    }

    let texts = [
        "good film", "bad plot, not good", "the film was not bad at all", "", "good good good bad the plot",
        String(repeating: "the plot was good but the film was bad ", count: 12),
    ]

    func testQuantizedModelsClassifyCloseToFloatAndRoundTripThroughBytes() throws {
        for cell in CellKind.allCases {
            for (layers, bidirectional) in [(1, false), (2, true)] {
                let float = try classifier(cell, layers: layers, bidirectional: bidirectional)
                let file = float.quantizedFile()
                let what = "\(cell) layers \(layers)\(bidirectional ? " bidirectional" : "")"
                // Every matrix int8 with its scales, every bias f32.
                for tensor in float.network.layout.tensors {
                    let stored = try XCTUnwrap(file.tensor(tensor.name))
                    XCTAssertEqual(stored.int8 != nil, tensor.shape.count == 2, "\(what): \(tensor.name)")
                    if tensor.shape.count == 2 {
                        let units = tensor.name == "embedding" ? tensor.shape[1] : tensor.shape[0]
                        XCTAssertEqual(file.tensor(tensor.name + ".scale")?.shape, [units], "\(what): \(tensor.name)")
                    }
                }
                let quantized = try Classifier(file: file)
                XCTAssertTrue(quantized.isQuantized)
                XCTAssertNotNil(quantized.weights.quantizedRecurrent)
                let expected = probabilities(float, texts), actual = probabilities(quantized, texts)
                let worst = zip(expected, actual).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 0.02, "\(what): int8 moves a probability by \(worst)")
                XCTAssertGreaterThan(worst, 0, "\(what): the int8 path did not run")
                let encoded = file.encoded()
                XCTAssertEqual(Array(encoded[8..<12]), [1, 0, 1, 0], "\(what): int8 files are format 1.1")
                let reloaded = try encoded.withUnsafeBytes { try Classifier(file: ModelFile(bytes: $0)) }
                XCTAssertEqual(probabilities(reloaded, texts), actual, "\(what): after a round trip")
                XCTAssertLessThan(encoded.count, float.file.encoded().count, what)
            }
        }
    }

    func testFormat10ReadersRefuseInt8TensorsByTheirDtype() throws {
        var file = try classifier(.gru, layers: 1, bidirectional: false).quantizedFile()
        var bytes = file.encoded()
        // The same bytes under version 1.0, its checksum made right: int8 is unknown there.
        bytes[10] = 0
        let checksum = CRC32.checksum(Array(bytes[..<(bytes.count - 4)]))
        for i in 0..<4 { bytes[bytes.count - 4 + i] = UInt8(truncatingIfNeeded: checksum >> (8 * i)) }
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try ModelFile(bytes: $0) }) {
            XCTAssertEqual("\($0)", "corrupt model file: tensor embedding: unknown dtype 2 (expected 1 = f32)")
        }
        // A scale tensor missing, negative or of the wrong shape is a load error naming it.
        file.tensors.removeAll { $0.name == "l0.w_hh.scale" }
        XCTAssertThrowsError(try Classifier(file: file)) {
            XCTAssertTrue("\($0)".contains("int8 tensor l0.w_hh needs f32 scales l0.w_hh.scale [60]"), "\($0)")
        }
    }
}
