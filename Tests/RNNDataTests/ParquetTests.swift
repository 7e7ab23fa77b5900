import Foundation
import RNNParquet
import RNNSupport
import TestSupport
import XCTest

@testable import RNNData

/// Prep's Parquet tables: Hugging Face label names, null texts, and the real AG News export.
final class ParquetTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parquet")

    func testPrepReadsHuggingFaceNamesAndSkipsNullTexts() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = directory.appendingPathComponent("train.parquet")
        try FileManager.default.copyItem(
            at: Self.fixtures.appendingPathComponent("huggingface-classlabel.parquet"), to: train)
        let reader = try ParquetTableReader(
            path: train.path, split: nil, textColumns: [.name("text")], labelColumn: .name("label"))
        XCTAssertEqual(reader.labelNames, ["World", "Sports", "Business", "Sci/Tech"])
        let nulls = directory.appendingPathComponent("test.parquet")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("pyarrow-nulls.parquet"), to: nulls)
        var count = 0
        let skipped = try ParquetTableReader(
            path: nulls.path, split: nil, textColumns: [.name("text")], labelColumn: .name("label")
        )
        .read(progress: { _ in }) { _ in count += 1 }
        XCTAssertEqual(count, 300 - 18)
        XCTAssertEqual(skipped, 18, "18 of 300 texts are null and skipped")
        let summary = try Prep.run(
            readers: [
                ParquetTableReader(
                    path: train.path, split: nil, textColumns: [.name("text")], labelColumn: .name("label")),
                ParquetTableReader(
                    path: nulls.path, split: nil, textColumns: [.name("text")], labelColumn: .name("label"),
                    fallbackNames: ["World", "Sports", "Business", "Sci/Tech"]),
            ],
            configuration: Fixtures.configuration(directory.appendingPathComponent("out"))
        ).summary.text
        XCTAssertTrue(summary.contains("skipped: 18 rows of \(nulls.path) whose text is null"), summary)
        Fixtures.assertDataError(["test.parquet", "row group 0, row 5", "null text"]) {
            try ParquetTableReader(
                path: nulls.path, split: nil, textColumns: [.name("text")], labelColumn: .name("label"), strict: true
            )
            .read(progress: { _ in }) { _ in }
        }
        Fixtures.assertDataError(["train.parquet", "no column named \"body\"", "text, label"]) {
            _ = try ParquetTableReader(
                path: train.path, split: nil, textColumns: [.name("body")], labelColumn: .name("label"))
        }
    }

    /// Several text columns are joined with a space, as the CSV reader joins them.
    func testSeveralTextColumnsAreJoinedAsInCSV() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let columns: [ColumnReference] = [.name("text"), .index(0)]
        var parquetTexts: [[UInt8]] = [], csvTexts: [[UInt8]] = []
        try ParquetTableReader(
            path: TestData.file("agnews/hf/test-00000-of-00001.parquet").path, split: nil, textColumns: columns,
            labelColumn: .name("label")
        ).read(progress: { _ in }) { parquetTexts.append($0.text) }
        try CSVTableReader(
            path: TestData.file("agnews/hf/test.csv").path, split: nil, textColumns: columns,
            labelColumn: .name("label"), hasHeader: true
        ).read(progress: { _ in }) { csvTexts.append($0.text) }
        XCTAssertEqual(parquetTexts.count, 7_600)
        XCTAssertEqual(parquetTexts, csvTexts)
        let first = String(decoding: parquetTexts[0], as: UTF8.self)
        let half = first.prefix(first.count / 2)
        XCTAssertTrue(first.hasSuffix(" " + half), "the text twice, joined by a space")
    }

    func testAGNewsParquetEqualsTheCSVExport() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let parquet = try Prep.run(
            readers: ["train", "test"].map {
                try ParquetTableReader(
                    path: TestData.file("agnews/hf/\($0)-00000-of-00001.parquet").path, split: nil,
                    textColumns: [.name("text")], labelColumn: .name("label"),
                    fallbackNames: AGNewsCSVReader.defaultLabelNames)
            }, configuration: Fixtures.configuration(root.appendingPathComponent("pq"), kind: .wordpiece))
        let csv = try Prep.run(
            readers: ["train", "test"].map { try AGNewsCSVReader(path: TestData.file("agnews/hf/\($0).csv").path) },
            configuration: Fixtures.configuration(root.appendingPathComponent("csv"), kind: .wordpiece))
        XCTAssertEqual(parquet.manifest.labels, csv.manifest.labels)
        XCTAssertEqual(parquet.manifest.split("train")?.examples, 12_000)
        XCTAssertEqual(parquet.manifest.split("test")?.examples, 7_600)
        for split in ["train", "test"] {
            let a = try PreparedDataset(directory: root.appendingPathComponent("pq")).load(split: split)
            let b = try PreparedDataset(directory: root.appendingPathComponent("csv")).load(split: split)
            XCTAssertEqual(a.tokens, b.tokens, split)
            XCTAssertEqual(a.offsets, b.offsets, split)
            XCTAssertEqual(a.labels, b.labels, split)
        }
    }
}
