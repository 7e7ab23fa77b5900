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
public struct AGNewsCSVReader: ExampleReader {
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

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        var fields: [[UInt8]] = []
        // Known from the first record: the Hugging Face export starts with its header.
        var isHuggingFaceExport: Bool?
        try RecordBlocks.read(path: path, quoted: true, progress: progress) { block in
            var parser = CSVParser(block: block, file: path)
            while try parser.next(into: &fields) {
                let place = "line \(parser.line)"
                guard let isExport = isHuggingFaceExport else {
                    isHuggingFaceExport =
                        fields.count == 2 && fields[0] == Array("text".utf8) && fields[1] == Array("label".utf8)
                    if isHuggingFaceExport! { continue }
                    try body(try example(fields, isHuggingFaceExport: false, place: place, line: parser.line))
                    continue
                }
                try body(try example(fields, isHuggingFaceExport: isExport, place: place, line: parser.line))
            }
        }
        if isHuggingFaceExport == nil { throw DataError(file: path, "the file is empty (expected AG News CSV rows)") }
        return 0
    }

    private func example(_ fields: [[UInt8]], isHuggingFaceExport: Bool, place: String, line: Int) throws -> RawExample
    {
        let columns = isHuggingFaceExport ? 2 : 3
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
        return RawExample(split: split, text: text, label: .index(label), source: UInt32(truncatingIfNeeded: line))
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

    /// A header for a one-line message: a file whose first line is not a header can hold megabytes.
    static func shortList(_ names: [String]) -> String {
        let shown = names.prefix(20).map { $0.count > 40 ? $0.prefix(40) + "…" : $0 }
        return shown.joined(separator: ", ") + (names.count > 20 ? ", … (\(names.count) columns)" : "")
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
                    "no column named \"\(name)\" (found: \(names.map(Self.shortList) ?? "no header"))")
            }
            return index
        }
    }
}

/// Any delimited table (CSV, TSV…) with text columns and a label column.
/// Several text columns are joined with a space (AG News's title and
/// description). Labels are kept as text and mapped to indices from the
/// training split (see `LabelSet`).
public struct CSVTableReader: ExampleReader {
    public let path: String
    public let split: String
    public let textColumns: [ColumnReference]
    public let labelColumn: ColumnReference
    /// A teacher's probability of each class, in the dataset's label order: read from
    /// training files only (validation and test are scored against the label column).
    public let softLabelColumns: [ColumnReference]
    /// Splits the label field into a multi-label example's labels; nil: one label per row.
    public let labelSeparator: UInt8?
    public let hasHeader: Bool
    public let delimiter: UInt8
    public let quoted: Bool
    public var labelNames: [String]? { nil }
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    public init(
        path: String, split: String?, textColumns: [ColumnReference], labelColumn: ColumnReference, hasHeader: Bool?,
        delimiter: UInt8 = 0x2C, quoted: Bool? = nil, labelSeparator: UInt8? = nil,
        softLabelColumns: [ColumnReference] = []
    ) throws {
        self.labelSeparator = labelSeparator
        self.path = path
        self.split = try splitName(for: path, override: split)
        self.textColumns = textColumns
        self.labelColumn = labelColumn
        self.softLabelColumns = self.split == "train" ? softLabelColumns : []
        self.delimiter = delimiter
        // Tab-separated files rarely quote, and their texts often hold stray quotes.
        self.quoted = quoted ?? (delimiter != 0x09)
        let named = (textColumns + [labelColumn] + self.softLabelColumns).contains {
            if case .name = $0 { return true }
            return false
        }
        if hasHeader == false && named {
            throw DataError(
                file: path, "columns are named but --no-header says there is no header (name columns by index instead)")
        }
        guard !textColumns.isEmpty else { throw DataError(file: path, "no text column given") }
        self.hasHeader = hasHeader ?? named
        self.totalBytes = try fileSize(path)
    }

    public init(
        path: String, split: String?, textColumn: ColumnReference, labelColumn: ColumnReference, hasHeader: Bool?
    ) throws {
        try self.init(
            path: path, split: split, textColumns: [textColumn], labelColumn: labelColumn, hasHeader: hasHeader)
    }

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        var fields: [[UInt8]] = []
        // Known from the first record.
        var layout: Layout?
        try RecordBlocks.read(path: path, quoted: quoted, progress: progress) { block in
            var parser = CSVParser(block: block, file: path, delimiter: delimiter, quoted: quoted)
            while try parser.next(into: &fields) {
                let place = "line \(parser.line)"
                guard let known = layout else {
                    let header = hasHeader ? fields.map { String(decoding: $0, as: UTF8.self) } : nil
                    func resolve(_ column: ColumnReference) throws -> Int {
                        try column.resolve(count: fields.count, names: header, file: path, place: place)
                    }
                    layout = Layout(
                        columns: fields.count, text: try textColumns.map(resolve), label: try resolve(labelColumn),
                        softLabels: try softLabelColumns.map(resolve))
                    if hasHeader { continue }
                    try body(try example(fields, layout: layout!, place: place, line: parser.line))
                    continue
                }
                try body(try example(fields, layout: known, place: place, line: parser.line))
            }
        }
        if layout == nil { throw DataError(file: path, "the file is empty (expected CSV rows)") }
        return 0
    }

    private struct Layout {
        var columns: Int
        var text: [Int]
        var label: Int
        var softLabels: [Int]
    }

    private func example(_ fields: [[UInt8]], layout: Layout, place: String, line: Int) throws -> RawExample {
        guard fields.count == layout.columns else {
            throw DataError(file: path, place: place, "expected \(layout.columns) columns, found \(fields.count)")
        }
        var text = fields[layout.text[0]]
        for index in layout.text.dropFirst() {
            text.append(0x20)
            text += fields[index]
        }
        try validateUTF8(text, file: path, place: place)
        try validateUTF8(fields[layout.label], file: path, place: place)
        let field = fields[layout.label]
        let names =
            (labelSeparator.map { separator in field.split(separator: separator, omittingEmptySubsequences: false) }
            ?? [field[...]])
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        guard !names.contains(where: \.isEmpty) else {
            throw DataError(file: path, place: place, "empty label (expected a value in column \(labelColumn))")
        }
        let probabilities = try zip(layout.softLabels, softLabelColumns).map { index, column in
            let field = String(decoding: fields[index], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard let value = Double(field) else {
                throw DataError(
                    file: path, place: place, "soft label \"\(field)\" in column \(column) is not a number")
            }
            return value
        }
        return RawExample(
            split: split, text: text, label: .from(names: names), source: UInt32(truncatingIfNeeded: line),
            softLabel: probabilities.isEmpty ? [] : try softLabel(probabilities, file: path, place: place))
    }
}

extension CSVTableReader {
    /// A delimiter as the command line gives it: one ASCII character other than
    /// a quote or a line break, or `tab` (also `\t`); nil for anything else.
    public static func delimiter(_ argument: String) -> UInt8? {
        if argument == "tab" || argument == "\\t" { return 0x09 }
        guard argument.utf8.count == 1, let byte = argument.utf8.first, byte < 0x80, byte != 0x0A, byte != 0x0D,
            byte != 0x22
        else { return nil }
        return byte
    }

    /// What a file's name implies: a tab for `.tsv` or `.tab` (also `x.tsv.gz`), else a comma.
    public static func defaultDelimiter(forPath path: String) -> UInt8 {
        let extensions = URL(fileURLWithPath: path).lastPathComponent.lowercased().split(separator: ".").dropFirst()
        return extensions.contains { $0 == "tsv" || $0 == "tab" } ? 0x09 : 0x2C
    }
}
