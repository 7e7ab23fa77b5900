import Foundation
import RNNParquet
import RNNSupport

/// A Parquet table with text columns and a label column (the Hugging Face
/// exports among them), decoded one row group at a time, those columns only.
/// Several text columns are joined with a space.
public struct ParquetTableReader: ExampleReader {
    public let path: String
    public let split: String
    public let textColumns: [ColumnReference]
    public let labelColumn: ColumnReference
    /// Skip rows with a null text (counted on stderr) unless strict.
    public let strict: Bool
    public let labelNames: [String]?
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    /// Label names: `explicitNames`, else the file's Hugging Face ClassLabel names,
    /// else `fallbackNames`; with none, labels are taken as text.
    public init(
        path: String, split: String?, textColumns: [ColumnReference], labelColumn: ColumnReference,
        explicitNames: [String]? = nil, fallbackNames: [String]? = nil, strict: Bool = false
    ) throws {
        self.path = path
        self.split = try splitName(for: path, override: split)
        guard !textColumns.isEmpty else { throw DataError(file: path, "no text column given") }
        self.textColumns = textColumns
        self.labelColumn = labelColumn
        self.strict = strict
        totalBytes = try fileSize(path)
        let file = try Self.open(path)
        for column in textColumns { _ = try Self.resolve(column, in: file) }
        let labelName = try Self.resolve(labelColumn, in: file).name
        labelNames = explicitNames ?? Self.huggingFaceNames(file, column: labelName) ?? fallbackNames
    }

    static func open(_ path: String) throws -> ParquetFile {
        do { return try ParquetFile(path: path) } catch let error as ParquetError { throw DataError(error) }
    }

    static func resolve(_ reference: ColumnReference, in file: ParquetFile) throws -> (index: Int, name: String) {
        let index = try reference.resolve(count: file.columns.count, names: file.columns.map(\.name), file: file.path)
        return (index, file.columns[index].name)
    }

    /// The ClassLabel names `datasets` stores under the `huggingface` key.
    static func huggingFaceNames(_ file: ParquetFile, column: String) -> [String]? {
        guard let json = file.keyValueMetadata["huggingface"],
            let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        else { return nil }
        let features =
            (root["info"] as? [String: Any])?["features"] as? [String: Any] ?? root["features"] as? [String: Any]
        return (features?[column] as? [String: Any])?["names"] as? [String]
    }

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        let file = try Self.open(path)
        let text = try textColumns.map { try Self.resolve($0, in: file) }
        let label = try Self.resolve(labelColumn, in: file)
        for column in text where file.columns[column.index].type != .byteArray {
            throw DataError(
                file: path, place: "column \(column.name)", "is not a string column (expected BYTE_ARRAY text)")
        }
        var row: UInt32 = 0
        var skipped = 0
        for group in 0..<file.rowGroupSizes.count {
            var texts: [[[UInt8]?]] = []
            let labels: ColumnValues
            do {
                for column in text {
                    guard case .byteArrays(let values) = try file.read(rowGroup: group, column: column.index) else {
                        continue
                    }
                    texts.append(values)
                }
                labels = try file.read(rowGroup: group, column: label.index)
            } catch let error as ParquetError {
                throw DataError(error)
            }
            guard texts.count == text.count else { continue }
            for i in 0..<texts[0].count {
                defer { row += 1 }
                let place = "row group \(group), row \(row)"
                let parts = texts.map { $0[i] }
                guard parts.allSatisfy({ $0 != nil }) else {
                    if strict {
                        throw DataError(
                            file: path, place: place,
                            "null text (expected a string; without --strict such rows are skipped)")
                    }
                    skipped += 1
                    continue
                }
                let value = parts.dropFirst().reduce(parts[0]!) { $0 + [0x20] + $1! }
                try validateUTF8(value, file: path, place: place)
                let rawLabel: RawLabel
                switch labels {
                case .integers(let v):
                    guard let number = v[i] else { throw DataError(file: path, place: place, "null label") }
                    if let labelNames {
                        guard number >= 0, number < labelNames.count else {
                            throw DataError(
                                file: path, place: place,
                                "label \(number) is out of range (expected 0-\(labelNames.count - 1))")
                        }
                        rawLabel = .index(Int(number))
                    } else {
                        rawLabel = .name(String(number))
                    }
                case .byteArrays(let v):
                    guard let bytes = v[i] else { throw DataError(file: path, place: place, "null label") }
                    rawLabel = .name(String(decoding: bytes, as: UTF8.self))
                case .booleans(let v):
                    guard let flag = v[i] else { throw DataError(file: path, place: place, "null label") }
                    rawLabel = .name(flag ? "true" : "false")
                }
                try body(RawExample(split: split, text: value, label: rawLabel, source: row))
            }
            progress(totalBytes * Int64(group + 1) / Int64(max(file.rowGroupSizes.count, 1)))
        }
        return skipped
    }
}

extension DataError {
    init(_ error: ParquetError) {
        self.init(file: error.file, place: error.place, error.message)
    }
}
