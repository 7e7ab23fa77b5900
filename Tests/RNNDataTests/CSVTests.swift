import RNNSupport
import XCTest

@testable import RNNData

final class CSVTests: XCTestCase {
    func records(_ text: String) throws -> [[String]] {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer in
            var parser = CSVParser(block: RecordBlock(bytes: buffer, firstLine: 1, isFirst: true), file: "f.csv")
            var fields: [[UInt8]] = []
            var out: [[String]] = []
            while try parser.next(into: &fields) { out.append(fields.map { String(decoding: $0, as: UTF8.self) }) }
            return out
        }
    }

    func testQuotesNewlinesAndLineEndings() throws {
        XCTAssertEqual(
            try records("a,b\r\n\"x, \"\"y\"\"\",\"multi\nline\"\n\n3,\n"),
            [["a", "b"], ["x, \"y\"", "multi\nline"], ["3", ""]])
        XCTAssertEqual(try records("\u{FEFF}h\nv"), [["h"], ["v"]])
        XCTAssertEqual(try records(""), [])
    }

    func testErrorsNameTheLine() {
        Fixtures.assertDataError(["f.csv", "line 2", "unterminated quoted field"]) {
            _ = try records("a,b\n\"open,x\nmore\n")
        }
        Fixtures.assertDataError(["f.csv", "line 1", "after a closing quote"]) { _ = try records("\"a\"b,c\n") }
        Fixtures.assertDataError(["f.csv", "line 3", "quote inside an unquoted field"]) {
            _ = try records("a\nb\nc\"d\n")
        }
    }
}
