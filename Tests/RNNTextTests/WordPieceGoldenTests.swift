import Foundation
import TestSupport
import XCTest

@testable import RNNText

/// Every line of Hugging Face's reference ids for the AG News rows must come out
/// of our WordPiece tokenizer unchanged.
final class WordPieceGoldenTests: XCTestCase {
    static func bertTokenizer() throws -> Tokenizer {
        let vocabulary = try Vocabulary(
            fileBytes: Array(try Data(contentsOf: TestData.file("bert-base-uncased/vocab.txt"))))
        return try Tokenizer(spec: TokenizerSpec(kind: .wordpiece, wordPiece: .init()), vocabulary: vocabulary)
    }

    func testEveryGoldenLineMatchesHuggingFace() throws {
        let tokenizer = try Self.bertTokenizer()
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
