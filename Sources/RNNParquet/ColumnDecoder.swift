import CSnappy
import CZlib
import CZstd

/// Reads the pages of one column chunk: an optional dictionary page, then data
/// pages (v1 or v2), decompressed and decoded into values with nulls.
struct ColumnDecoder {
    let file: ParquetFile
    let group: Int
    let column: Int
    let chunk: ParquetFile.Chunk
    let rows: Int
    private var page = 0
    private var dictionary: ColumnValues?

    init(file: ParquetFile, group: Int, column: Int, chunk: ParquetFile.Chunk, rows: Int) {
        self.file = file
        self.group = group
        self.column = column
        self.chunk = chunk
        self.rows = rows
    }

    enum Encoding: Int32 {
        case plain = 0, plainDictionary = 2, rle = 3, bitPacked = 4, deltaBinaryPacked = 5, deltaLengthByteArray = 6,
            deltaByteArray = 7, rleDictionary = 8, byteStreamSplit = 9
    }

    func fail(_ message: String) -> ParquetError { file.fail(message, rowGroup: group, column: column, page: page) }

    var type: PhysicalType { file.columns[column].type }

    mutating func decode() throws -> ColumnValues {
        let bytes = file.bytes
        guard [.byteArray, .int32, .int64, .boolean].contains(type) else {
            throw fail("physical type \(type) is not supported (BYTE_ARRAY, INT32, INT64 and BOOLEAN are)")
        }
        guard [0, 1, 2, 6].contains(chunk.codec) else {
            let names = [3: "LZO", 4: "BROTLI", 5: "LZ4", 7: "LZ4_RAW"]
            throw fail(
                "compression codec \(names[Int(chunk.codec)] ?? "#\(chunk.codec)") is not supported (UNCOMPRESSED, SNAPPY, GZIP and ZSTD are)"
            )
        }
        var start = chunk.dataPageOffset
        if let dictionaryOffset = chunk.dictionaryPageOffset, dictionaryOffset > 0 {
            start = min(start, dictionaryOffset)
        }
        guard start >= 4, chunk.compressedSize >= 0, start <= Int64(bytes.count - 8),
            chunk.compressedSize <= Int64(bytes.count - 8) - start
        else {
            throw fail(
                "column chunk offsets out of bounds (start \(start), \(chunk.compressedSize) bytes, file \(bytes.count) bytes)"
            )
        }
        guard chunk.valueCount == Int64(rows) else { throw fail("\(chunk.valueCount) values for \(rows) rows") }
        var position = Int(start)
        let end = Int(start + chunk.compressedSize)
        var values = Values(type: type, capacity: rows)
        while values.count < rows {
            guard position < end else { throw fail("the column chunk ends after \(values.count) of \(rows) values") }
            var reader = CompactReader(bytes, offset: position, end: end)
            let header: PageHeader
            do { header = try PageHeader(&reader) } catch let failure as CompactReader.Failure {
                throw fail("corrupt page header: \(failure.message)")
            }
            position = reader.offset
            guard header.compressedSize >= 0, header.uncompressedSize >= 0, header.compressedSize <= end - position
            else {
                throw fail("page of \(header.compressedSize) bytes runs past its column chunk")
            }
            let body = UnsafeRawBufferPointer(rebasing: bytes[position..<position + header.compressedSize])
            position += header.compressedSize
            switch header.type {
            case 2:
                guard dictionary == nil else { throw fail("a second dictionary page") }
                let raw = try decompress(body, size: header.uncompressedSize)
                var dictionaryValues = Values(type: type, capacity: header.valueCount)
                try raw.withUnsafeBytes {
                    try decodePlain(UnsafeRawBufferPointer($0), count: header.valueCount, into: &dictionaryValues)
                }
                dictionary = dictionaryValues.result
            case 0:
                let raw = try decompress(body, size: header.uncompressedSize)
                try raw.withUnsafeBytes { page in
                    var offset = 0
                    var defined: [Bool]?
                    if file.columns[column].optional {
                        guard page.count >= 4 else { throw fail("definition levels run past the page") }
                        let length = Int(page.loadUnaligned(as: UInt32.self).littleEndian)
                        guard length <= page.count - 4 else {
                            throw fail("definition levels of \(length) bytes run past the page")
                        }
                        defined = try levels(
                            UnsafeRawBufferPointer(rebasing: page[4..<4 + length]), count: header.valueCount)
                        offset = 4 + length
                    }
                    try decodeValues(
                        UnsafeRawBufferPointer(rebasing: page[offset...]), encoding: header.encoding,
                        count: header.valueCount,
                        defined: defined, into: &values)
                }
            case 3:
                let levelsLength = header.definitionLevelsLength + header.repetitionLevelsLength
                guard header.repetitionLevelsLength == 0 else { throw fail("repetition levels in a flat column") }
                guard header.definitionLevelsLength >= 0, levelsLength <= body.count else {
                    throw fail("levels run past the page")
                }
                var defined: [Bool]?
                if file.columns[column].optional {
                    defined = try levels(
                        UnsafeRawBufferPointer(rebasing: body[0..<header.definitionLevelsLength]),
                        count: header.valueCount)
                }
                let valuesPart = UnsafeRawBufferPointer(rebasing: body[levelsLength...])
                let raw =
                    header.compressed
                    ? try decompress(valuesPart, size: header.uncompressedSize - levelsLength) : Array(valuesPart)
                try raw.withUnsafeBytes {
                    try decodeValues(
                        UnsafeRawBufferPointer($0), encoding: header.encoding, count: header.valueCount,
                        defined: defined, into: &values)
                }
            default:
                break  // index pages and unknown page types carry no values
            }
            page += 1
        }
        guard values.count == rows else { throw fail("pages hold \(values.count) values for \(rows) rows") }
        return values.result
    }

    /// Definition levels (bit width 1 for a top-level optional column): true where a value is present.
    func levels(_ data: UnsafeRawBufferPointer, count: Int) throws -> [Bool] {
        var present = [Bool]()
        present.reserveCapacity(count)
        var decoder = HybridDecoder(data: data, bitWidth: 1)
        for _ in 0..<count {
            guard let level = decoder.next() else { throw fail("definition levels end early") }
            guard level <= 1 else { throw fail("definition level \(level) in a top-level column") }
            present.append(level == 1)
        }
        return present
    }

    func decodeValues(
        _ data: UnsafeRawBufferPointer, encoding raw: Int32, count: Int, defined: [Bool]?, into values: inout Values
    ) throws {
        guard let encoding = Encoding(rawValue: raw) else { throw fail("unknown encoding \(raw)") }
        let present = defined.map { $0.lazy.filter { $0 }.count } ?? count
        var decoded = Values(type: type, capacity: present)
        switch encoding {
        case .plain:
            try decodePlain(data, count: present, into: &decoded)
        case .plainDictionary, .rleDictionary:
            guard let dictionary else { throw fail("dictionary-encoded page without a dictionary page") }
            guard data.count >= 1 else { throw fail("dictionary indices missing") }
            let width = Int(data[0])
            guard width <= 32 else { throw fail("dictionary index bit width \(width)") }
            var decoder = HybridDecoder(data: UnsafeRawBufferPointer(rebasing: data[1...]), bitWidth: width)
            for _ in 0..<present {
                guard let index = decoder.next() else { throw fail("dictionary indices end early") }
                guard index < UInt64(dictionary.count) else {
                    throw fail("dictionary index \(index) out of range (\(dictionary.count) entries)")
                }
                decoded.append(from: dictionary, at: Int(index))
            }
        default:
            throw fail("encoding \(encoding) is not supported (PLAIN and dictionary encodings are)")
        }
        values.append(decoded, defined: defined)
    }

    func decodePlain(_ data: UnsafeRawBufferPointer, count: Int, into values: inout Values) throws {
        var offset = 0
        switch type {
        case .byteArray:
            for _ in 0..<count {
                guard data.count - offset >= 4 else { throw fail("a byte array runs past the page") }
                let length = Int(data.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
                guard length <= data.count - offset - 4 else {
                    throw fail("a byte array of \(length) bytes runs past the page")
                }
                values.strings.append(Array(UnsafeRawBufferPointer(rebasing: data[offset + 4..<offset + 4 + length])))
                offset += 4 + length
            }
        case .int32, .int64:
            let width = type == .int32 ? 4 : 8
            guard data.count >= width * count else { throw fail("\(count) integers run past the page") }
            for i in 0..<count {
                values.integers.append(
                    width == 4
                        ? Int64(Int32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                        : Int64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            }
        case .boolean:
            guard data.count * 8 >= count else { throw fail("\(count) booleans run past the page") }
            for i in 0..<count { values.booleans.append(data[i / 8] >> (i % 8) & 1 == 1) }
        default:
            throw fail("physical type \(type) is not supported")
        }
    }

    func decompress(_ data: UnsafeRawBufferPointer, size: Int) throws -> [UInt8] {
        guard size >= 0, size <= ParquetFile.maximumPageSize else {
            throw fail("page of \(size) bytes uncompressed (at most \(ParquetFile.maximumPageSize) are read)")
        }
        if chunk.codec == 0 {
            guard data.count == size else {
                throw fail("uncompressed page of \(data.count) bytes, header says \(size)")
            }
            return Array(data)
        }
        var out = [UInt8](repeating: 0, count: size)
        let ok: Bool = out.withUnsafeMutableBytes { target in
            guard let source = data.baseAddress ?? UnsafeRawPointer(bitPattern: 1) else { return false }
            switch chunk.codec {
            case 1:
                var length = size
                var expected = 0
                guard
                    snappy_uncompressed_length(source.assumingMemoryBound(to: CChar.self), data.count, &expected)
                        == SNAPPY_OK,
                    expected == size
                else { return false }
                return snappy_uncompress(
                    source.assumingMemoryBound(to: CChar.self), data.count,
                    target.baseAddress?.assumingMemoryBound(to: CChar.self), &length) == SNAPPY_OK && length == size
            case 2:
                var stream = z_stream()
                stream.next_in = UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(data.count)
                stream.next_out = target.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(size)
                // 16 + MAX_WBITS: a gzip wrapper, as Parquet's GZIP codec writes.
                guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
                else { return false }
                defer { inflateEnd(&stream) }
                return inflate(&stream, Z_FINISH) == Z_STREAM_END && stream.total_out == uLong(size)
            case 6:
                let written = ZSTD_decompress(target.baseAddress, size, source, data.count)
                return ZSTD_isError(written) == 0 && written == size
            default:
                return false
            }
        }
        guard ok else {
            throw fail("decompression failed (the page is corrupt, or its size does not match the header)")
        }
        return out
    }
}

/// Decoded values of one type, appended page by page.
struct Values {
    let type: PhysicalType
    var strings: [[UInt8]?] = []
    var integers: [Int64?] = []
    var booleans: [Bool?] = []

    init(type: PhysicalType, capacity requested: Int) {
        self.type = type
        let capacity = min(requested, 1 << 16)
        switch type {
        case .byteArray: strings.reserveCapacity(capacity)
        case .boolean: booleans.reserveCapacity(capacity)
        default: integers.reserveCapacity(capacity)
        }
    }

    var count: Int { type == .byteArray ? strings.count : type == .boolean ? booleans.count : integers.count }

    var result: ColumnValues {
        switch type {
        case .byteArray: return .byteArrays(strings)
        case .boolean: return .booleans(booleans)
        default: return .integers(integers)
        }
    }

    mutating func append(from dictionary: ColumnValues, at index: Int) {
        switch dictionary {
        case .byteArrays(let v): strings.append(v[index])
        case .integers(let v): integers.append(v[index])
        case .booleans(let v): booleans.append(v[index])
        }
    }

    /// Appends `page`'s values, with a null wherever `defined` is false.
    mutating func append(_ page: Values, defined: [Bool]?) {
        guard let defined else {
            strings += page.strings
            integers += page.integers
            booleans += page.booleans
            return
        }
        var next = 0
        for present in defined {
            switch type {
            case .byteArray: strings.append(present ? page.strings[next] : nil)
            case .boolean: booleans.append(present ? page.booleans[next] : nil)
            default: integers.append(present ? page.integers[next] : nil)
            }
            if present { next += 1 }
        }
    }
}

/// Parquet's RLE / bit-packed hybrid encoding (levels and dictionary indices).
struct HybridDecoder {
    let data: UnsafeRawBufferPointer
    let bitWidth: Int
    var offset = 0
    var repeatCount = 0
    var repeatValue: UInt64 = 0
    var packedLeft = 0
    var packedBit = 0

    init(data: UnsafeRawBufferPointer, bitWidth: Int) {
        self.data = data
        self.bitWidth = bitWidth
    }

    mutating func next() -> UInt64? {
        if repeatCount > 0 { repeatCount -= 1; return repeatValue }
        if packedLeft > 0 {
            packedLeft -= 1
            var value: UInt64 = 0
            for bit in 0..<bitWidth {
                let position = packedBit + bit
                guard offset + position / 8 < data.count else { return nil }
                value |= UInt64(data[offset + position / 8] >> (position % 8) & 1) << bit
            }
            packedBit += bitWidth
            if packedLeft == 0 { offset += (packedBit + 7) / 8; packedBit = 0 }
            return value
        }
        // A new run: varint header, low bit 1 = bit-packed groups of 8, 0 = repeated value.
        var header: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard offset < data.count, shift < 64 else { return nil }
            let b = data[offset]
            offset += 1
            header |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        if header & 1 == 1 {
            let groups = header >> 1
            guard groups > 0, groups < 1 << 28 else { return nil }
            packedLeft = Int(groups) * 8
            packedBit = 0
        } else {
            let count = header >> 1
            guard count > 0, count < 1 << 31 else { return nil }
            let bytes = (bitWidth + 7) / 8
            guard offset + bytes <= data.count else { return nil }
            var value: UInt64 = 0
            for i in 0..<bytes { value |= UInt64(data[offset + i]) << (8 * i) }
            offset += bytes
            repeatCount = Int(count)
            repeatValue = value
        }
        return next()
    }
}

struct PageHeader {
    var type: Int32 = -1
    var uncompressedSize = 0
    var compressedSize = 0
    var valueCount = 0
    var encoding: Int32 = 0
    var definitionLevelsLength = 0
    var repetitionLevelsLength = 0
    var compressed = true

    init(_ r: inout CompactReader) throws {
        var header = self
        func count(_ value: Int32) throws -> Int {
            guard value >= 0 else { throw CompactReader.Failure(message: "negative size \(value)") }
            return Int(value)
        }
        try r.readStruct { r, id, type in
            switch (id, type) {
            case (1, .i32): header.type = try r.i32()
            case (2, .i32): header.uncompressedSize = try count(try r.i32())
            case (3, .i32): header.compressedSize = try count(try r.i32())
            case (5, .structure), (7, .structure), (8, .structure):
                let kind = id
                try r.readStruct { r, id, type in
                    switch (kind, id, type) {
                    case (_, 1, .i32): header.valueCount = try count(try r.i32())
                    case (5, 2, .i32), (7, 2, .i32), (8, 4, .i32): header.encoding = try r.i32()
                    case (8, 5, .i32): header.definitionLevelsLength = try count(try r.i32())
                    case (8, 6, .i32): header.repetitionLevelsLength = try count(try r.i32())
                    case (8, 7, .boolTrue), (8, 7, .boolFalse): header.compressed = r.bool(type)
                    default: try r.skip(type)
                    }
                }
            default: try r.skip(type)
            }
        }
        guard header.type >= 0 else { throw CompactReader.Failure(message: "page header without a type") }
        self = header
    }
}
