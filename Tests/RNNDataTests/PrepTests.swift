import Foundation
import RNNSupport
import TestSupport
import XCTest

@testable import RNNData
@testable import RNNText

final class PrepTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    var output: URL { directory.appendingPathComponent("artifacts/out") }

    func imdbFiles() -> [String: String] {
        [
            "aclImdb/train/pos/0_9.txt": "A great film!<br /><br />Great acting.",
            "aclImdb/train/pos/1_10.txt": "Great, great fun.",
            "aclImdb/train/neg/2_1.txt": "Awful film. Boring.",
            "aclImdb/train/neg/3_3.txt": "Boring and awful; a waste.",
            "aclImdb/train/unsup/4_0.txt": "Unlabeled text here.",
            "aclImdb/test/pos/5_8.txt": "Great fun, a zebra!",
            "aclImdb/test/neg/6_2.txt": "Awful.",
            "aclImdb/imdb.vocab": "ignored\n",
            "aclImdb/README": "ignored",
        ]
    }

    func testIMDBTarballStreamsLabelsRatingsAndSkipsUnsup() throws {
        let tarball = try Fixtures.tarball(imdbFiles(), in: directory)
        let result = try Prep.run(readers: [IMDBReader(path: tarball)], configuration: Fixtures.configuration(output))
        XCTAssertEqual(result.manifest.labels, ["neg", "pos"])
        XCTAssertEqual(result.manifest.splits.map(\.name), ["train", "test"])
        XCTAssertEqual(result.manifest.split("train")?.labelCounts, [2, 2])
        let dataset = try PreparedDataset(directory: output)
        let train = try dataset.load(split: "train")
        let byID = Dictionary(uniqueKeysWithValues: (0..<train.count).map { (train.sources[$0], $0) })
        let first = byID[0]!
        XCTAssertEqual(train.labels[first], 1)
        XCTAssertEqual(train.ratings[first], 9)
        XCTAssertEqual(
            train.tokens(of: first).map { dataset.tokenizer.vocabulary.token($0) },
            ["a", "great", "film", "!", "great", "acting", "."])
        // "zebra" occurs only in test: it is not in the vocabulary.
        let test = try dataset.load(split: "test")
        let zebra = test.tokens(of: (0..<test.count).first { test.sources[$0] == 5 }!).map {
            dataset.tokenizer.vocabulary.token($0)
        }
        XCTAssertEqual(zebra, ["great", "fun", ",", "a", "<unk>", "!"])
        XCTAssertEqual(dataset.tokenizer.vocabulary.tokens.prefix(5), ["<pad>", "<start>", "<unk>", ".", "great"])

        let withUnsup = directory.appendingPathComponent("with-unsup")
        let second = try Prep.run(
            readers: [IMDBReader(path: tarball, includeUnlabeled: true)],
            configuration: Fixtures.configuration(withUnsup))
        XCTAssertEqual(second.manifest.split("unsup")?.examples, 1)
        XCTAssertEqual(second.manifest.split("unsup")?.labeled, false)
        // The vocabulary comes from the training split only.
        XCTAssertNil(try PreparedDataset(directory: withUnsup).tokenizer.vocabulary.id("unlabeled"))
    }

    func testIMDBBadArchivesFailWithTheFileAndLeaveNoOutput() throws {
        let notGzip = try Fixtures.write(
            "just some text, not an archive", to: directory.appendingPathComponent("plain.tar.gz"))
        Fixtures.assertDataError(["plain.tar.gz", "not a readable tar archive"]) {
            _ = try Prep.run(readers: [IMDBReader(path: notGzip)], configuration: Fixtures.configuration(self.output))
        }

        var big = imdbFiles()
        for i in 0..<200 { big["aclImdb/train/pos/\(100 + i)_8.txt"] = String(repeating: "word\(i) ", count: 400) }
        let tarball = try Fixtures.tarball(big, in: directory)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tarball))
        let truncated = try Fixtures.write("", to: directory.appendingPathComponent("truncated.tar.gz"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        Fixtures.assertDataError(["truncated.tar.gz", "truncated or corrupt"]) {
            _ = try Prep.run(readers: [IMDBReader(path: truncated)], configuration: Fixtures.configuration(self.output))
        }

        let wrongLayout = try Fixtures.tarball(["other/file.txt": "x"], in: directory, name: "other.tar.gz")
        Fixtures.assertDataError(["other.tar.gz", "no review files found"]) {
            _ = try Prep.run(
                readers: [IMDBReader(path: wrongLayout)], configuration: Fixtures.configuration(self.output))
        }
        let noTest = try Fixtures.tarball(["aclImdb/train/pos/0_9.txt": "good"], in: directory, name: "notest.tar.gz")
        Fixtures.assertDataError(["notest.tar.gz", "test split is empty"]) {
            _ = try Prep.run(readers: [IMDBReader(path: noTest)], configuration: Fixtures.configuration(self.output))
        }
        var badText = imdbFiles()
        badText["aclImdb/train/neg/9_2.txt"] = "bad \u{FFFF}"
        let badTarball = try Fixtures.tarball(badText, in: directory, name: "bad.tar.gz")
        try patchInvalidUTF8(tarballTree: badTarball)
        Fixtures.assertDataError(["missing.tar.gz", "not found"]) {
            _ = try IMDBReader(path: self.directory.appendingPathComponent("missing.tar.gz").path)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path)
        XCTAssertEqual(leftovers, [], "a failed run leaves nothing behind")
    }

    /// A review with bytes that are not UTF-8 is named in the error.
    func patchInvalidUTF8(tarballTree tarball: String) throws {
        let root = directory.appendingPathComponent("invalid-tree")
        let file = root.appendingPathComponent("aclImdb/train/neg/9_2.txt")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data([0x62, 0x61, 0x64, 0x20, 0xC3, 0x28]).write(to: file)
        let other = root.appendingPathComponent("aclImdb/test/pos/1_9.txt")
        try FileManager.default.createDirectory(
            at: other.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("fine".utf8).write(to: other)
        let path = directory.appendingPathComponent("invalid.tar.gz").path
        try Fixtures.run("/bin/tar", ["-czf", path, "-C", root.path, "."])
        Fixtures.assertDataError(["invalid.tar.gz", "aclImdb/train/neg/9_2.txt", "invalid UTF-8 at byte 4"]) {
            _ = try Prep.run(readers: [IMDBReader(path: path)], configuration: Fixtures.configuration(self.output))
        }
    }

    func testAGNewsOriginalAndHuggingFaceCSVGiveTheSameDataset() throws {
        let original = directory.appendingPathComponent("orig")
        let hf = directory.appendingPathComponent("hf")
        try FileManager.default.createDirectory(at: original, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: hf, withIntermediateDirectories: true)
        let trainOriginal = try Fixtures.write(
            "\"3\",\"Stocks rise\",\"Markets, up \"\"again\"\"\"\n\"2\",\"Team wins\",\"Final score 3-1\"\n",
            to: original.appendingPathComponent("train.csv"))
        let testOriginal = try Fixtures.write(
            "\"1\",\"Crème brûlée\",\"in Zürich\"\n", to: original.appendingPathComponent("test.csv"))
        let trainHF = try Fixtures.write(
            "text,label\n\"Stocks rise Markets, up \"\"again\"\"\",2\nTeam wins Final score 3-1,1\n",
            to: hf.appendingPathComponent("train.csv"))
        let testHF = try Fixtures.write(
            "text,label\r\nCrème brûlée in Zürich,0\r\n", to: hf.appendingPathComponent("test.csv"))
        _ = try Fixtures.write("W\nS\nB\nT\n", to: original.appendingPathComponent("classes.txt"))

        let a = directory.appendingPathComponent("a"), b = directory.appendingPathComponent("b")
        let first = try Prep.run(
            readers: [AGNewsCSVReader(path: trainOriginal), AGNewsCSVReader(path: testOriginal)],
            configuration: Fixtures.configuration(a, kind: .wordpiece))
        let second = try Prep.run(
            readers: [AGNewsCSVReader(path: trainHF), AGNewsCSVReader(path: testHF)],
            configuration: Fixtures.configuration(b, kind: .wordpiece))
        XCTAssertEqual(first.manifest.labels, ["W", "S", "B", "T"])
        XCTAssertEqual(second.manifest.labels, AGNewsCSVReader.defaultLabelNames)
        for split in ["train", "test"] {
            let x = try PreparedDataset(directory: a).load(split: split),
                y = try PreparedDataset(directory: b).load(split: split)
            XCTAssertEqual(x.tokens, y.tokens)
            XCTAssertEqual(x.labels, y.labels)
        }
        let test = try PreparedDataset(directory: a)
        XCTAssertEqual(
            try test.load(split: "test").tokens.map { test.tokenizer.vocabulary.token($0) },
            ["cr", "##eme", "br", "##ule", "##e", "in", "zurich"])
    }

    func testCSVErrorsNameFileAndLine() throws {
        func prep(_ text: String, name: String = "train.csv") throws {
            let path = try Fixtures.write(text, to: directory.appendingPathComponent(name))
            _ = try Prep.run(readers: [AGNewsCSVReader(path: path)], configuration: Fixtures.configuration(output))
        }
        Fixtures.assertDataError(["train.csv", "line 2", "unterminated"]) {
            try prep("\"1\",\"a\",\"b\"\n\"2\",\"open\n")
        }
        Fixtures.assertDataError(["train.csv", "line 2", "expected 3 columns", "found 2"]) {
            try prep("\"1\",\"a\",\"b\"\n\"2\",\"a\"\n")
        }
        Fixtures.assertDataError(["train.csv", "line 1", "label \"x\" is not a number", "1-4"]) {
            try prep("\"x\",\"a\",\"b\"\n")
        }
        Fixtures.assertDataError(["train.csv", "line 1", "label 5 is out of range"]) { try prep("\"5\",\"a\",\"b\"\n") }
        Fixtures.assertDataError(["train.csv", "line 2", "invalid UTF-8 at byte 1"]) { try self.prepInvalidUTF8() }
        Fixtures.assertDataError(["train.csv", "empty"]) { try prep("") }
        Fixtures.assertDataError(["train.csv", "train split is empty"]) { try prep("text,label\n") }
        Fixtures.assertDataError(["notes.csv", "cannot tell the split"]) {
            try prep("\"1\",\"a\",\"b\"\n", name: "notes.csv")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    func prepInvalidUTF8() throws {
        let path = directory.appendingPathComponent("train.csv")
        try Data(
            Array("\"1\",\"ok\",\"\"\n".utf8) + [
                0x22, 0x31, 0x22, 0x2C, 0x22, 0x61, 0xFF, 0x22, 0x2C, 0x22, 0x22, 0x0A,
            ]
        ).write(to: path)
        _ = try Prep.run(readers: [AGNewsCSVReader(path: path.path)], configuration: Fixtures.configuration(output))
    }

    func testTheSplitComesFromAnyWordOfTheFileName() throws {
        let named = [
            "train.csv": "train", "data/reviews-train.csv": "train", "train-00000-of-00001.parquet": "train",
            "imdb_test.csv": "test", "Test.CSV": "test", "dev.tsv": "validation", "news.validation.csv": "validation",
        ]
        for (path, split) in named { XCTAssertEqual(try splitName(for: path, override: nil), split, path) }
        XCTAssertEqual(try splitName(for: "notes.csv", override: "test"), "test")
        Fixtures.assertDataError(["notes.csv", "cannot tell the split", "train, test or validation"]) {
            _ = try splitName(for: "notes.csv", override: nil)
        }
        Fixtures.assertDataError(["train-test.csv", "several splits (test, train)", "--split"]) {
            _ = try splitName(for: "train-test.csv", override: nil)
        }
        // A word, not a part of one: "contest" and "trained" name no split.
        Fixtures.assertDataError(["contest-trained.csv", "cannot tell the split"]) {
            _ = try splitName(for: "contest-trained.csv", override: nil)
        }
    }

    func testGenericCSVLabelsComeFromTrainingAndUnseenTestLabelsFail() throws {
        let train = try Fixtures.write(
            "id,review,stars\n1,good,10\n2,bad,2\n3,okay,10\n", to: directory.appendingPathComponent("train.csv"))
        let test = try Fixtures.write("id,review,stars\n4,fine,2\n", to: directory.appendingPathComponent("test.csv"))
        let readers = try [train, test].map {
            try CSVTableReader(
                path: $0, split: nil, textColumn: .name("review"), labelColumn: .name("stars"), hasHeader: nil)
        }
        let result = try Prep.run(readers: readers, configuration: Fixtures.configuration(output))
        XCTAssertEqual(result.manifest.labels, ["2", "10"], "integer labels sort numerically")
        XCTAssertEqual(try PreparedDataset(directory: output).load(split: "train").labels, [1, 0, 1])

        let unseen = try Fixtures.write(
            "id,review,stars\n4,fine,2\n5,new,7\n", to: directory.appendingPathComponent("test2.csv"))
        let readers2 = try [train, unseen].map {
            try CSVTableReader(
                path: $0, split: $0.hasSuffix("train.csv") ? nil : "test", textColumn: .index(1),
                labelColumn: .index(2), hasHeader: true)
        }
        Fixtures.assertDataError(["test2.csv", "line 3", "label \"7\" does not occur in the training split"]) {
            _ = try Prep.run(
                readers: readers2, configuration: Fixtures.configuration(self.directory.appendingPathComponent("other"))
            )
        }
        Fixtures.assertDataError(["train.csv", "no column named \"text\"", "id, review, stars"]) {
            _ = try Prep.run(
                readers: [
                    try CSVTableReader(
                        path: train, split: nil, textColumn: .name("text"), labelColumn: .index(2), hasHeader: nil)
                ],
                configuration: Fixtures.configuration(self.directory.appendingPathComponent("x")))
        }
    }

    func testExistingOutputIsReplacedOnlyWithForceAndShardsAreBounded() throws {
        let tarball = try Fixtures.tarball(imdbFiles(), in: directory)
        _ = try Prep.run(
            readers: [IMDBReader(path: tarball)], configuration: Fixtures.configuration(output, shardSize: 1))
        XCTAssertEqual(try PreparedDataset(directory: output).manifest.split("train")?.shards.count, 4)
        Fixtures.assertDataError(["already exists", "--force"]) {
            _ = try Prep.run(readers: [IMDBReader(path: tarball)], configuration: Fixtures.configuration(self.output))
        }
        let replaced = try Prep.run(
            readers: [IMDBReader(path: tarball)], configuration: Fixtures.configuration(output, replace: true))
        XCTAssertEqual(replaced.manifest.split("train")?.shards.count, 1)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(),
            ["manifest.json", "test-00000.shard", "train-00000.shard", "vocab.txt"])
    }

    func testOutputIsByteIdenticalAcrossRunsWhateverTheThreadTiming() throws {
        // Hundreds of batches over several tokenizer workers; ties in word counts galore.
        var files: [String: String] = [:]
        for i in 0..<1_500 {
            let folder = ["train/pos", "train/neg", "test/pos", "test/neg"][i % 4]
            files["aclImdb/\(folder)/\(i)_\(1 + i % 10).txt"] = (0..<(5 + i % 40)).map { "w\(($0 * 7 + i) % 300)" }
                .joined(separator: " ")
        }
        let tarball = try Fixtures.tarball(files, in: directory)
        var outputs: [[String: Data]] = []
        // Run 1 holds everything in memory; runs 0 and 2 spill each stored run to disk and read it back.
        var summaries: [String] = []
        for (run, memory) in [1, 256 << 20, 1_000].enumerated() {
            let out = directory.appendingPathComponent("run\(run)")
            var configuration = Fixtures.configuration(out, vocabularySize: 100, shardSize: 200)
            configuration.memory = memory
            let summary = try Prep.run(readers: [IMDBReader(path: tarball)], configuration: configuration).summary
            summaries.append(summary.text.replacingOccurrences(of: #"time: .*"#, with: "", options: .regularExpression))
            XCTAssertFalse(
                try FileManager.default.contentsOfDirectory(atPath: out.path).contains { $0.hasPrefix(".") },
                "no spill file is left in the output")
            var contents: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: out.path) where name != "manifest.json" {
                contents[name] = try Data(contentsOf: out.appendingPathComponent(name))
            }
            outputs.append(contents)
        }
        XCTAssertEqual(outputs[0].count, 2 * 4 + 1)
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
        XCTAssertEqual(summaries[0], summaries[1])
        XCTAssertEqual(summaries[0], summaries[2])
        let train = try PreparedDataset(directory: directory.appendingPathComponent("run0")).load(split: "train")
        XCTAssertEqual(train.count, 750)
        // Reading order is kept: review ids appear as the archive lists them.
        XCTAssertEqual(Set(train.sources).count, 750)
    }

    func testPreparedDatasetRejectsTamperedFiles() throws {
        let tarball = try Fixtures.tarball(imdbFiles(), in: directory)
        _ = try Prep.run(readers: [IMDBReader(path: tarball)], configuration: Fixtures.configuration(output))
        let shard = output.appendingPathComponent("train-00000.shard")
        var bytes = try Data(contentsOf: shard)
        bytes[bytes.count - 10] ^= 0xFF
        try bytes.write(to: shard)
        Fixtures.assertDataError(["train-00000.shard", "checksum mismatch"]) {
            _ = try PreparedDataset(directory: self.output).load(split: "train")
        }
        // A valid shard from elsewhere is caught by the manifest's checksum.
        let other = directory.appendingPathComponent("other")
        _ = try Prep.run(
            readers: [IMDBReader(path: tarball)], configuration: Fixtures.configuration(other, vocabularySize: 3))
        try FileManager.default.removeItem(at: shard)
        try FileManager.default.copyItem(at: other.appendingPathComponent("train-00000.shard"), to: shard)
        Fixtures.assertDataError(["train-00000.shard"]) {
            _ = try PreparedDataset(directory: self.output).load(split: "train")
        }
        let manifest = try PreparedDataset(directory: output).manifest
        XCTAssertEqual(Set(manifest.splits.flatMap(\.shards).map(\.crc32)).count, 2, "each shard has its own checksum")
        try Data("x\n".utf8).write(to: output.appendingPathComponent("vocab.txt"), options: .atomic)
        Fixtures.assertDataError(["vocab.txt", "differs from the manifest"]) {
            _ = try PreparedDataset(directory: self.output)
        }
    }
}

/// The real datasets in $RNNKIT_DATA: counts from their README, and the two
/// AG News exports giving identical shards.
final class RealDataTests: XCTestCase {
    func testIMDBTarballCounts() throws {
        let output = try Fixtures.temporaryDirectory().appendingPathComponent("imdb")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        let result = try Prep.run(
            readers: [IMDBReader(path: TestData.file("aclImdb_v1.tar.gz").path)],
            configuration: Fixtures.configuration(output, vocabularySize: 5_000))
        XCTAssertEqual(result.manifest.split("train")?.examples, 25_000)
        XCTAssertEqual(result.manifest.split("test")?.examples, 25_000)
        XCTAssertEqual(result.manifest.split("train")?.labelCounts, [12_500, 12_500])
        XCTAssertEqual(result.manifest.split("test")?.labelCounts, [12_500, 12_500])
        XCTAssertEqual(result.manifest.tokenizer.vocabularySize, 5_003)
        let train = try PreparedDataset(directory: output).load(split: "train")
        XCTAssertEqual(
            Set(train.ratings.enumerated().filter { train.labels[$0.offset] == 1 }.map(\.element)), [7, 8, 9, 10])
        XCTAssertEqual(
            Set(train.ratings.enumerated().filter { train.labels[$0.offset] == 0 }.map(\.element)), [1, 2, 3, 4])
    }

    func testAGNewsCSVExportsMatchEachOtherAndTheReadme() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let original = try Prep.run(
            readers: [
                AGNewsCSVReader(path: TestData.file("agnews/train.csv").path),
                AGNewsCSVReader(path: TestData.file("agnews/test.csv").path),
            ],
            configuration: Fixtures.configuration(root.appendingPathComponent("a"), kind: .wordpiece))
        _ = try Prep.run(
            readers: [
                AGNewsCSVReader(path: TestData.file("agnews/hf/train.csv").path),
                AGNewsCSVReader(path: TestData.file("agnews/hf/test.csv").path),
            ],
            configuration: Fixtures.configuration(root.appendingPathComponent("b"), kind: .wordpiece))
        XCTAssertEqual(original.manifest.split("train")?.labelCounts, [3_000, 3_000, 3_000, 3_000])
        XCTAssertEqual(original.manifest.split("test")?.labelCounts, [1_900, 1_900, 1_900, 1_900])
        XCTAssertEqual(original.manifest.labels, ["World", "Sports", "Business", "Sci/Tech"])
        for split in ["train", "test"] {
            let a = try PreparedDataset(directory: root.appendingPathComponent("a")).load(split: split)
            let b = try PreparedDataset(directory: root.appendingPathComponent("b")).load(split: split)
            XCTAssertEqual(a.tokens, b.tokens, split)
            XCTAssertEqual(a.offsets, b.offsets, split)
            XCTAssertEqual(a.labels, b.labels, split)
        }
    }
}
