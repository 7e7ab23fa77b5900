import Foundation
import RNNBinary
import RNNData
import RNNModel
import TestSupport
import XCTest

@testable import RNNTrain

/// `prep csv` → `train` → `train eval` / `train inspect` / `--resume`, as a user runs them.
final class TrainCLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Reviews whose label is whether "good" outnumbers "bad".
    func writeCSV(_ name: String, rows: Int, seed: UInt64) throws -> String {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let filler = ["the", "film", "plot", "was", "actors", "and", "a", "movie", "scene", "it"]
        var csv = "text,label\n"
        var written = 0
        while written < rows {
            var words: [String] = []
            var good = 0, bad = 0
            for _ in 0..<(4 + Int(next() % 20)) {
                switch next() % 6 {
                case 0: words.append("good"); good += 1
                case 1: words.append("bad"); bad += 1
                default: words.append(filler[Int(next() % UInt64(filler.count))])
                }
            }
            if good == bad { continue }
            csv += "\"\(words.joined(separator: " "))\",\(good > bad ? "pos" : "neg")\n"
            written += 1
        }
        let url = directory.appendingPathComponent(name)
        try Data(csv.utf8).write(to: url)
        return url.path
    }

    /// `prep csv` of a train and a test file into `name` in the test's directory: its path.
    func prepared(_ train: String, _ test: String, name: String = "shards", options: [String] = []) throws -> String {
        let shards = directory.appendingPathComponent(name).path
        let prep = try Command.run(
            "prep",
            ["csv", train, test, "--text-column", "text", "--label-column", "label", "--out", shards, "--quiet"]
                + options)
        XCTAssertEqual(prep.status, 0, prep.stderr)
        return shards
    }

    func testPrepTrainEvaluateInspectAndResume() throws {
        let train = try writeCSV("train.csv", rows: 1_500, seed: 1), test = try writeCSV("test.csv", rows: 400, seed: 2)
        let shards = try prepared(train, test)

        let options = [
            "--shards", shards, "--recipe", "csv", "--cell", "gru", "--embed", "8", "--hidden", "16", "--optimizer",
            "adam",
            "--lr", "0.01", "--batch-size", "32", "--threads", "2", "--quiet", "--dropout", "0.1",
            // A constant rate: the resumed run below changes --epochs, which a decaying schedule depends on.
            "--schedule", "constant",
        ]
        let full = directory.appendingPathComponent("full").path
        let run = try Command.run("train", options + ["--epochs", "3", "--out", full])
        XCTAssertEqual(run.status, 0, run.stderr)
        for expected in ["epoch 3/3", "macro-F1", "confusion (rows: true, columns: predicted)", "model: "] {
            XCTAssertTrue(run.stdout.contains(expected), "missing \(expected):\n\(run.stdout)")
        }
        // Three epochs on validation (10% of train by default), then the test split once, for the selected epoch.
        XCTAssertTrue(run.stdout.contains("150 validation examples (10% of train, stratified)"), run.stdout)
        let records = try metricsRecords(full)
        XCTAssertEqual(records.map { $0["kind"] as? String }, ["epoch", "epoch", "epoch", "test"])
        XCTAssertEqual(records[0..<3].map { $0["split"] as? String }, ["validation", "validation", "validation"])
        XCTAssertEqual(records[3]["split"] as? String, "test")
        let accuracy = (records[3]["evaluation"] as! [String: Any])["accuracy"] as! Double
        XCTAssertGreaterThanOrEqual(accuracy, 0.9, "the generated task is learnable to 90%")
        XCTAssertTrue(try String(contentsOfFile: full + "/learning-curve.svg", encoding: .utf8).hasPrefix("<svg"))

        let evaluation = try Command.run("train", ["eval", full + "/model.rnnk", "--shards", shards])
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        XCTAssertTrue(evaluation.stdout.contains(String(format: "accuracy %.2f%%", 100 * accuracy)), evaluation.stdout)

        let inspect = try Command.run("train", ["inspect", full + "/model.rnnk"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        for expected in ["rnnkit model format 1.0", "architecture.cell = gru", "l0.w_hh  f32 [48, 16]", "valid: yes"] {
            XCTAssertTrue(inspect.stdout.contains(expected), "missing \(expected):\n\(inspect.stdout)")
        }

        // Two epochs, then a resumed third: the same metrics as three in one go.
        let split = directory.appendingPathComponent("split").path
        XCTAssertEqual(try Command.run("train", options + ["--epochs", "2", "--out", split]).status, 0)
        let resumed = try Command.run("train", options + ["--epochs", "3", "--out", split, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming after epoch 2"))
        func evaluations(_ path: String) throws -> [String] {
            try String(contentsOfFile: path + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let data = try JSONSerialization.data(
                    withJSONObject: [object["kind"]!, object["evaluation"]!, object["trainLoss"] ?? "none"],
                    options: [.sortedKeys])
                return String(decoding: data, as: UTF8.self)
            }
        }
        XCTAssertEqual(try evaluations(split), try evaluations(full))
        XCTAssertEqual(
            FileManager.default.contents(atPath: split + "/model.rnnk").map { $0.count },
            FileManager.default.contents(atPath: full + "/model.rnnk").map { $0.count })
    }

    /// Files named by the option that gives their split, whatever they are called; train then selects on the
    /// dataset's own validation split.
    /// A trained model scores any labeled file: `prep --tokenizer-from` gives its ids and label indices,
    /// and `train eval --data` does both steps; both equal the evaluation on the model's own test split.
    func testAModelScoresNewLabeledFilesWithItsOwnTokenizer() throws {
        let train = try writeCSV("train.csv", rows: 600, seed: 5), test = try writeCSV("test.csv", rows: 200, seed: 6)
        // The test rows again, as a TSV with the columns the other way round and the labels in another order.
        let rows = try String(contentsOfFile: test, encoding: .utf8).split(separator: "\n").dropFirst().map {
            row -> String in
            let comma = row.lastIndex(of: ",")!
            return "\(row[row.index(after: comma)...])\t\(row[..<comma].dropFirst().dropLast())\n"
        }
        let fresh = directory.appendingPathComponent("fresh.tsv").path
        try Data(("label\ttext\n" + rows.reversed().joined()).utf8).write(to: URL(fileURLWithPath: fresh))
        let vocabulary = TestData.directory.appendingPathComponent("bert-base-uncased/vocab.txt").path
        for tokenizer in [["--tokenizer", "word"], ["--tokenizer", "wordpiece", "--vocab-file", vocabulary]] {
            let kind = tokenizer[1]
            let shards = try prepared(train, test, name: "shards-\(kind)", options: tokenizer)
            let out = directory.appendingPathComponent("run-\(kind)").path
            let run = try Command.run(
                "train",
                [
                    "--shards", shards, "--embed", "8", "--hidden", "16", "--epochs", "1", "--threads", "2", "--quiet",
                    "--out", out,
                ])
            XCTAssertEqual(run.status, 0, run.stderr)
            let model = out + "/model.rnnk"
            func scores(_ arguments: [String]) throws -> String {
                let result = try Command.run("train", ["eval", model] + arguments)
                XCTAssertEqual(result.status, 0, result.stderr)
                // "… on DATASET SPLIT: loss … accuracy … macro-F1 … (N examples)" and the table.
                return String(result.stdout[result.stdout.range(of: ": loss")!.lowerBound...])
            }
            let reference = try scores(["--shards", shards])
            XCTAssertTrue(reference.contains("(200 examples)"), reference)

            let rescored = directory.appendingPathComponent("fresh-\(kind)").path
            let prepFresh = try Command.run(
                "prep",
                [
                    "csv", "--test", fresh, "--text-column", "text", "--label-column", "label", "--tokenizer-from",
                    model,
                    "--out", rescored, "--quiet",
                ])
            XCTAssertEqual(prepFresh.status, 0, prepFresh.stderr)
            XCTAssertTrue(prepFresh.stdout.contains("the model's: \(model)"), prepFresh.stdout)
            XCTAssertEqual(try scores(["--shards", rescored]), reference, kind)
            XCTAssertEqual(
                try scores(["--data", fresh, "--text-column", "text", "--label-column", "0"]), reference, kind)
        }

        let unknown = directory.appendingPathComponent("unknown.csv").path
        try Data("text,label\ngood film,pos\nodd film,meh\n".utf8).write(to: URL(fileURLWithPath: unknown))
        let model = directory.appendingPathComponent("run-word/model.rnnk").path
        let bad = try Command.run(
            "train", ["eval", model, "--data", unknown, "--text-column", "text", "--label-column", "label"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(
            bad.stderr.contains("\(unknown): line 3: label \"meh\" is not one of the model's labels (neg, pos;"),
            bad.stderr)
        let conflicting = try Command.run(
            "prep",
            [
                "csv", unknown, "--split", "test", "--text-column", "text", "--label-column", "label",
                "--tokenizer-from", model, "--vocab-size", "10",
            ])
        XCTAssertTrue(conflicting.stderr.contains("--tokenizer-from takes the model's tokenizer: drop --vocab-size"))
    }

    /// Vectors start the rows of their words and, frozen, stay exactly as read; the coverage is printed
    /// and recorded in the model; a dimension other than --embed is refused before training.
    func testPretrainedVectorsStartTheEmbeddingAndFrozenStayAsRead() throws {
        let train = try writeCSV("train.csv", rows: 400, seed: 3), test = try writeCSV("test.csv", rows: 100, seed: 4)
        let shards = try prepared(train, test)
        let vectors: [String: [Float]] = [
            "good": [1, 0.5, -0.25, 2], "bad": [-1, -0.5, 0.25, -2], "film": [0, 0, 1, 0],
        ]
        let file = directory.appendingPathComponent("vectors.vec")
        try Data(
            ("4 4\n"
                + vectors.sorted { $0.key < $1.key }.map {
                    "\($0.key) " + $0.value.map { "\($0)" }.joined(separator: " ")
                }
                .joined(separator: "\n") + "\ncinema 1 2 3 4\n").utf8
        ).write(to: file)
        func trainedEmbedding(_ extra: [String]) throws -> (stdout: String, rows: [String: [Float]], file: ModelFile) {
            let out = directory.appendingPathComponent("run-\(extra.count)").path
            let run = try Command.run(
                "train",
                [
                    "--shards", shards, "--epochs", "2", "--embed", "4", "--hidden", "8", "--threads", "1",
                    "--pretrained-vectors", file.path, "--out", out,
                ] + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/model.rnnk"))
            let model = try Classifier(file: Array(bytes).withUnsafeBytes { try ModelFile(bytes: $0) })
            let tokens = model.tokenizer.vocabulary.tokens
            var rows: [String: [Float]] = [:]
            for word in vectors.keys {
                let id = tokens.firstIndex(of: word)!
                rows[word] = Array(model.parameters[id * 4..<(id + 1) * 4])
            }
            return (run.stdout, rows, model.file)
        }
        let frozen = try trainedEmbedding(["--freeze-embedding", "--weight-decay", "0.1", "--optimizer", "adamw"])
        XCTAssertEqual(frozen.rows, vectors, "frozen rows stay as read, even under weight decay")
        XCTAssertTrue(frozen.stdout.contains("pretrained vectors: \(file.path): 3 of "), frozen.stdout)
        XCTAssertTrue(frozen.stdout.contains("(4 words in the file)"), frozen.stdout)
        guard case .string(let record)? = frozen.file["training.pretrained_vectors"] else {
            return XCTFail("no training.pretrained_vectors in the model")
        }
        let recorded = try JSONSerialization.jsonObject(with: Data(record.utf8)) as! [String: Any]
        XCTAssertEqual(recorded["vocabulary_found"] as? Int, 3)
        XCTAssertEqual(recorded["frozen"] as? Bool, true)
        XCTAssertGreaterThan(recorded["token_coverage"] as! Double, 0.1)
        let trained = try trainedEmbedding([])
        XCTAssertNotEqual(trained.rows["good"], vectors["good"], "unfrozen rows train")

        let wrong = try Command.run(
            "train",
            ["--shards", shards, "--embed", "8", "--pretrained-vectors", file.path, "--out", directory.path + "/x"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(
            wrong.stderr.contains("vectors.vec: line 1: the header says the vectors have 4 values; --embed is 8"),
            wrong.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path + "/x"), "no output directory is left")
    }

    func testSplitsNamedByOptionsAndTheValidationSplitIsUsed() throws {
        let a = try writeCSV("reviews-2024.csv", rows: 300, seed: 7), b = try writeCSV("held.csv", rows: 60, seed: 8)
        let c = try writeCSV("final.csv", rows: 80, seed: 9)
        let shards = directory.appendingPathComponent("named").path
        let prep = try Command.run(
            "prep",
            [
                "csv", "--train", a, "--validation", b, "--test", c, "--text-column", "text", "--label-column", "label",
                "--out", shards, "--quiet",
            ])
        XCTAssertEqual(prep.status, 0, prep.stderr)
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: shards + "/manifest.json"))) as! [String: Any]
        let splits = (manifest["splits"] as! [[String: Any]]).map { ($0["name"] as! String, $0["examples"] as! Int) }
        XCTAssertEqual(splits.map(\.0), ["train", "validation", "test"])
        XCTAssertEqual(splits.map(\.1), [300, 60, 80])
        let train = try Command.run(
            "train",
            [
                "--shards", shards, "--epochs", "1", "--embed", "4", "--hidden", "4", "--out",
                directory.appendingPathComponent("named-run").path,
            ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(
            train.stdout.contains("300 training examples, 60 validation examples (the dataset's validation split)"),
            train.stdout)
        let unnamed = try Command.run("prep", ["csv", a, "--text-column", "text", "--label-column", "label"])
        XCTAssertEqual(unnamed.status, 1)
        XCTAssertTrue(unnamed.stderr.contains("reviews-2024.csv: cannot tell the split"), unnamed.stderr)
    }

    /// OpenBLAS made to run its SSE3 kernels, as it does on a CPU newer than its build: train says so, runs
    /// itself again on the core of the tier of the kernels it runs, and ends with that core's metrics.
    func testAnOpenBLASFallbackIsReportedAndCorrected() throws {
        guard let right = OpenBLASCorrection.expectedCore else {
            throw XCTSkip("a CPU without AVX2 has no faster OpenBLAS core to correct to")
        }
        let train = try writeCSV("train.csv", rows: 500, seed: 5), test = try writeCSV("test.csv", rows: 100, seed: 6)
        let shards = try prepared(train, test)
        func run(_ core: String) throws -> (stdout: String, metrics: [String]) {
            let out = directory.appendingPathComponent(core).path
            let result = try Command.run(
                "train",
                ["--shards", shards, "--epochs", "2", "--embed", "8", "--hidden", "8", "--threads", "2", "--out", out],
                environment: ["OPENBLAS_CORETYPE": core])
            XCTAssertEqual(result.status, 0, result.stderr)
            let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            let figures = try lines.map { line in
                var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                object["seconds"] = nil
                object["samplesPerSecond"] = nil
                return String(
                    decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
            }
            return (result.stdout, figures)
        }
        let fallback = try run("Prescott"), chosen = try run(right)
        XCTAssertTrue(fallback.stdout.contains("core \(right) (corrected from Prescott)"), fallback.stdout)
        XCTAssertTrue(chosen.stdout.contains("core \(right)\n"), chosen.stdout)
        XCTAssertEqual(fallback.metrics, chosen.metrics)
        let inspected = try Command.run(
            "train", ["inspect", directory.appendingPathComponent("Prescott/model.rnnk").path])
        XCTAssertTrue(inspected.stdout.contains("core \(right) (corrected from Prescott)"), inspected.stdout)
    }

    func metricsRecords(_ run: String) throws -> [[String: Any]] {
        try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    /// Early stopping ends the run once validation stops improving; the model written is the
    /// best validation epoch's, and the test split is evaluated once, for it.
    func testEarlyStoppingWritesTheBestValidationEpoch() throws {
        let train = try writeCSV("train.csv", rows: 600, seed: 3), test = try writeCSV("test.csv", rows: 200, seed: 4)
        let shards = try prepared(train, test)
        let out = directory.appendingPathComponent("run").path
        // A learning rate high enough to overfit 540 examples within a few epochs.
        let run = try Command.run(
            "train",
            [
                "--shards", shards, "--recipe", "csv", "--embed", "8", "--hidden", "16", "--lr", "0.05", "--epochs",
                "30",
                "--early-stopping", "2", "--select", "loss", "--threads", "2", "--quiet", "--out", out,
            ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let records = try metricsRecords(out)
        let epochs = records.filter { $0["kind"] as? String == "epoch" }
        let losses = epochs.map { ($0["evaluation"] as! [String: Any])["loss"] as! Double }
        let best = losses.indices.min { losses[$0] < losses[$1] }!
        XCTAssertLessThan(epochs.count, 30, "validation loss never stopped improving:\n\(run.stdout)")
        XCTAssertEqual(epochs.count, best + 1 + 2, "stops two epochs after the best one")
        XCTAssertTrue(run.stdout.contains("early stopping after epoch \(epochs.count)"), run.stdout)
        let final = try XCTUnwrap(records.last)
        XCTAssertEqual(final["kind"] as? String, "test")
        XCTAssertEqual(final["epoch"] as? Int, best + 1)
        XCTAssertEqual(final["selectedBy"] as? String, "loss")
        // The model file holds that epoch: evaluating it reproduces the test line.
        let testLoss = (final["evaluation"] as! [String: Any])["loss"] as! Double
        let evaluation = try Command.run("train", ["eval", out + "/model.rnnk", "--shards", shards])
        XCTAssertTrue(evaluation.stdout.contains(String(format: "loss %.4f", testLoss)), evaluation.stdout)
        XCTAssertTrue(run.stdout.contains("model: \(out)/model.rnnk (epoch \(best + 1))"), run.stdout)

        // Resuming the finished run restores the selected weights from the checkpoint: the same test line.
        let firstTestLine = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        let resumed = try Command.run(
            "train",
            [
                "--shards", shards, "--recipe", "csv", "--embed", "8", "--hidden", "16", "--lr", "0.05", "--epochs",
                "30",
                "--early-stopping", "2", "--select", "loss", "--threads", "2", "--quiet", "--out", out, "--resume",
            ])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8), firstTestLine)

        let noValidation = try Command.run(
            "train",
            ["--shards", shards, "--recipe", "csv", "--validation", "0", "--early-stopping", "2", "--out", out])
        XCTAssertEqual(noValidation.status, 1)
        XCTAssertTrue(noValidation.stderr.contains("--early-stopping: needs a validation split"), noValidation.stderr)
    }

    /// `classify` predicts what `train eval` measured, on the same texts, in input order, as TSV or JSON lines.
    func testClassifyCommandAgreesWithEvaluation() throws {
        let train = try writeCSV("train.csv", rows: 600, seed: 5), test = try writeCSV("test.csv", rows: 200, seed: 6)
        let shards = try prepared(train, test), out = directory.appendingPathComponent("run").path
        let trained = try Command.run(
            "train", ["--shards", shards, "--embed", "8", "--hidden", "16", "--epochs", "3", "--quiet", "--out", out])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let rows = try String(contentsOfFile: test, encoding: .utf8).split(separator: "\n").dropFirst().map { row in
            let comma = row.lastIndex(of: ",")!
            return (text: String(row[..<comma].dropFirst().dropLast()), label: String(row[row.index(after: comma)...]))
        }
        let texts = rows.map(\.text).joined(separator: "\n") + "\n"
        let tsv = try Command.run("classify", ["--model", out + "/model.rnnk", "--batch-size", "7"], stdin: texts)
        XCTAssertEqual(tsv.status, 0, tsv.stderr)
        let lines = tsv.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "label\tp_neg\tp_pos")
        XCTAssertEqual(lines.count, rows.count + 1)
        let correct = zip(lines.dropFirst(), rows).filter { $0.0.split(separator: "\t")[0] == $0.1.label }.count
        let evaluation = try Command.run("train", ["eval", out + "/model.rnnk", "--shards", shards])
        XCTAssertTrue(
            evaluation.stdout.contains(String(format: "accuracy %.2f%%", 100 * Double(correct) / Double(rows.count))),
            "classify: \(correct)/\(rows.count) correct; \(evaluation.stdout)")

        let jsonl = rows.prefix(3).map { "{\"id\": 1, \"body\": \"\($0.text)\"}" }.joined(separator: "\n")
        let top = try Command.run(
            "classify",
            ["--model", out + "/model.rnnk", "--jsonl", "--text-field", "body", "--output", "jsonl", "--top-k", "1"],
            stdin: jsonl)
        XCTAssertEqual(top.status, 0, top.stderr)
        let objects = try top.stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(objects.count, 3)
        for (object, line) in zip(objects, lines.dropFirst()) {
            XCTAssertEqual(object["label"] as? String, String(line.split(separator: "\t")[0]))
            XCTAssertEqual((object["top"] as? [[String: Any]])?.count, 1)
        }
        // --explain marks the tokens that pushed most towards the predicted label; the labels stay.
        let explained = try Command.run(
            "classify", ["--model", out + "/model.rnnk", "--output", "jsonl", "--explain", "2"],
            stdin: rows.prefix(3).map(\.text).joined(separator: "\n"))
        XCTAssertEqual(explained.status, 0, explained.stderr)
        for ((line, row), tsvLine) in zip(zip(explained.stdout.split(separator: "\n"), rows), lines.dropFirst()) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(object["label"] as? String, String(tsvLine.split(separator: "\t")[0]))
            let tokens = try XCTUnwrap(object["explanation"] as? [[String: Any]])
            XCTAssertEqual(tokens.count, 2)
            let bytes = Array(row.text.utf8)
            for token in tokens {
                let start = token["start"] as! Int, end = token["end"] as! Int
                XCTAssertEqual(token["token"] as? String, String(decoding: bytes[start..<end], as: UTF8.self))
            }
            XCTAssertGreaterThanOrEqual(tokens[0]["score"] as! Double, tokens[1]["score"] as! Double)
            let markedText = try XCTUnwrap(object["marked"] as? String)
            XCTAssertEqual(markedText.filter { $0 == "[" }.count, 2, markedText)
            XCTAssertEqual(
                markedText.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: ""), row.text)
        }
        let explainedTSV = try Command.run(
            "classify", ["--model", out + "/model.rnnk", "--explain", "1"], stdin: rows[0].text)
        XCTAssertEqual(explainedTSV.stdout.split(separator: "\n").first, "label\tp_neg\tp_pos\texplanation")
        let bad = try Command.run("classify", ["--model", out + "/model.rnnk", "--jsonl"], stdin: "{\"text\": 3}\n")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("error: <stdin>: line 1: no string field \"text\""), bad.stderr)
        let missing = try Command.run("classify", ["--model", directory.appendingPathComponent("none.rnnk").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.rnnk: cannot read the model file"), missing.stderr)
    }

    /// Texts whose labels are the tag words they hold (one, two or none of them), in fastText's format,
    /// as JSON lines with an array of labels and as CSV with `|` between labels.
    func writeLabelSets(_ name: String, rows: Int, seed: UInt64) throws -> (
        fastText: String, jsonl: String, csv: String
    ) {
        var state = seed
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        let tags = ["sport", "money", "tech"], filler = ["the", "a", "news", "today", "report"]
        var fastText = "", jsonl = "", csv = "text,tags\n"
        for _ in 0..<rows {
            var labels = [tags[next() % 3]]
            if next() % 3 == 0 { labels.append(tags.filter { $0 != labels[0] }[next() % 2]) }
            var words = labels + (0..<4).map { _ in filler[next() % filler.count] }
            words.swapAt(0, next() % words.count)
            let text = words.joined(separator: " ")
            fastText += labels.map { "__label__\($0) " }.joined() + text + "\n"
            jsonl += "{\"text\": \"\(text)\", \"tags\": [\(labels.map { "\"\($0)\"" }.joined(separator: ", "))]}\n"
            csv += "\(text),\(labels.joined(separator: "|"))\n"
        }
        let base = directory.appendingPathComponent(name)
        for (ext, body) in [("txt", fastText), ("jsonl", jsonl), ("csv", csv)] {
            try Data(body.utf8).write(to: base.appendingPathExtension(ext))
        }
        return (
            base.appendingPathExtension("txt").path, base.appendingPathExtension("jsonl").path,
            base.appendingPathExtension("csv").path
        )
    }

    /// Label sets from three formats give the same shards; `--loss ova` learns them, chooses its threshold
    /// on validation, and `train eval` and `classify` read the model as training measured it.
    func testMultiLabelFromEveryFormatTrainsEvaluatesAndClassifies() throws {
        let train = try writeLabelSets("train", rows: 600, seed: 3)
        let validation = try writeLabelSets("validation", rows: 100, seed: 4)
        let test = try writeLabelSets("test", rows: 200, seed: 5)
        func prep(_ arguments: [String], _ name: String) throws -> String {
            let out = directory.appendingPathComponent(name).path
            let result = try Command.run("prep", arguments + ["--tokenizer", "word", "--out", out, "--quiet"])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("multi-label: each example has a set of labels"), result.stdout)
            return out
        }
        let fromFastText = try prep(
            ["fasttext", "--train", train.fastText, "--validation", validation.fastText, "--test", test.fastText], "ft")
        let fromJSON = try prep(
            [
                "jsonl", "--train", train.jsonl, "--validation", validation.jsonl, "--test", test.jsonl, "--text-field",
                "text", "--label-field", "tags",
            ], "json")
        let fromCSV = try prep(
            [
                "csv", "--train", train.csv, "--validation", validation.csv, "--test", test.csv, "--text-column",
                "text",
                "--label-column", "tags", "--label-separator", "|",
            ], "csv")
        let reference = try PreparedDataset(directory: URL(fileURLWithPath: fromFastText))
        XCTAssertEqual(reference.manifest.multiLabel, true)
        XCTAssertEqual(reference.manifest.labels, ["money", "sport", "tech"])
        for other in [fromJSON, fromCSV] {
            let dataset = try PreparedDataset(directory: URL(fileURLWithPath: other))
            for split in ["train", "validation", "test"] {
                let (a, b) = (try reference.load(split: split), try dataset.load(split: split))
                XCTAssertEqual(a.tokens, b.tokens, "\(other) \(split)")
                XCTAssertEqual(a.labels, b.labels, "\(other) \(split)")
                XCTAssertEqual(a.targets, b.targets, "\(other) \(split)")
            }
        }
        let trainShard = try reference.load(split: "train")
        XCTAssertTrue((0..<trainShard.count).contains { trainShard.targets(of: $0)!.count == 2 })
        XCTAssertTrue(trainShard.targets.allSatisfy { $0.weight == 1 })

        let run = directory.appendingPathComponent("ova").path
        let result = try Command.run(
            "train",
            [
                "--shards", fromFastText, "--loss", "ova", "--epochs", "8", "--lr", "0.01", "--embed", "8", "--hidden",
                "16", "--out", run,
            ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("precision@1"), result.stdout)
        let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let measured = try JSONDecoder().decode(TestRecord.self, from: Data(lines.last!.utf8)).evaluation
        XCTAssertGreaterThan(measured.macroF1, 0.9, "the tags are the words themselves")
        XCTAssertGreaterThan(measured.precisionAt1!, 0.9)
        let threshold = try XCTUnwrap(measured.threshold)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: run + "/model.rnnk"))
        let file = try Array(bytes).withUnsafeBytes { try ModelFile(bytes: $0) }
        XCTAssertEqual(file.requiredFeatures, ["multi-label"])
        XCTAssertEqual(file["architecture.output"], .string("sigmoid"))
        XCTAssertEqual(try Classifier(file: file).threshold, threshold)

        let evaluated = try Command.run("train", ["eval", run + "/model.rnnk", "--shards", fromFastText])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        XCTAssertTrue(
            evaluated.stdout.contains(String(format: "macro-F1 %.4f", measured.macroF1)), evaluated.stdout)
        let classified = try Command.run(
            "classify", ["--model", run + "/model.rnnk", "--output", "jsonl"],
            stdin: "sport money the news\ntech today\n")
        XCTAssertEqual(classified.status, 0, classified.stderr)
        let rows = classified.stdout.split(separator: "\n").map {
            try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(rows.map { Set($0["labels"] as! [String]) }, [["sport", "money"], ["tech"]])
        let probabilities = rows[0]["probabilities"] as! [String: Double]
        XCTAssertGreaterThan(probabilities.values.reduce(0, +), 1.5, "independent probabilities, not a softmax")

        let softmax = try Command.run(
            "train",
            ["--shards", fromFastText, "--epochs", "1", "--embed", "4", "--hidden", "4", "--out", run + "-softmax"])
        XCTAssertEqual(softmax.status, 0, softmax.stderr)
        XCTAssertTrue(softmax.stdout.contains("each text's labels share its probability"), softmax.stdout)
        for (arguments, message) in [
            (
                ["--loss", "ova", "--distill-temperature", "2"],
                "--distill-temperature and --hard-label-weight are softmax's"
            ),
            (["--loss", "ova", "--class-weights", "balanced"], "--loss ova does not take them"),
            (["--distill-temperature", "2"], "--distill-temperature: needs soft labels in the train split"),
        ] {
            let refused = try Command.run("train", ["--shards", fromFastText, "--out", run + "-x"] + arguments)
            XCTAssertNotEqual(refused.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(refused.stderr.contains(message), refused.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: run + "-x"))
        }
    }

    func testBadOptionsAndShardsFailBeforeTraining() throws {
        let result = try Command.run("train", ["--shards", directory.path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("manifest.json: not found"), result.stderr)
        let usage = try Command.run("train", [])
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("Missing expected argument '--shards <shards>'"), usage.stderr)
        let evalUsage = try Command.run("train", ["eval", "model.rnnk"])
        XCTAssertNotEqual(evalUsage.status, 0)
        XCTAssertTrue(evalUsage.stderr.contains("give --shards DIR or --data FILE"), evalUsage.stderr)
        let dataUsage = try Command.run("train", ["eval", "model.rnnk", "--data", "x.csv", "--text-column", "t"])
        XCTAssertTrue(dataUsage.stderr.contains("--data needs --text-column and --label-column"), dataUsage.stderr)
        let train = try writeCSV("train.csv", rows: 50, seed: 1), test = try writeCSV("test.csv", rows: 20, seed: 2)
        let shards = try prepared(train, test)
        let padding = try Command.run("train", ["--shards", shards, "--recipe", "csv", "--padding", "post"])
        XCTAssertNotEqual(padding.status, 0)
        XCTAssertTrue(padding.stderr.contains("padding post needs a --max-len"), padding.stderr)
        let lr = try Command.run("train", ["--shards", shards, "--recipe", "csv", "--lr=-1"])
        XCTAssertTrue(lr.stderr.contains("--lr must be positive"), lr.stderr)
        let window = try Command.run("train", ["--shards", shards, "--recipe", "csv", "--window", "0"])
        XCTAssertNotEqual(window.status, 0)
        XCTAssertTrue(window.stderr.contains("--window must be at least 1"), window.stderr)
        let slices = try Command.run("train", ["--shards", shards, "--batch-size", "4", "--threads", "5"])
        XCTAssertNotEqual(slices.status, 0)
        XCTAssertTrue(slices.stderr.contains("a batch of 4 cannot be cut into 5 slices"), slices.stderr)
        let corrupt = directory.appendingPathComponent("bad.rnnk")
        try Data("RNNKMODL not really".utf8).write(to: corrupt)
        let inspect = try Command.run("train", ["inspect", corrupt.path])
        XCTAssertEqual(inspect.status, 1)
        XCTAssertTrue(inspect.stderr.contains("bad.rnnk: truncated model file"), inspect.stderr)
    }
}
