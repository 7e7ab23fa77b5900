import Foundation
import RNNBinary
import RNNCommandLine
import RNNText
import TestSupport
import XCTest

@testable import RNNInterop

/// `convert` as a user meets it: a PyTorch state dict in, a model out that
/// `classify` runs; out again to safetensors and back with the same bits.
final class ConvertCLITests: XCTestCase {
    func testImportClassifyExportAndImportAgain() throws {
        let scratch = try Scratch()
        let fixture = PyTorchImportTests.fixtures.appendingPathComponent("gru-bidirectional-2-layers-packed")
        let vocabulary = scratch.url.appendingPathComponent("vocab.txt")
        try Data(try PyTorchImportTests.vocabulary(40).fileBytes()).write(to: vocabulary)
        let model = scratch.url.appendingPathComponent("model.rnnk").path
        let imported = try Command.run(
            "convert",
            [
                "import", fixture.appendingPathComponent("model.safetensors").path, "--word-vocabulary",
                vocabulary.path, "--labels", "red,green,blue", "--padding", "none", "--markers", "off", "--out", model,
            ])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertTrue(
            imported.stdout.contains("gru 2 layer(s), bidirectional, vocabulary 40, embedding 6, hidden 5"),
            imported.stdout)

        let classified = try Command.run("classify", ["--model", model], stdin: "w3 w7 w9\nw12\n")
        XCTAssertEqual(classified.status, 0, classified.stderr)
        XCTAssertEqual(classified.stdout.split(separator: "\n").first, "label\tp_red\tp_green\tp_blue")
        XCTAssertEqual(classified.stdout.split(separator: "\n").count, 3)

        let exported = scratch.url.appendingPathComponent("exported")
        let export = try Command.run("convert", ["export", model, "--to", "safetensors", "--out", exported.path])
        XCTAssertEqual(export.status, 0, export.stderr)
        let settings = try JSONDecoder().decode(
            ClassifierSettings.self, from: Data(contentsOf: exported.appendingPathComponent("classifier.json")))
        XCTAssertEqual(settings.labels, ["red", "green", "blue"])
        XCTAssertEqual(settings.padding, .none)
        XCTAssertFalse(settings.markers)

        let again = scratch.url.appendingPathComponent("again.rnnk").path
        let reimport = try Command.run(
            "convert",
            [
                "import", exported.appendingPathComponent("model.safetensors").path, "--word-vocabulary",
                exported.appendingPathComponent("vocab.txt").path, "--classifier",
                exported.appendingPathComponent("classifier.json").path, "--out", again,
            ])
        XCTAssertEqual(reimport.status, 0, reimport.stderr)
        let first = try loadClassifier(model), second = try loadClassifier(again)
        XCTAssertEqual(first.file.tensors, second.file.tensors)
        XCTAssertEqual(first.policy, second.policy)
        XCTAssertEqual(first.labels, second.labels)

        let onnx = try Command.run("convert", ["export", model, "--to", "onnx", "--out", exported.path])
        XCTAssertEqual(onnx.status, 0, onnx.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: exported.appendingPathComponent("model.onnx").path))
    }

    /// A PyTorch model trained with BCEWithLogitsLoss: classifier.json says so, and the output and threshold
    /// survive export and import.
    func testAMultiLabelModelImportsAndExportsWithItsThreshold() throws {
        let scratch = try Scratch()
        let fixture = PyTorchImportTests.fixtures.appendingPathComponent("gru-bidirectional-2-layers-packed")
        let vocabulary = scratch.url.appendingPathComponent("vocab.txt")
        try Data(try PyTorchImportTests.vocabulary(40).fileBytes()).write(to: vocabulary)
        let settings = scratch.url.appendingPathComponent("classifier.json")
        try Data(
            #"{"labels": ["red", "green", "blue"], "padding": "none", "truncation": "tail", "markers": false, "output": "sigmoid", "threshold": 0.3}"#
                .utf8
        ).write(to: settings)
        let model = scratch.url.appendingPathComponent("model.rnnk").path
        let weights = fixture.appendingPathComponent("model.safetensors").path
        let imported = try Command.run(
            "convert",
            ["import", weights, "--word-vocabulary", vocabulary.path, "--classifier", settings.path, "--out", model])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        let classifier = try loadClassifier(model)
        XCTAssertEqual(classifier.architecture.output, .sigmoid)
        XCTAssertEqual(classifier.threshold, 0.3)
        XCTAssertEqual(classifier.file.requiredFeatures, ["multi-label"])

        let exported = scratch.url.appendingPathComponent("exported")
        let export = try Command.run("convert", ["export", model, "--to", "safetensors", "--out", exported.path])
        XCTAssertEqual(export.status, 0, export.stderr)
        let written = try JSONDecoder().decode(
            ClassifierSettings.self, from: Data(contentsOf: exported.appendingPathComponent("classifier.json")))
        XCTAssertEqual(written.output, .sigmoid)
        XCTAssertEqual(written.threshold, 0.3)

        try Data(
            #"{"labels": ["red", "green", "blue"], "padding": "none", "truncation": "tail", "markers": false, "output": "sigmoid", "threshold": 1.5}"#
                .utf8
        ).write(to: settings)
        let refused = try Command.run(
            "convert",
            [
                "import", weights, "--word-vocabulary", vocabulary.path, "--classifier", settings.path, "--out",
                model + ".bad",
            ])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(
            refused.stderr.contains("error: \(settings.path): threshold 1.5 (expected between 0 and 1)"), refused.stderr
        )
        XCTAssertFalse(FileManager.default.fileExists(atPath: model + ".bad"))
    }

    func testErrorsAreOneLineNamingTheFileOrFlag() throws {
        let scratch = try Scratch()
        let fixture = PyTorchImportTests.fixtures.appendingPathComponent("gru-packed/model.safetensors").path
        let vocabulary = scratch.url.appendingPathComponent("vocab.txt")
        try Data(try PyTorchImportTests.vocabulary(40).fileBytes()).write(to: vocabulary)
        let out = scratch.url.appendingPathComponent("m.rnnk").path
        let common = ["import", fixture, "--word-vocabulary", vocabulary.path, "--out", out]
        let cases: [([String], String)] = [
            (common + ["--labels", "a,b,c"], "error: --padding: say how the model was run"),
            (
                common + ["--labels", "a,b", "--padding", "none"],
                "no tensor for the head.weight (shape [2, 5] (classes × hidden·directions)); the file has fc.weight [3, 5]"
            ),
            (common + ["--labels", "a,b,c", "--padding", "post"], "error: --padding: padding post needs a max length"),
            (
                common + ["--labels", "a,b,c", "--padding", "none", "--map", "embedding=x"],
                "--map embedding=x: the file has no tensor \"x\""
            ),
            (
                [
                    "import", vocabulary.path, "--word-vocabulary", vocabulary.path, "--labels", "a,b", "--padding",
                    "none", "--out", out,
                ],
                "vocab.txt: safetensors: header length"
            ),
        ]
        for (arguments, message) in cases {
            let result = try Command.run("convert", arguments)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written on error")
        }
    }
}
