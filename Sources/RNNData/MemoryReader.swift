import Foundation
import RNNSupport

/// Rows a program holds in memory (a DataFrame, a list of records) as one
/// input: the texts and labels a CSV file would give, row by row, so that the
/// shards are those `prep csv` writes from the same rows saved as a file.
public struct MemoryReader: ExampleReader {
    public struct Row {
        public var text: [UInt8]
        /// As written; trimmed and required as in a CSV label column.
        public var label: [UInt8]
        public var split: String

        public init(text: [UInt8], label: [UInt8], split: String) {
            self.text = text
            self.label = label
            self.split = split
        }
    }

    public let inputDescription: String
    public let rows: [Row]
    public var labelNames: [String]? { nil }
    public let splits: [String]
    public let totalBytes: Int64

    public init(description: String, rows: [Row]) {
        inputDescription = description
        self.rows = rows
        var seen = Set<String>()
        splits = rows.map(\.split).filter { seen.insert($0).inserted }
        totalBytes = rows.reduce(0) { $0 + Int64($1.text.count + $1.label.count) }
    }

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        var done: Int64 = 0
        for (index, row) in rows.enumerated() {
            let place = "row \(index) (\(row.split))"
            try validateUTF8(row.text, file: inputDescription, place: place)
            try validateUTF8(row.label, file: inputDescription, place: place)
            let label = String(decoding: row.label, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard !label.isEmpty else { throw DataError(file: inputDescription, place: place, "empty label") }
            try body(
                RawExample(
                    split: row.split, text: row.text, label: .name(label), source: UInt32(truncatingIfNeeded: index)))
            done += Int64(row.text.count + row.label.count)
            if index % 4096 == 0 { progress(done) }
        }
        progress(done)
        return 0
    }
}
