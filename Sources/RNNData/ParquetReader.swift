import Foundation
import RNNParquet
import RNNSupport

/// A Parquet table with a text column and a label column (the Hugging Face
/// exports among them), decoded one row group at a time, those two columns only.
public struct ParquetTableReader: ExampleReader {
    public let path: String
    public let split: String
    public let textColumn: ColumnReference
    public let labelColumn: ColumnReference
    /// Skip rows whose text is null (counted on stderr) unless strict.
    public let strict: Bool
    public let labelNames: [String]?
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    /// Label names: `explicitNames`, else the file's Hugging Face ClassLabel names,
    /// else `fallbackNames`; with none, labels are taken as text.
    public init(
        path: String, split: String?, textColumn: ColumnReference, labelColumn: ColumnReference,
        explicitNames: [String]? = nil, fallbackNames: [String]? = nil, strict: Bool = false
    ) throws {
        self.path = path
        self.split = try splitName(for: path, override: split)
        self.textColumn = textColumn
        self.labelColumn = labelColumn
        self.strict = strict
        totalBytes = try fileSize(path)
        let file = try Self.open(path)
        _ = try Self.resolve(textColumn, in: file)
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
        let text = try Self.resolve(textColumn, in: file), label = try Self.resolve(labelColumn, in: file)
        guard file.columns[text.index].type == .byteArray else {
            throw DataError(
                file: path, place: "column \(text.name)", "is not a string column (expected BYTE_ARRAY text)")
        }
        var row: UInt32 = 0
        var skipped = 0
        for group in 0..<file.rowGroupSizes.count {
            let texts: ColumnValues, labels: ColumnValues
            do {
                texts = try file.read(rowGroup: group, column: text.index)
                labels = try file.read(rowGroup: group, column: label.index)
            } catch let error as ParquetError {
                throw DataError(error)
            }
            guard case .byteArrays(let textValues) = texts else { continue }
            for i in 0..<textValues.count {
                defer { row += 1 }
                let place = "row group \(group), row \(row)"
                guard let value = textValues[i] else {
                    if strict {
                        throw DataError(
                            file: path, place: place,
                            "null text (expected a string; without --strict such rows are skipped)")
                    }
                    skipped += 1
                    continue
                }
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
