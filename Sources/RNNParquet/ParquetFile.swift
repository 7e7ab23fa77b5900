import CSnappy
import CZlib
import CZstd

#if canImport(Glibc)
import Glibc
#endif

/// A failure reading a Parquet file, with where it happened.
public struct ParquetError: Error, CustomStringConvertible {
    public var file: String
    public var rowGroup: Int?
    public var column: String?
    public var page: Int?
    public var message: String

    /// "row group 2, column text, page 5", or nil for the whole file.
    public var place: String? {
        var place: [String] = []
        if let rowGroup { place.append("row group \(rowGroup)") }
        if let column { place.append("column \(column)") }
        if let page { place.append("page \(page)") }
        return place.isEmpty ? nil : place.joined(separator: ", ")
    }

    public var description: String {
        var place: [String] = []
        if let rowGroup { place.append("row group \(rowGroup)") }
        if let column { place.append("column \(column)") }
        if let page { place.append("page \(page)") }
        return ([file] + (place.isEmpty ? [] : [place.joined(separator: ", ")])).joined(separator: ": ") + ": "
            + message
    }
}

/// The values of one column in one row group; nil is a null.
public enum ColumnValues {
    case byteArrays([[UInt8]?])
    case integers([Int64?])
    case booleans([Bool?])

    public var count: Int {
        switch self {
        case .byteArrays(let v): return v.count
        case .integers(let v): return v.count
        case .booleans(let v): return v.count
        }
    }
}

public enum PhysicalType: Int32 {
    case boolean = 0, int32 = 1, int64 = 2, int96 = 3, float = 4, double = 5, byteArray = 6, fixedLenByteArray = 7
}

/// A Parquet file, read from the format specification: the footer's metadata
/// is parsed at open; columns are decoded one row group at a time, only those
/// asked for (memory is bounded by a row group, not the file).
public final class ParquetFile {
    public struct Column {
        public var name: String
        public var type: PhysicalType
        public var optional: Bool
    }

    struct Chunk {
        var type: Int32
        var codec: Int32
        var valueCount: Int64
        var dataPageOffset: Int64
        var dictionaryPageOffset: Int64?
        var compressedSize: Int64
    }

    /// Limits that bound what a (possibly hostile) file can make the reader
    /// allocate; common writers stay far below them (pyarrow writes 2^20 rows
    /// per row group, polars 2^18, DuckDB 122,880; pages of about 1 MiB).
    public static let maximumRowsPerGroup: Int64 = 1 << 22
    public static let maximumPageSize = 256 << 20
    public let path: String
    public private(set) var columns: [Column] = []
    public private(set) var rowGroupSizes: [Int] = []
    public private(set) var keyValueMetadata: [String: String] = [:]
    var chunks: [[Chunk]] = []
    private let fd: Int32
    private let mapping: UnsafeRawBufferPointer

    public var rowCount: Int { rowGroupSizes.reduce(0, +) }

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw ParquetError(
                file: path, message: errno == ENOENT ? "not found" : "cannot open: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ParquetError(file: path, message: "not a regular file")
        }
        let size = Int(info.st_size)
        if size > 0, let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED {
            mapping = UnsafeRawBufferPointer(start: address, count: size)
        } else {
            mapping = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        do { try parseFooter() } catch {
            unmapAndClose()
            throw error
        }
    }

    /// Parses a file held in memory (tests and the fuzzer).
    public init(bytes: UnsafeRawBufferPointer, name: String) throws {
        path = name
        fd = -1
        mapping = bytes
        try parseFooter()
    }

    deinit { unmapAndClose() }

    private func unmapAndClose() {
        guard fd >= 0 else { return }
        if let base = mapping.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), mapping.count) }
        close(fd)
    }

    func fail(_ message: String, rowGroup: Int? = nil, column: Int? = nil, page: Int? = nil) -> ParquetError {
        ParquetError(
            file: path, rowGroup: rowGroup, column: column.map { $0 < columns.count ? columns[$0].name : "#\($0)" },
            page: page, message: message)
    }

    private func parseFooter() throws {
        let bytes = mapping
        guard bytes.count >= 12 else {
            throw fail("too short for Parquet (\(bytes.count) bytes; expected \"PAR1\" at both ends)")
        }
        guard Array(bytes[0..<4]) == Array("PAR1".utf8) else {
            throw fail("not a Parquet file (bad magic at the start; expected \"PAR1\")")
        }
        guard Array(bytes[bytes.count - 4..<bytes.count]) == Array("PAR1".utf8) else {
            throw fail("bad magic at the end (expected \"PAR1\"): the file is truncated or not Parquet")
        }
        let footerLength = Int(bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt32.self).littleEndian)
        guard footerLength <= bytes.count - 12 else {
            throw fail("footer length \(footerLength) exceeds the file (\(bytes.count) bytes)")
        }
        var reader = CompactReader(bytes, offset: bytes.count - 8 - footerLength, end: bytes.count - 8)
        var schema: [(name: String, type: Int32?, repetition: Int32, children: Int32)] = []
        do {
            try reader.readStruct { r, id, type in
                switch (id, type) {
                case (2, .list):
                    schema = try r.list { r in
                        var element = (name: "", type: Int32?.none, repetition: Int32(0), children: Int32(0))
                        try r.readStruct { r, id, type in
                            switch (id, type) {
                            case (1, .i32): element.type = try r.i32()
                            case (3, .i32): element.repetition = try r.i32()
                            case (4, .binary): element.name = try r.string()
                            case (5, .i32): element.children = try r.i32()
                            default: try r.skip(type)
                            }
                        }
                        return element
                    }
                case (4, .list):
                    let groups: [(Int, [Chunk])] = try r.list { r in
                        var rows: Int64 = 0
                        var chunks: [Chunk] = []
                        try r.readStruct { r, id, type in
                            switch (id, type) {
                            case (1, .list): chunks = try r.list { r in try Self.readColumnChunk(&r) }
                            case (3, .i64): rows = try r.zigzag()
                            default: try r.skip(type)
                            }
                        }
                        // A few bytes of RLE can stand for millions of nulls.
                        guard rows >= 0, rows <= ParquetFile.maximumRowsPerGroup else {
                            throw CompactReader.Failure(
                                message:
                                    "row group of \(rows) rows (at most \(ParquetFile.maximumRowsPerGroup) are read)")
                        }
                        return (Int(rows), chunks)
                    }
                    rowGroupSizes = groups.map(\.0)
                    chunks = groups.map(\.1)
                case (5, .list):
                    let pairs: [(String, String?)] = try r.list { r in
                        var key = "", value: String?
                        try r.readStruct { r, id, type in
                            switch (id, type) {
                            case (1, .binary): key = try r.string()
                            case (2, .binary): value = try r.string()
                            default: try r.skip(type)
                            }
                        }
                        return (key, value)
                    }
                    for (key, value) in pairs { keyValueMetadata[key] = value }
                default: try r.skip(type)
                }
            }
        } catch let failure as CompactReader.Failure {
            throw fail("corrupt footer: \(failure.message)")
        }
        guard let root = schema.first else { throw fail("the footer has no schema") }
        guard root.children == schema.count - 1 else {
            var nested = "?"
            if let group = schema.dropFirst().first(where: { $0.children > 0 }) { nested = group.name }
            throw fail("column \(nested) is nested (a group); only flat tables of top-level columns are read")
        }
        for element in schema.dropFirst() {
            guard element.children == 0, let raw = element.type else {
                throw fail("column \(element.name) is nested (a group); only flat tables of top-level columns are read")
            }
            guard element.repetition != 2 else {
                throw fail("column \(element.name) is repeated (a list); only flat columns are read")
            }
            columns.append(
                Column(
                    name: element.name, type: PhysicalType(rawValue: raw) ?? .fixedLenByteArray,
                    optional: element.repetition == 1))
        }
        for (group, list) in chunks.enumerated() where list.count != columns.count {
            throw fail("has \(list.count) column chunks for \(columns.count) columns", rowGroup: group)
        }
    }

    private static func readColumnChunk(_ r: inout CompactReader) throws -> Chunk {
        var chunk = Chunk(
            type: 0, codec: 0, valueCount: 0, dataPageOffset: 0, dictionaryPageOffset: nil, compressedSize: 0)
        try r.readStruct { r, id, type in
            guard id == 3, type == .structure else { try r.skip(type); return }
            try r.readStruct { r, id, type in
                switch (id, type) {
                case (1, .i32): chunk.type = try r.i32()
                case (4, .i32): chunk.codec = try r.i32()
                case (5, .i64): chunk.valueCount = try r.zigzag()
                case (7, .i64): chunk.compressedSize = try r.zigzag()
                case (9, .i64): chunk.dataPageOffset = try r.zigzag()
                case (11, .i64): chunk.dictionaryPageOffset = try r.zigzag()
                default: try r.skip(type)
                }
            }
        }
        return chunk
    }

    public func columnIndex(_ name: String) -> Int? { columns.firstIndex { $0.name == name } }

    /// Decodes column `column` of row group `group`.
    public func read(rowGroup group: Int, column: Int) throws -> ColumnValues {
        precondition(group < chunks.count && column < columns.count)
        let chunk = chunks[group][column]
        var decoder = ColumnDecoder(file: self, group: group, column: column, chunk: chunk, rows: rowGroupSizes[group])
        return try decoder.decode()
    }

    var bytes: UnsafeRawBufferPointer { mapping }
}
