import Foundation
import RNNSupport

/// Which split a file holds: named by a flag, else by a word of the file name
/// (`train.csv`, `reviews-train.csv`, `train-00000-of-00001.parquet`, `imdb_test.csv`;
/// `validation`, `valid` or `dev` for a validation split).
public func splitName(for path: String, override: String?) throws -> String {
    if let override { return override }
    let words = URL(fileURLWithPath: path).lastPathComponent.lowercased()
        .split { !$0.isLetter }.map(String.init)
    let splits = Set(
        words.compactMap {
            [
                "train": "train", "test": "test", "validation": "validation",
                "valid": "validation", "dev": "validation",
            ][$0]
        })
    guard splits.count == 1, let split = splits.first else {
        throw DataError(
            file: path,
            splits.isEmpty
                ? "cannot tell the split from the file name (expected a word train, test or validation in it, or pass --split)"
                : "the file name names several splits (\(splits.sorted().joined(separator: ", "))): pass --split")
    }
    return split
}

/// AG News as the original CSV (no header; class 1-4, title, description) or
/// as the Hugging Face CSV export (header `text,label`, labels 0-3).
/// A CSV reader parses its memory-mapped file in one pass.
protocol MappedCSVReader: ExampleReader {
    var path: String { get }
    func parse(_ bytes: UnsafeBufferPointer<UInt8>, progress: (Int64) -> Void, _ body: (RawExample) throws -> Void)
        throws
}

extension MappedCSVReader {
    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        try MappedFile(path: path).withBytes { try parse($0, progress: progress, body) }
        return 0
    }
}

public struct AGNewsCSVReader: MappedCSVReader {
    public static let defaultLabelNames = ["World", "Sports", "Business", "Sci/Tech"]
    public let path: String
    public let split: String
    public let labelNames: [String]?
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    public init(path: String, split: String? = nil) throws {
        self.path = path
        self.split = try splitName(for: path, override: split)
        self.totalBytes = try fileSize(path)
        let classesFile = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("classes.txt")
            .path
        if let classes = try? String(contentsOfFile: classesFile, encoding: .utf8) {
            let names = classes.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            guard names.count == 4 else {
                throw DataError(file: classesFile, "expected 4 class names, one per line; found \(names.count)")
            }
            labelNames = names
        } else {
            labelNames = Self.defaultLabelNames
        }
    }

    func parse(_ bytes: UnsafeBufferPointer<UInt8>, progress: (Int64) -> Void, _ body: (RawExample) throws -> Void)
        throws
    {
        var parser = CSVParser(bytes: bytes, file: path)
        var fields: [[UInt8]] = []
        guard try parser.next(into: &fields) else {
            throw DataError(file: path, "the file is empty (expected AG News CSV rows)")
        }
        let isHuggingFaceExport =
            fields.count == 2 && fields[0] == Array("text".utf8) && fields[1] == Array("label".utf8)
        let columns = isHuggingFaceExport ? 2 : 3
        if isHuggingFaceExport { guard try parser.next(into: &fields) else { return } }
        var row: UInt32 = 0
        repeat {
            let place = "line \(parser.line)"
            guard fields.count == columns else {
                throw DataError(
                    file: path, place: place,
                    "expected \(columns) columns (\(isHuggingFaceExport ? "text,label" : "class,title,description")), found \(fields.count)"
                )
            }
            let text: [UInt8]
            let label: Int
            if isHuggingFaceExport {
                text = fields[0]
                label = try parseLabel(fields[1], range: 0...3, file: path, place: place)
            } else {
                text = fields[1] + [0x20] + fields[2]
                label = try parseLabel(fields[0], range: 1...4, file: path, place: place) - 1
            }
            try validateUTF8(text, file: path, place: place)
            try body(RawExample(split: split, text: text, label: .index(label), source: UInt32(parser.line)))
            row += 1
            if row % 4096 == 0 { progress(Int64(parser.offset)) }
        } while try parser.next(into: &fields)
        progress(totalBytes)
    }
}

func parseLabel(_ field: [UInt8], range: ClosedRange<Int>, file: String, place: String) throws -> Int {
    let text = String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    guard let value = Int(text) else {
        throw DataError(
            file: file, place: place,
            "label \"\(text)\" is not a number (expected \(range.lowerBound)-\(range.upperBound))")
    }
    guard range.contains(value) else {
        throw DataError(
            file: file, place: place,
            "label \(value) is out of range (expected \(range.lowerBound)-\(range.upperBound))")
    }
    return value
}

/// A column named by its header or by its 0-based index.
public enum ColumnReference: Equatable, Sendable, CustomStringConvertible {
    case name(String)
    case index(Int)

    public init(_ argument: String) {
        if let index = Int(argument), index >= 0 { self = .index(index) } else { self = .name(argument) }
    }

    public var description: String {
        switch self {
        case .name(let name): return "\"\(name)\""
        case .index(let index): return "#\(index)"
        }
    }

    /// The column's index among `count` columns named `names` (nil: no header).
    func resolve(count: Int, names: [String]?, file: String, place: String? = nil) throws -> Int {
        switch self {
        case .index(let index):
            guard index < count else {
                throw DataError(
                    file: file, place: place,
                    "column \(index) does not exist (the file has \(count) columns, numbered from 0)")
            }
            return index
        case .name(let name):
            guard let index = names?.firstIndex(of: name) else {
                throw DataError(
                    file: file, place: place,
                    "no column named \"\(name)\" (found: \(names?.joined(separator: ", ") ?? "no header"))")
            }
            return index
        }
    }
}

/// Any CSV with a text column and a label column. Labels are kept as text and
/// mapped to indices from the training split (see `LabelSet`).
public struct CSVTableReader: MappedCSVReader {
    public let path: String
    public let split: String
    public let textColumn: ColumnReference
    public let labelColumn: ColumnReference
    public let hasHeader: Bool
    public var labelNames: [String]? { nil }
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    public init(
        path: String, split: String?, textColumn: ColumnReference, labelColumn: ColumnReference, hasHeader: Bool?
    ) throws {
        self.path = path
        self.split = try splitName(for: path, override: split)
        self.textColumn = textColumn
        self.labelColumn = labelColumn
        let named: Bool
        if case .name = textColumn {
            named = true
        } else if case .name = labelColumn {
            named = true
        } else {
            named = false
        }
        if hasHeader == false && named {
            throw DataError(
                file: path, "columns are named but --no-header says there is no header (name columns by index instead)")
        }
        self.hasHeader = hasHeader ?? named
        self.totalBytes = try fileSize(path)
    }

    func parse(_ bytes: UnsafeBufferPointer<UInt8>, progress: (Int64) -> Void, _ body: (RawExample) throws -> Void)
        throws
    {
        var parser = CSVParser(bytes: bytes, file: path)
        var fields: [[UInt8]] = []
        guard try parser.next(into: &fields) else {
            throw DataError(file: path, "the file is empty (expected CSV rows)")
        }
        let header = hasHeader ? fields.map { String(decoding: $0, as: UTF8.self) } : nil
        let columns = fields.count
        let textIndex = try textColumn.resolve(count: columns, names: header, file: path, place: "line 1")
        let labelIndex = try labelColumn.resolve(count: columns, names: header, file: path, place: "line 1")
        if hasHeader { guard try parser.next(into: &fields) else { return } }
        var row: UInt32 = 0
        repeat {
            let place = "line \(parser.line)"
            guard fields.count == columns else {
                throw DataError(file: path, place: place, "expected \(columns) columns, found \(fields.count)")
            }
            try validateUTF8(fields[textIndex], file: path, place: place)
            try validateUTF8(fields[labelIndex], file: path, place: place)
            let label = String(decoding: fields[labelIndex], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard !label.isEmpty else {
                throw DataError(file: path, place: place, "empty label (expected a value in column \(labelColumn))")
            }
            try body(
                RawExample(split: split, text: fields[textIndex], label: .name(label), source: UInt32(parser.line)))
            row += 1
            if row % 4096 == 0 { progress(Int64(parser.offset)) }
        } while try parser.next(into: &fields)
        progress(totalBytes)
    }
}
