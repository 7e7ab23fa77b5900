import Foundation
import RNNData
import TestSupport
import XCTest

@testable import RNNText

/// Every line of Hugging Face's reference ids for the AG News rows must come out
/// of our WordPiece tokenizer unchanged, whether it was read from BERT's
/// vocab.txt or from its tokenizer.json.
final class WordPieceGoldenTests: XCTestCase {
    static func bertTokenizer(_ file: String = "vocab.txt") throws -> Tokenizer {
        let loaded = try HuggingFaceTokenizer.load(
            path: try TestData.file("bert-base-uncased/\(file)").path, options: .init())
        return try Tokenizer(
            spec: TokenizerSpec(kind: .wordpiece, wordPiece: loaded.options), vocabulary: loaded.vocabulary)
    }

    func testEveryGoldenLineMatchesHuggingFace() throws {
        try checkGoldenLines(try Self.bertTokenizer())
    }

    func testEveryGoldenLineMatchesHuggingFaceFromTokenizerJSON() throws {
        try checkGoldenLines(try Self.bertTokenizer("tokenizer.json"))
    }

    func checkGoldenLines(_ tokenizer: Tokenizer) throws {
        var checked = 0
        for split in ["train", "test"] {
            let texts = try CSVRows.hfExportTexts(TestData.file("agnews/hf/\(split).csv"))
            let golden = String(
                decoding: try TestData.gunzip(TestData.file("agnews/golden/\(split).bert-base-uncased.ids.gz")),
                as: UTF8.self
            )
            .split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertGreaterThanOrEqual(golden.count, texts.count)
            var mismatches = 0
            for (row, text) in texts.enumerated() {
                let expected = golden[row].split(separator: " ").map { Int32($0)! }
                let actual = tokenizer.encodeWithMarkers(text)
                if actual != expected {
                    mismatches += 1
                    if mismatches <= 5 {
                        XCTFail("\(split) row \(row + 1): \(text)\n expected \(expected)\n actual   \(actual)")
                    }
                }
                checked += 1
            }
            XCTAssertEqual(mismatches, 0, "\(split): \(mismatches) of \(texts.count) lines differ")
        }
        XCTAssertEqual(checked, 19_600)
    }
}

/// A minimal CSV reader for the test's own use, independent of the product's
/// reader so that a bug there cannot hide a bug in the tokenizer.
enum CSVRows {
    static func hfExportTexts(_ url: URL) throws -> [String] {
        let bytes = Array(try Data(contentsOf: url))
        var rows: [[String]] = []
        var field: [UInt8] = [], row: [String] = []
        var inQuotes = false, i = 0
        while i < bytes.count {
            let b = bytes[i]
            if inQuotes {
                if b == 0x22 {
                    if i + 1 < bytes.count && bytes[i + 1] == 0x22 {
                        field.append(0x22); i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(b)
                }
            } else if b == 0x22 {
                inQuotes = true
            } else if b == 0x2C {
                row.append(String(decoding: field, as: UTF8.self)); field = []
            } else if b == 0x0A {
                row.append(String(decoding: field, as: UTF8.self)); field = []; rows.append(row); row = []
            } else if b != 0x0D {
                field.append(b)
            }
            i += 1
        }
        if !field.isEmpty || !row.isEmpty { row.append(String(decoding: field, as: UTF8.self)); rows.append(row) }
        return rows.dropFirst().map { $0[0] }
    }
}
