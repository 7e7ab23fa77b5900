import Foundation
import RNNParquet
import XCTest

/// The Parquet reader on files from pyarrow (every codec, page versions 1 and 2,
/// dictionary on and off, many row groups, nulls), polars, DuckDB and fastparquet
/// (Tools/fixtures/parquet.py), and on bad input.
final class ParquetFileTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parquet")

    struct Expected: Decodable {
        var texts: [String?]
        var labels: [Label]
        enum Label: Decodable, Equatable {
            case number(Int64), text(String)
            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let number = try? container.decode(Int64.self) {
                    self = .number(number)
                } else {
                    self = .text(try container.decode(String.self))
                }
            }
        }
    }

    func testEveryWriterAndOptionDecodesToTheExpectedRows() throws {
        let expected = try JSONDecoder().decode(
            [String: Expected].self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
        XCTAssertGreaterThanOrEqual(expected.count, 20)
        for (name, rows) in expected.sorted(by: { $0.key < $1.key }) {
            let file = try ParquetFile(path: Self.fixtures.appendingPathComponent(name).path)
            let text = try XCTUnwrap(file.columnIndex("text"), name),
                label = try XCTUnwrap(file.columnIndex("label"), name)
            var texts: [String?] = [], labels: [Expected.Label] = []
            for group in 0..<file.rowGroupSizes.count {
                guard case .byteArrays(let values) = try file.read(rowGroup: group, column: text) else {
                    return XCTFail("\(name): text is not bytes")
                }
                texts += values.map { $0.map { String(decoding: $0, as: UTF8.self) } }
                switch try file.read(rowGroup: group, column: label) {
                case .integers(let values): labels += values.map { .number($0!) }
                case .byteArrays(let values): labels += values.map { .text(String(decoding: $0!, as: UTF8.self)) }
                case .booleans: XCTFail("\(name): unexpected booleans")
                }
            }
            XCTAssertEqual(texts, rows.texts, name)
            XCTAssertEqual(labels, rows.labels, name)
        }
    }

    func testBadFilesFailWithTheirPlace() throws {
        let good = try Data(contentsOf: Self.fixtures.appendingPathComponent("pyarrow-snappy-v1-dict.parquet"))
        func open(_ bytes: Data) throws -> ParquetFile {
            try Array(bytes).withUnsafeBytes { try ParquetFile(bytes: $0, name: "f.parquet") }
        }
        func assertFails(_ bytes: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            do {
                let parquet = try open(bytes)
                for group in 0..<parquet.rowGroupSizes.count {
                    for column in 0..<parquet.columns.count { _ = try parquet.read(rowGroup: group, column: column) }
                }
                XCTFail("expected an error mentioning \(fragment)", file: file, line: line)
            } catch let error as ParquetError {
                XCTAssertTrue(
                    error.description.contains(fragment), "\(error) lacks \(fragment)", file: file, line: line)
            } catch {
                XCTFail("\(error)", file: file, line: line)
            }
        }
        assertFails(Data("PAR1".utf8), "too short")
        assertFails(Data("not parquet at all".utf8), "bad magic at the start")
        assertFails(Data(("XXXX" + String(repeating: "x", count: 40) + "PAR1").utf8), "bad magic at the start")
        assertFails(good.prefix(good.count - 1), "bad magic at the end")
        assertFails(good.prefix(good.count / 2), "bad magic at the end")
        var longFooter = good
        longFooter.replaceSubrange(good.count - 8..<good.count - 4, with: [0xFF, 0xFF, 0xFF, 0x7F])
        assertFails(longFooter, "footer length")
        var brokenFooter = good
        let footerLength = Int(good[good.count - 8]) | Int(good[good.count - 7]) << 8
        for i in good.count - 8 - footerLength..<good.count - 8 { brokenFooter[i] = 0xFF }
        assertFails(brokenFooter, "corrupt footer")
        var brokenPage = good
        for i in 200..<260 { brokenPage[i] ^= 0x5A }
        assertFails(brokenPage, "row group 0, column")
        do {
            let brotli = try ParquetFile(path: Self.fixtures.appendingPathComponent("unsupported-brotli.parquet").path)
            XCTAssertThrowsError(try brotli.read(rowGroup: 0, column: 0)) { error in
                XCTAssertTrue(
                    "\(error)".contains("row group 0, column text, page 0: compression codec BROTLI is not supported"),
                    "\(error)")
            }
        }
        XCTAssertThrowsError(
            try ParquetFile(path: Self.fixtures.appendingPathComponent("unsupported-nested.parquet").path)
        ) { error in
            XCTAssertTrue("\(error)".contains("column text is"), "\(error)")
        }
        let delta = try ParquetFile(path: Self.fixtures.appendingPathComponent("unsupported-delta.parquet").path)
        XCTAssertThrowsError(try delta.read(rowGroup: 0, column: 0)) { error in
            XCTAssertTrue(
                "\(error)".contains("row group 0, column text, page 0: encoding deltaLengthByteArray is not supported"),
                "\(error)")
        }
        let double = try ParquetFile(path: Self.fixtures.appendingPathComponent("unsupported-double.parquet").path)
        XCTAssertThrowsError(try double.read(rowGroup: 0, column: double.columnIndex("label")!)) { error in
            XCTAssertTrue(
                "\(error)".contains("column label, page 0: physical type double is not supported"), "\(error)")
        }
        // Every truncation of a real file is refused, never a crash.
        for length in stride(from: 0, to: good.count, by: 97) { XCTAssertThrowsError(try open(good.prefix(length))) }
    }

    /// The Hugging Face Parquet export gives exactly the shards of the CSV export of the same rows.
}
