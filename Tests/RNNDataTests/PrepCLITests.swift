import Foundation
import RNNData
import RNNText
import TestSupport
import XCTest

/// The `prep` executable as a user meets it: help, usage errors, data errors.
final class PrepCLITests: XCTestCase {
    func assertOneLineError(
        _ result: CommandResult, mentions fragments: [String], file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 1, file: file, line: line)
        XCTAssertFalse(
            result.stderr.contains("Fatal error") || result.stderr.contains("Stack dump")
                || result.stderr.contains("backtrace"),
            result.stderr, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(
                result.stderr.contains(fragment), "\(result.stderr) lacks \(fragment)", file: file, line: line)
        }
    }

    func testHelpListsEveryCommand() throws {
        let help = try Command.run("prep", ["--help"])
        XCTAssertEqual(help.status, 0)
        for command in ["imdb", "agnews", "csv", "show", "tokenize"] {
            XCTAssertTrue(help.stdout.contains(command), command)
        }
        let imdbHelp = try Command.run("prep", ["imdb", "--help"])
        XCTAssertTrue(imdbHelp.stdout.contains("--include-unsup") && imdbHelp.stdout.contains("--vocab-size"))
    }

    func testUsageErrorsSayWhatWasWrong() throws {
        assertOneLineError(
            try Command.run("prep", ["imdb", "--vocab-size", "0"]), mentions: ["--vocab-size must be at least 1"])
        assertOneLineError(try Command.run("prep", ["imdb", "--bogus"]), mentions: ["--bogus"])
        assertOneLineError(try Command.run("prep", ["csv", "x.csv"]), mentions: ["--label-column"])
        assertOneLineError(
            try Command.run("prep", ["csv", "x.csv", "--label-column", "y"]), mentions: ["give --text-column"])
        assertOneLineError(
            try Command.run(
                "prep", ["csv", "x.csv", "--text-column", "t", "--label-column", "y", "--delimiter", "ab"]),
            mentions: ["--delimiter \"ab\" is not one ASCII character"])
        assertOneLineError(
            try Command.run("prep", ["jsonl", "x.jsonl", "--label-column", "y"]), mentions: ["--label-field"])
        assertOneLineError(
            try Command.run("prep", ["imdb", "--memory", "0"]), mentions: ["--memory \"0\" is not a size"])
        assertOneLineError(
            try Command.run("prep", ["imdb", "--memory", "12X"]), mentions: ["--memory \"12X\" is not a size"])
        assertOneLineError(
            try Command.run("prep", ["tokenize"]),
            mentions: ["exactly one of --vocab-file, --tokenizer-file and --artifacts"])
        assertOneLineError(try Command.run("prep", ["imdb", "--tokenizer", "bpe"]), mentions: ["bpe"])
    }

    func testMissingDataSaysWhereToPutIt() throws {
        let empty = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: empty) }
        let result = try Command.run(
            "prep", ["imdb", "--out", empty.appendingPathComponent("o").path], environment: ["RNNKIT_DATA": empty.path])
        assertOneLineError(
            result, mentions: ["error: \(empty.path)/aclImdb_v1.tar.gz: not found", "RNNKIT_DATA", "Tools/fetch-data"])
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
    }

    func testBadCSVIsOneLineNamingFileAndLine() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Fixtures.write(
            "\"1\",\"a\",\"b\"\n\"9\",\"a\",\"b\"\n", to: directory.appendingPathComponent("train.csv"))
        let out = directory.appendingPathComponent("out").path
        let result = try Command.run("prep", ["agnews", path, "--tokenizer", "word", "--out", out, "--quiet"])
        assertOneLineError(result, mentions: ["error: \(path): line 2: label 9 is out of range (expected 1-4)"])
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testJSONLinesFastTextAndTSVFromTheCommandLine() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let records = (0..<40).map {
            "{\"meta\": {\"title\": \"t\($0)\"}, \"body\": \"\($0 % 2 == 0 ? "good" : "bad") film\", \"label\": \($0 % 2)}\n"
        }
        let train = try Fixtures.write(records.joined(), to: directory.appendingPathComponent("train.jsonl"))
        try Fixtures.run("/bin/gzip", [train])
        let test = try Fixtures.write(records.prefix(6).joined(), to: directory.appendingPathComponent("test.jsonl"))
        let out = directory.appendingPathComponent("jsonl").path
        let jsonl = try Command.run(
            "prep",
            [
                "jsonl", train + ".gz", test, "--text-field", "meta.title", "--text-field", "body", "--label-field",
                "label", "--out", out, "--quiet", "--memory", "64G",
            ])
        XCTAssertEqual(jsonl.status, 0, jsonl.stderr)
        XCTAssertTrue(jsonl.stdout.contains("labels train: 0 20 · 1 20"), jsonl.stdout)

        let tsv = try Fixtures.write(
            "id\ttext\tlabel\n" + (0..<20).map { "\($0)\tsaid \"hi\" \($0)\t\($0 % 3)\n" }.joined(),
            to: directory.appendingPathComponent("train.tsv"))
        let tsvResult = try Command.run(
            "prep",
            [
                "csv", "--test", tsv, tsv, "--text-column", "text", "--label-column", "label", "--out",
                directory.appendingPathComponent("tsv").path, "--quiet",
            ])
        XCTAssertEqual(tsvResult.status, 0, tsvResult.stderr)
        XCTAssertTrue(tsvResult.stdout.contains("labels train: 0 7 · 1 7 · 2 6"), tsvResult.stdout)

        let fastText = try Fixtures.write(
            "__label__pos a good film\nno label\n", to: directory.appendingPathComponent("train.txt"))
        let fastTextOut = directory.appendingPathComponent("fasttext").path
        let bad = try Command.run("prep", ["fasttext", fastText, "--out", fastTextOut, "--quiet"])
        assertOneLineError(
            bad, mentions: ["error: \(fastText): line 2: no label (expected __label__<name> before the text)"])
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fastTextOut))
    }

    /// A teacher's probabilities from CSV columns and from a JSON-lines array become the same train
    /// shards (format 1.1, one (class, probability) pair per class); test keeps its hard labels only.
    func testSoftLabelsFromCSVColumnsAndAJSONArray() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let rows = (0..<30).map { i -> (text: String, label: String, p: Double) in
            let p = Double(i % 10) / 10 + 0.05
            return (i % 2 == 0 ? "good film \(i)" : "bad film \(i)", p >= 0.5 ? "pos" : "neg", p)
        }
        let csv = try Fixtures.write(
            "text,label,neg,pos\n" + rows.map { "\($0.text),\($0.label),\(1 - $0.p),\($0.p)\n" }.joined(),
            to: directory.appendingPathComponent("train.csv"))
        let jsonl = try Fixtures.write(
            rows.map {
                "{\"text\": \"\($0.text)\", \"label\": \"\($0.label)\", \"teacher\": {\"p\": [\(1 - $0.p), \($0.p)]}}\n"
            }
            .joined(),
            to: directory.appendingPathComponent("train.jsonl"))
        let test = try Fixtures.write(
            "text,label\ngood film,pos\nbad film,neg\n", to: directory.appendingPathComponent("test.csv"))
        let testJSON = try Fixtures.write(
            "{\"text\": \"good film\", \"label\": \"pos\"}\n{\"text\": \"bad film\", \"label\": \"neg\"}\n",
            to: directory.appendingPathComponent("test.jsonl"))
        let fromCSV = directory.appendingPathComponent("csv"), fromJSON = directory.appendingPathComponent("json")
        let csvResult = try Command.run(
            "prep",
            [
                "csv", csv, test, "--text-column", "text", "--label-column", "label", "--soft-label-columns",
                "neg,pos", "--tokenizer", "word", "--out", fromCSV.path, "--quiet",
            ])
        XCTAssertEqual(csvResult.status, 0, csvResult.stderr)
        XCTAssertTrue(csvResult.stdout.contains("soft labels train: a teacher's probability"), csvResult.stdout)
        let jsonResult = try Command.run(
            "prep",
            [
                "jsonl", jsonl, testJSON, "--text-field", "text", "--label-field", "label", "--soft-label-field",
                "teacher.p", "--tokenizer", "word", "--out", fromJSON.path, "--quiet",
            ])
        XCTAssertEqual(jsonResult.status, 0, jsonResult.stderr)
        let a = try PreparedDataset(directory: fromCSV), b = try PreparedDataset(directory: fromJSON)
        let train = try a.load(split: "train")
        let fromLines = try b.load(split: "train")
        XCTAssertEqual(train.tokens, fromLines.tokens)
        XCTAssertEqual(train.labels, fromLines.labels)
        XCTAssertEqual(train.targets, fromLines.targets)
        XCTAssertTrue(train.hasTargets)
        for (i, row) in rows.enumerated() {
            let targets = train.targets(of: i)!
            XCTAssertEqual(targets.map(\.label), [0, 1])
            XCTAssertEqual(targets[1].weight, Float(row.p), accuracy: 1e-6)
            XCTAssertEqual(targets[0].weight + targets[1].weight, 1, accuracy: 1e-6)
        }
        XCTAssertEqual(a.manifest.split("train")?.softLabels, true)
        XCTAssertNil(a.manifest.split("test")?.softLabels)
        XCTAssertFalse(try a.load(split: "test").hasTargets)

        func rejects(_ body: String, columns: String, _ fragment: String) throws {
            let file = try Fixtures.write(
                "text,label,a,b,c\n" + body, to: directory.appendingPathComponent("train.csv"))
            let out = directory.appendingPathComponent("bad").path
            let result = try Command.run(
                "prep",
                [
                    "csv", file, "--text-column", "text", "--label-column", "label", "--soft-label-columns", columns,
                    "--tokenizer", "word", "--out", out, "--quiet",
                ])
            assertOneLineError(result, mentions: [fragment])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        try rejects(
            "x,pos,0.2,0.3,0\n", columns: "a,b",
            "\(csv): line 2: soft labels sum to 0.5 (expected probabilities that sum to 1)")
        try rejects("x,pos,0.2,high,0\n", columns: "a,b", "line 2: soft label \"high\" in column \"b\" is not a number")
        try rejects("x,pos,1.5,-0.5,0\n", columns: "a,b", "line 2: soft label 0: 1.5 (expected a probability, 0 to 1)")
        try rejects(
            "x,pos,0.2,0.3,0.5\ny,neg,0.5,0.5,0\n", columns: "a,b,c",
            "3 soft labels (expected one per class: 2, in the order neg, pos)")
        try rejects("x,pos,0.5,0.5,0\n", columns: "a,d", "no column named \"d\"")
        assertOneLineError(
            try Command.run(
                "prep", ["csv", csv, "--text-column", "text", "--label-column", "label", "--soft-label-columns", "neg"]),
            mentions: ["--soft-label-columns \"neg\": expected at least two comma-separated columns"])
    }

    func testPrepParquetWithLabelNames() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/parquet")
        let train = directory.appendingPathComponent("train.parquet"),
            test = directory.appendingPathComponent("test.parquet")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("polars.parquet"), to: train)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("duckdb.parquet"), to: test)
        let out = directory.appendingPathComponent("out").path
        let result = try Command.run(
            "prep",
            [
                "parquet", train.path, test.path, "--text-column", "text", "--label-column", "label",
                "--label-names", "a,b,c,d", "--out", out, "--quiet",
            ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("labels train: a "), result.stdout)
        let bad = try Command.run(
            "prep",
            [
                "parquet", train.path, "--text-column", "text", "--label-column", "label", "--label-names", "a,b",
                "--out", directory.appendingPathComponent("bad").path, "--quiet",
            ])
        assertOneLineError(
            bad, mentions: ["train.parquet", "row group 0, row 0: label 3 is out of range (expected 0-1)"])
    }

    func testPrepShowAndTokenizeOnAGeneratedDataset() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = try Fixtures.write(
            "text,label\nGood film,1\nBad film,0\nGood good,1\n", to: directory.appendingPathComponent("train.csv"))
        let test = try Fixtures.write("text,label\nfilm good,1\n", to: directory.appendingPathComponent("test.csv"))
        let out = directory.appendingPathComponent("out").path
        let prep = try Command.run(
            "prep", ["csv", train, test, "--text-column", "text", "--label-column", "label", "--out", out, "--quiet"])
        XCTAssertEqual(prep.status, 0, prep.stderr)
        for header in ["split", "examples", "<unk>", "vocabulary: 6 tokens", "labels train: 0 1 · 1 2"] {
            XCTAssertTrue(prep.stdout.contains(header), "summary lacks \(header):\n\(prep.stdout)")
        }
        let show = try Command.run("prep", ["show", out, "--split", "test"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("tokens: film good"), show.stdout)
        let tokenize = try Command.run(
            "prep", ["tokenize", "--artifacts", out, "--tokens"], stdin: "Good FILM!\nbad\n")
        XCTAssertEqual(tokenize.stdout, "<start> good film <unk>\n<start> bad\n")
    }

    /// A tokenizer.json brings its vocabulary and its normalizer settings (here: cased).
    func testPrepWithATokenizerJSONTokenizesAsItSays() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = WordPieceTokenizer.Options()
        options.lowercase = false
        options.stripAccents = false
        let vocabulary = try Vocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "Good", "film", "##s", "bad"])
        let tokenizer = directory.appendingPathComponent("tokenizer.json")
        try Data(HuggingFaceTokenizer.json(try WordPieceTokenizer(vocabulary: vocabulary, options: options))).write(
            to: tokenizer)
        let train = try Fixtures.write(
            "text,label\nGood films,1\nbad film,0\n", to: directory.appendingPathComponent("train.csv"))
        let out = directory.appendingPathComponent("out").path
        let prep = try Command.run(
            "prep",
            [
                "csv", train, "--text-column", "text", "--label-column", "label", "--tokenizer-file", tokenizer.path,
                "--out", out, "--quiet",
            ])
        XCTAssertEqual(prep.status, 0, prep.stderr)
        let tokenize = try Command.run(
            "prep", ["tokenize", "--artifacts", out, "--tokens"], stdin: "Good good films\n")
        XCTAssertEqual(tokenize.stdout, "[CLS] Good [UNK] film ##s [SEP]\n")
        let direct = try Command.run(
            "prep", ["tokenize", "--tokenizer-file", tokenizer.path], stdin: "Good good films\n")
        XCTAssertEqual(direct.stdout, "2 4 1 5 6 3\n")
        let both = try Command.run(
            "prep",
            [
                "csv", train, "--text-column", "text", "--label-column", "label", "--tokenizer-file", tokenizer.path,
                "--vocab-file", tokenizer.path, "--out", out,
            ])
        assertOneLineError(both, mentions: ["give --vocab-file or --tokenizer-file, not both"])
    }
}
