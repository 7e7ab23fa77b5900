import CZstd
import Foundation
import RNNSupport
import TestSupport
import XCTest

@testable import RNNData

/// Every input form (TSV, other delimiters, several text columns, JSON lines,
/// fastText, gzip and zstd) prepares exactly the dataset the plain CSV of the
/// same rows does.
final class FormatTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    struct Row {
        var title: String
        var body: String
        var label: String
    }

    /// Texts with commas, quotes, semicolons, non-ASCII and JSON-escaped characters, never a tab or a newline.
    func rows(_ count: Int, seed: Int) -> [Row] {
        let words = [
            "good", "bad", "film", "plot", "café", "\"quoted\"", "a,b", "semi;colon", "naïve", "ok", "x\\y", "🎬",
        ]
        let labels = ["neg", "pos", "mixed"]
        var state = UInt64(seed)
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<count).map { _ in
            Row(
                title: (0...next(3)).map { _ in words[next(words.count)] }.joined(separator: " "),
                body: (0...next(8)).map { _ in words[next(words.count)] }.joined(separator: " "),
                label: labels[next(labels.count)])
        }
    }

    func csvField(_ text: String, delimiter: String = ",") -> String {
        text.contains(delimiter) || text.contains("\"")
            ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    func jsonString(_ text: String) -> String {
        String(data: try! JSONSerialization.data(withJSONObject: [text], options: []), encoding: .utf8)!.dropFirst()
            .dropLast()
            .description
    }

    /// The files of one split in every form, keyed by form.
    func write(_ rows: [Row], split: String) throws -> [String: String] {
        var files: [String: String] = [:]
        func save(_ form: String, _ name: String, _ text: String) throws {
            files[form] = try Fixtures.write(text, to: directory.appendingPathComponent("\(form)-\(name)"))
        }
        try save(
            "csv", "\(split).csv",
            "text,label\n" + rows.map { csvField($0.title + " " + $0.body) + "," + $0.label + "\n" }.joined())
        try save(
            "columns", "\(split).csv",
            "title,body,label\n"
                + rows.map { csvField($0.title) + "," + csvField($0.body) + "," + $0.label + "\n" }.joined())
        try save(
            "tsv", "\(split).tsv", "label\ttext\n" + rows.map { "\($0.label)\t\($0.title) \($0.body)\r\n" }.joined())
        try save(
            "semicolon", "\(split).txt",
            "text;label\n"
                + rows.map { csvField($0.title + " " + $0.body, delimiter: ";") + ";" + $0.label + "\n" }.joined())
        try save(
            "jsonl", "\(split).jsonl",
            rows.map {
                "{\"id\": 7, \"meta\": {\"title\": \(jsonString($0.title)), \"tags\": [1, 2.5e3, null, true]}, "
                    + "\"body\": \(jsonString($0.body)), \"label\": [\"\($0.label)\"]}\n"
            }.joined())
        try save("fasttext", "\(split).txt", rows.map { "__label__\($0.label) \($0.title) \($0.body)\n" }.joined())
        return files
    }

    func prepare(_ readers: [ExampleReader], _ name: String) throws -> (Manifest, [String: Shard], Data) {
        let output = directory.appendingPathComponent("out-\(name)")
        let manifest = try Prep.run(readers: readers, configuration: Fixtures.configuration(output)).manifest
        let dataset = try PreparedDataset(directory: output)
        var shards: [String: Shard] = [:]
        for split in ["train", "test"] {
            var shard = try dataset.load(split: split)
            shard.sources = []  // line numbers differ between forms (a header, or none)
            shards[split] = shard
        }
        return (manifest, shards, try Data(contentsOf: output.appendingPathComponent("vocab.txt")))
    }

    func reader(_ form: String, _ path: String, split: String) throws -> ExampleReader {
        switch form {
        case "csv":
            return try CSVTableReader(
                path: path, split: split, textColumn: .name("text"), labelColumn: .name("label"), hasHeader: nil)
        case "columns":
            return try CSVTableReader(
                path: path, split: split, textColumns: [.name("title"), .name("body")], labelColumn: .index(2),
                hasHeader: true)
        case "tsv":
            return try CSVTableReader(
                path: path, split: split, textColumns: [.index(1)], labelColumn: .name("label"), hasHeader: true,
                delimiter: 0x09, quoted: false)
        case "semicolon":
            return try CSVTableReader(
                path: path, split: split, textColumns: [.name("text")], labelColumn: .name("label"), hasHeader: nil,
                delimiter: UInt8(ascii: ";"))
        case "jsonl":
            return try JSONLinesReader(
                path: path, split: split, textFields: ["meta.title", "body"], labelField: "label")
        case "fasttext": return try FastTextReader(path: path, split: split)
        default: fatalError(form)
        }
    }

    func zstd(_ data: Data) -> Data {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(data.count))
        let written = data.withUnsafeBytes { ZSTD_compress(&output, output.count, $0.baseAddress, data.count, 3) }
        precondition(ZSTD_isError(written) == 0)
        return Data(output[..<written])
    }

    func gzip(_ path: String) throws -> Data { try TestData.gzip(["-c", "-n", path]) }

    func testEveryFormAndCompressionEqualsTheCSV() throws {
        let train = try write(rows(120, seed: 1), split: "train")
        let test = try write(rows(40, seed: 2), split: "test")
        let reference = try prepare(
            [try reader("csv", train["csv"]!, split: "train"), try reader("csv", test["csv"]!, split: "test")], "csv")
        XCTAssertEqual(reference.0.labels, ["mixed", "neg", "pos"])
        XCTAssertGreaterThan(reference.1["train"]!.tokens.count, 400)
        for form in ["columns", "tsv", "semicolon", "jsonl", "fasttext"] {
            let prepared = try prepare(
                [try reader(form, train[form]!, split: "train"), try reader(form, test[form]!, split: "test")], form)
            XCTAssertEqual(prepared.0.labels, reference.0.labels, form)
            XCTAssertEqual(prepared.1, reference.1, form)
            XCTAssertEqual(prepared.2, reference.2, form)
        }
        // Compressed copies, named without a hint: the bytes tell. A gzip of two
        // members (as `cat a.gz b.gz` makes) is one stream of both.
        for form in ["csv", "jsonl", "fasttext"] {
            let plain = try Data(contentsOf: URL(fileURLWithPath: train[form]!))
            let half = plain.prefix(plain.count / 2)
            let firstHalf = try Fixtures.write(
                String(decoding: half, as: UTF8.self), to: directory.appendingPathComponent("h1"))
            let secondHalf = try Fixtures.write(
                String(decoding: plain.dropFirst(half.count), as: UTF8.self), to: directory.appendingPathComponent("h2")
            )
            let compressed: [String: Data] = [
                "gzip": try gzip(train[form]!), "zstd": zstd(plain),
                "gzip-members": try gzip(firstHalf) + gzip(secondHalf),
            ]
            for (compression, bytes) in compressed {
                let path = directory.appendingPathComponent("\(compression)-\(form)-train.data").path
                try bytes.write(to: URL(fileURLWithPath: path))
                XCTAssertNotEqual(bytes, plain)
                let prepared = try prepare(
                    [try reader(form, path, split: "train"), try reader(form, test[form]!, split: "test")],
                    "\(compression)-\(form)")
                XCTAssertEqual(prepared.1, reference.1, "\(compression) \(form)")
                XCTAssertEqual(prepared.2, reference.2, "\(compression) \(form)")
            }
        }
    }

    /// Blocks end on record boundaries wherever the block size falls, even
    /// inside quoted fields holding newlines, and grow for a record longer than a block.
    func testRecordBlocksNeverCutARecord() throws {
        let text = "a,b\n\"multi\nline, \"\"quoted\"\"\",1\n" + String(repeating: "x", count: 40) + ",2\r\n\nlast,3"
        let path = try Fixtures.write(text, to: directory.appendingPathComponent("blocks.csv"))
        func records(blockSize: Int) throws -> [[String]] {
            var result: [[String]] = []
            var fields: [[UInt8]] = []
            var lines: [Int] = []
            try RecordBlocks.read(path: path, quoted: true, blockSize: blockSize, progress: { _ in }) { block in
                var parser = CSVParser(block: block, file: path)
                while try parser.next(into: &fields) {
                    result.append(fields.map { String(decoding: $0, as: UTF8.self) })
                    lines.append(parser.line)
                }
            }
            XCTAssertEqual(lines, [1, 2, 4, 6], "block size \(blockSize)")
            return result
        }
        let whole = try records(blockSize: 1 << 20)
        XCTAssertEqual(
            whole,
            [["a", "b"], ["multi\nline, \"quoted\"", "1"], [String(repeating: "x", count: 40), "2"], ["last", "3"]])
        for blockSize in [1, 2, 3, 5, 8, 13, 33] { XCTAssertEqual(try records(blockSize: blockSize), whole) }
    }

    /// The eight-bytes-at-a-time scan agrees with a byte-by-byte one on random text.
    func testRecordBoundaryEqualsAByteByByteScan() {
        var state: UInt64 = 7
        for length in 0..<300 {
            let bytes: [UInt8] = (0..<length).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1
                return [0x0A, 0x22, 0x61, 0x62, 0x2C, 0x0D, 0xC3, 0x20][Int(state >> 61)]
            }
            for quoted in [false, true] {
                var end = 0, lines = 0, all = 0, inside = false
                for (index, byte) in bytes.enumerated() {
                    if byte == 0x22 && quoted { inside.toggle() }
                    if byte == 0x0A {
                        all += 1
                        if !inside { (end, lines) = (index + 1, all) }
                    }
                }
                let scanned = bytes.withUnsafeBufferPointer { RecordBlocks.recordBoundary($0, quoted: quoted) }
                XCTAssertTrue(scanned == (end, lines, all), "length \(length), quoted \(quoted)")
            }
        }
    }

    func testMalformedInputsNameFileAndLineAndLeaveNoOutput() throws {
        let good = try Fixtures.write(
            "{\"text\": \"fine\", \"label\": 1}\n", to: directory.appendingPathComponent("test.jsonl"))
        func assertFails(_ fragments: [String], _ readers: () throws -> [ExampleReader], line: UInt = #line) {
            let output = directory.appendingPathComponent("never")
            Fixtures.assertDataError(fragments, line: line) {
                _ = try Prep.run(readers: try readers(), configuration: Fixtures.configuration(output))
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), line: line)
        }
        func jsonl(_ text: String) throws -> [ExampleReader] {
            let path = try Fixtures.write(text, to: directory.appendingPathComponent("train.jsonl"))
            return [
                try JSONLinesReader(path: path, split: nil, textFields: ["text"], labelField: "label"),
                try JSONLinesReader(path: good, split: nil, textFields: ["text"], labelField: "label"),
            ]
        }
        let valid = "{\"text\": \"good\", \"label\": 1}\n"
        assertFails(["train.jsonl", "line 2, column 26", "expected a value"]) {
            try jsonl(valid + "{\"text\": \"bad\", \"label\": }\n")
        }
        assertFails(["train.jsonl", "line 3", "unterminated string"]) { try jsonl(valid + "\n{\"text\": \"bad}\n") }
        assertFails(["train.jsonl", "line 2", "no field \"text\""]) {
            try jsonl(valid + "{\"body\": \"x\", \"label\": 1}\n")
        }
        assertFails(["train.jsonl", "line 2", "field \"text\" is a number"]) {
            try jsonl(valid + "{\"text\": 5, \"label\": 1}\n")
        }
        assertFails(["train.jsonl", "line 2", "no label"]) { try jsonl(valid + "{\"text\": \"x\"}\n") }
        assertFails(["train.jsonl", "line 2", "expected a JSON object per line, found an array"]) {
            try jsonl(valid + "[1]\n")
        }
        assertFails(["train.jsonl", "line 1", "no label (field \"label\" is an empty array"]) {
            try jsonl("{\"text\": \"x\", \"label\": []}\n")
        }
        assertFails(["train.jsonl", "line 1", "field \"label\" holds an array inside an array"]) {
            try jsonl("{\"text\": \"x\", \"label\": [1, [2]]}\n")
        }
        assertFails(["train.jsonl", "line 1", "nested deeper than 128"]) {
            try jsonl(String(repeating: "[", count: 100_000) + "\n")
        }

        // A first line that is not a header can be megabytes long: the message names it in a few words.
        let wide = try Fixtures.write(
            String(repeating: "x", count: 100_000) + "," + String(repeating: ",", count: 30) + "\n",
            to: directory.appendingPathComponent("wide-train.csv"))
        do {
            try CSVTableReader(
                path: wide, split: nil, textColumns: [.name("text")], labelColumn: .index(1), hasHeader: true
            ).read(progress: { _ in }) { _ in }
            XCTFail("a missing column was not reported")
        } catch let error as DataError {
            XCTAssertTrue(error.description.contains("no column named \"text\" (found: xxx"), error.description)
            XCTAssertTrue(error.description.hasSuffix("… (32 columns))"), error.description)
            XCTAssertLessThan(error.description.count, 300, error.description)
        }

        let fastText = try Fixtures.write(
            "__label__a fine\nno label here\n", to: directory.appendingPathComponent("train.txt"))
        assertFails(["train.txt", "line 2", "no label (expected __label__<name> before the text)"]) {
            [try FastTextReader(path: fastText, split: nil)]
        }

        let rows = (0..<2000).map { "{\"text\": \"row \($0)\", \"label\": \($0 % 2)}\n" }.joined()
        let plain = try Fixtures.write(rows, to: directory.appendingPathComponent("rows"))
        let compressed = try gzip(plain)
        let truncated = directory.appendingPathComponent("train.jsonl.gz")
        try compressed.prefix(compressed.count - 30).write(to: truncated)
        assertFails(["train.jsonl.gz", "line 1", "truncated gzip data"]) {
            [
                try JSONLinesReader(path: truncated.path, split: nil, textFields: ["text"], labelField: "label"),
                try JSONLinesReader(path: good, split: nil, textFields: ["text"], labelField: "label"),
            ]
        }
        var corrupt = compressed
        corrupt[corrupt.count / 2] ^= 0xFF
        try corrupt.write(to: truncated)
        assertFails(["train.jsonl.gz", "corrupt gzip data"]) {
            [try JSONLinesReader(path: truncated.path, split: nil, textFields: ["text"], labelField: "label")]
        }
    }

    func testJSONValues() throws {
        func parse(_ text: String) throws -> JSONValue {
            try Array(text.utf8).withUnsafeBufferPointer { try JSONParser.parse($0) }
        }
        XCTAssertEqual(
            try parse(#" {"a": {"b": ["x\u00e9\ud83c\udfac\n\"", -0.5e+3, false]}, "c": null} "#),
            .object([
                ("a", .object([("b", .array([.string(Array("xé🎬\n\"".utf8)), .number("-0.5e+3"), .bool(false)]))])),
                ("c", .null),
            ]))
        XCTAssertEqual(try parse(#"{"a": {"b": [1, "two"]}}"#).value(at: ["a", "b", "1"]), .string(Array("two".utf8)))
        XCTAssertEqual(try parse(#""\udc00""#), .string(Array("\u{FFFD}".utf8)))
        for bad in ["{\"a\" 1}", "[1,]", "01", "\"a\tb\"", "tru", "{} x", "\"\\q\"", "1.", "-", "\"\\u12\""] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }
}
