import Foundation
import RNNModel
import RNNText
import TestSupport
import XCTest

@testable import RNNInterop

/// Models made by Tools/pytorch-reference.py (committed fixtures, and fresh ones
/// when PyTorch is installed) must give PyTorch's probabilities once imported.
final class PyTorchImportTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Expected: Decodable {
        var cell: String
        var layers: Int
        var bidirectional: Bool
        var padding: String
        /// Absent in fixtures made before pooling: the last state.
        var pooling: String?
        var max_length: Int
        var vocab: Int
        var classes: Int
        var sequences: [[Int32]]
        var probabilities: [[Double]]
    }

    /// A word-level vocabulary of `size` tokens: the three specials, then w3, w4, …
    static func vocabulary(_ size: Int) throws -> Vocabulary {
        try Vocabulary(tokens: WordLevelTokenizer.specialTokens + (3..<size).map { "w\($0)" })
    }

    /// Imports `directory`'s model.safetensors and returns the largest |Δp| against its expected.json.
    static func importAndCompare(_ directory: URL) throws -> (Classifier, Expected, Double) {
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let bytes = Array(try Data(contentsOf: directory.appendingPathComponent("model.safetensors")))
        let file = try bytes.withUnsafeBytes { try Safetensors(bytes: $0) }
        let (architecture, parameters) = try PyTorchWeights.map(
            file, vocabularySize: expected.vocab, classes: expected.classes, paddingID: 0,
            pooling: Pooling(rawValue: expected.pooling ?? "last")!)
        XCTAssertEqual(architecture.cell.rawValue, expected.cell)
        XCTAssertEqual(architecture.pooling.rawValue, expected.pooling ?? "last")
        XCTAssertEqual(architecture.layers, expected.layers)
        XCTAssertEqual(architecture.bidirectional, expected.bidirectional)
        let padding = SequencePolicy.Padding(rawValue: expected.padding)!
        let policy = SequencePolicy(
            maxLength: padding == .none ? nil : expected.max_length, padding: padding, markers: false)
        let classifier = try Classifier(
            architecture: architecture, tokenizerSpec: TokenizerSpec(kind: .word),
            vocabulary: try vocabulary(expected.vocab), policy: policy,
            labels: (0..<expected.classes).map { "class \($0)" }, parameters: parameters)
        let sequences = expected.sequences.map { policy.apply($0, special: classifier.tokenizer.specialIDs)[...] }
        let ours = classifier.probabilities(sequences, workspace: Network.Workspace())
        var worst = 0.0
        for (row, theirs) in expected.probabilities.enumerated() {
            for (c, p) in theirs.enumerated() { worst = max(worst, abs(Double(ours[row * expected.classes + c]) - p)) }
        }
        return (classifier, expected, worst)
    }

    func testCommittedPyTorchModelsGivePyTorchsProbabilities() throws {
        let directories = try FileManager.default.contentsOfDirectory(
            at: Self.fixtures, includingPropertiesForKeys: nil
        )
        .filter { $0.hasDirectoryPath }.sorted { $0.path < $1.path }
        XCTAssertEqual(directories.count, 10)
        var seen = Set<String>()
        for directory in directories {
            let (_, expected, worst) = try Self.importAndCompare(directory)
            seen.insert(
                "\(expected.cell) \(expected.padding) \(expected.layers) \(expected.bidirectional) \(expected.pooling ?? "last")"
            )
            XCTAssertLessThanOrEqual(worst, 1e-5, directory.lastPathComponent)
        }
        XCTAssertEqual(seen.count, 10, "every fixture is a different configuration")
    }

    /// When PyTorch is installed the fixtures are not trusted alone: a fresh
    /// model of each cell, bidirectional and stacked, is made and imported.
    func testFreshPyTorchModelsWhenPyTorchIsInstalled() throws {
        guard Python.has("torch", "safetensors") else { return }
        let scratch = try Scratch()
        for (index, flags) in [
            ["--cell", "lstm", "--layers", "2", "--bidirectional"], ["--cell", "rnn", "--padding", "pre"],
            ["--cell", "gru", "--bidirectional", "--padding", "post"],
            ["--cell", "lstm", "--bidirectional", "--pooling", "attention", "--padding", "pre"],
            ["--cell", "gru", "--layers", "2", "--pooling", "max"], ["--cell", "rnn", "--pooling", "mean"],
        ].enumerated() {
            let out = scratch.url.appendingPathComponent("\(index)")
            let made = try Python.run(["Tools/pytorch-reference.py", "make", out.path, "--seed", "11"] + flags)
            XCTAssertEqual(made.status, 0, made.stderr)
            let (_, _, worst) = try Self.importAndCompare(out)
            XCTAssertLessThanOrEqual(worst, 1e-5, flags.joined(separator: " "))
        }
    }

    /// Export to safetensors and import again: the same weights, bit for bit;
    /// and PyTorch's load_state_dict(strict=True) takes the file when installed.
    func testSafetensorsRoundTripIsBitIdenticalAndLoadsInPyTorch() throws {
        let scratch = try Scratch()
        for name in [
            "gru-bidirectional-2-layers-packed", "lstm-bidirectional-post", "rnn-packed",
            "gru-bidirectional-attention-packed",
        ] {
            let (classifier, expected, _) = try Self.importAndCompare(Self.fixtures.appendingPathComponent(name))
            let bytes = Safetensors.encode(tensors: PyTorchWeights.stateDict(classifier), metadata: ["format": "pt"])
            XCTAssertEqual((8 + Int(bytes[0])) % 8, 0, "data starts 8-byte aligned")
            let file = try bytes.withUnsafeBytes { try Safetensors(bytes: $0) }
            XCTAssertEqual(file.metadata, ["format": "pt"])
            let (architecture, parameters) = try PyTorchWeights.map(
                file, vocabularySize: expected.vocab, classes: expected.classes, paddingID: 0,
                pooling: classifier.architecture.pooling)
            XCTAssertEqual(architecture, classifier.architecture)
            XCTAssertEqual(parameters.map(\.bitPattern), classifier.parameters.map(\.bitPattern), name)

            guard Python.has("torch", "safetensors") else { continue }
            let directory = scratch.url.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(bytes).write(to: directory.appendingPathComponent("model.safetensors"))
            let request: [String: Any] = [
                "sequences": expected.sequences, "max_length": expected.max_length, "padding": expected.padding,
                "pooling": expected.pooling ?? "last",
            ]
            try JSONSerialization.data(withJSONObject: request).write(to: directory.appendingPathComponent("ids.json"))
            let loaded = try Python.run(["Tools/pytorch-reference.py", "load", directory.path])
            XCTAssertEqual(loaded.status, 0, loaded.stderr)
            let theirs = try JSONDecoder().decode([[Double]].self, from: Data(loaded.stdout.utf8))
            for (row, probabilities) in theirs.enumerated() {
                for (c, p) in probabilities.enumerated() {
                    XCTAssertEqual(p, expected.probabilities[row][c], accuracy: 1e-6, "\(name) row \(row)")
                }
            }
        }
    }

    func testTheImportRefusesWhatItCannotRunByName() throws {
        let directory = Self.fixtures.appendingPathComponent("gru-packed")
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let original = try Array(Data(contentsOf: directory.appendingPathComponent("model.safetensors")))
            .withUnsafeBytes {
                try Safetensors(bytes: $0)
            }
        var tensors = try original.tensors.map { ($0.name, $0.shape, try original.floats($0)) }
        func refusal(_ tensors: [(String, [Int], [Float])], names: [String: String] = [:]) -> String {
            let bytes = Safetensors.encode(tensors: tensors.map { ($0.0, $0.1, $0.2) }, metadata: [:])
            do {
                let file = try bytes.withUnsafeBytes { try Safetensors(bytes: $0) }
                _ = try PyTorchWeights.map(
                    file, vocabularySize: expected.vocab, classes: expected.classes, paddingID: 0, names: names)
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(
            refusal(tensors + [("fc2.weight", [2, 2], [0, 0, 0, 0])]).contains("\"fc2.weight\" is not part"))
        // An attention query in a model classifier.json did not call an attention model.
        XCTAssertTrue(
            refusal(tensors + [("attention.query", [5], .init(repeating: 0, count: 5))]).contains(
                "say \"pooling\": \"attention\" in classifier.json"))
        XCTAssertTrue(
            refusal(tensors + [("gru.weight_hr_l0", [5, 5], .init(repeating: 0, count: 25))]).contains("projections"))
        XCTAssertTrue(
            refusal(tensors + [("gru.bias_ih_l99999999999999999999", [15], .init(repeating: 0, count: 15))])
                .contains("a layer above 63"))
        // A second embedding-shaped tensor makes the embedding ambiguous until the user names it.
        let embedding = tensors.first { $0.0 == "embedding.weight" }!
        let twice = tensors + [("other.weight", embedding.1, embedding.2)]
        XCTAssertTrue(refusal(twice).contains("--map embedding=NAME"), refusal(twice))
        XCTAssertTrue(refusal(twice, names: ["embedding": "other.weight"]).contains("\"embedding.weight\" is not part"))
        XCTAssertTrue(refusal(twice, names: ["embedding": "nope"]).contains("no tensor \"nope\""))
        // bias=False: no bias tensors, the same as zero biases.
        tensors.removeAll { $0.0.hasPrefix("gru.bias") }
        XCTAssertEqual(refusal(tensors), "accepted")
    }
}

/// The Python that tests may use for optional cross-checks.
enum Python {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func has(_ modules: String...) -> Bool {
        (try? run(["-c", "import " + modules.joined(separator: ", ")]).status) == 0
    }

    static func run(_ arguments: [String]) throws -> CommandResult {
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(repository.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        return try Command.run("/usr/bin/env", ["python3"] + arguments)
    }
}

/// A temporary directory removed when the test ends.
final class Scratch {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-interop-\(UUID().uuidString)")
    init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The ONNX export run by ONNX Runtime (when installed) gives our probabilities.
final class ONNXExportTests: XCTestCase {
    static let script = """
        import json, sys
        import numpy as np, onnx, onnxruntime as ort
        model = onnx.load(sys.argv[1])
        onnx.checker.check_model(model, full_check=True)
        request = json.loads(sys.stdin.read())
        session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        width = max(len(s) for s in request["sequences"])
        ids = np.array([s + [0] * (width - len(s)) for s in request["sequences"]], dtype=np.int64)
        feeds = {"ids": ids}
        if request["packed"]:
            feeds["lengths"] = np.array([len(s) for s in request["sequences"]], dtype=np.int64)
        print(json.dumps(session.run(["probabilities"], feeds)[0].tolist()))
        """

    func testONNXRuntimeGivesOurProbabilitiesForEveryCellAndLayout() throws {
        // The structural checks run everywhere; ONNX Runtime where it is installed, which Tools/test makes sure of.
        let withRuntime = Python.has("onnx", "onnxruntime", "numpy")
        if ProcessInfo.processInfo.environment["RNNKIT_REQUIRE_ONNXRUNTIME"] == "1" {
            XCTAssertTrue(withRuntime, "python3 has no onnx, onnxruntime and numpy (Tools/test installs them)")
        }
        let scratch = try Scratch()
        let directories = try FileManager.default.contentsOfDirectory(
            at: PyTorchImportTests.fixtures, includingPropertiesForKeys: nil
        ).filter { $0.hasDirectoryPath }.sorted { $0.path < $1.path }
        for directory in directories {
            let (imported, expected, _) = try PyTorchImportTests.importAndCompare(directory)
            // The same weights as a multi-label model: the graph ends in Sigmoid instead of Softmax.
            var sigmoid = imported.architecture
            sigmoid.output = .sigmoid
            let multiLabel = try Classifier(
                architecture: sigmoid, tokenizerSpec: imported.tokenizerSpec, vocabulary: imported.tokenizer.vocabulary,
                policy: imported.policy, labels: imported.labels, parameters: imported.parameters)
            for classifier in [imported, multiLabel] {
                let name =
                    directory.lastPathComponent + (classifier.architecture.output == .sigmoid ? " multi-label" : "")
                let bytes = ONNXExport.model(classifier)
                XCTAssertGreaterThan(bytes.count, 4 * classifier.parameters.count, "the weights are in the file")
                guard withRuntime else { continue }
                let path = scratch.url.appendingPathComponent(name + ".onnx")
                try Data(bytes).write(to: path)
                let sequences = expected.sequences.map {
                    classifier.policy.apply($0, special: classifier.tokenizer.specialIDs)
                }
                let request: [String: Any] = ["sequences": sequences, "packed": classifier.policy.padding == .none]
                let result = try Command.run(
                    "/usr/bin/env", ["python3", "-c", Self.script, path.path],
                    stdin: String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self))
                XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
                let theirs = try JSONDecoder().decode([[Float]].self, from: Data(result.stdout.utf8))
                let ours = classifier.probabilities(sequences.map { $0[...] }, workspace: Network.Workspace())
                var worst: Float = 0
                for (row, probabilities) in theirs.enumerated() {
                    for (c, p) in probabilities.enumerated() {
                        worst = max(worst, abs(p - ours[row * expected.classes + c]))
                    }
                }
                XCTAssertLessThanOrEqual(worst, 1e-6, name)
                if classifier.architecture.output == .sigmoid {
                    XCTAssertGreaterThan(
                        abs(ours[0..<expected.classes].reduce(0, +) - 1), 1e-3, "\(name): not a softmax")
                }
            }
        }
    }
}
