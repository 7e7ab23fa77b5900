/// A reader of the Thrift compact protocol, which Parquet uses for its footer
/// and page headers. Every read is bounds-checked; nesting is limited.
struct CompactReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    let end: Int
    private var depth = 0

    enum FieldType: UInt8 {
        case stop = 0, boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7, binary = 8, list =
            9, set = 10, map = 11, structure = 12
    }

    struct Failure: Error { var message: String }

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    mutating func byte() throws -> UInt8 {
        guard offset < end else { throw Failure(message: "Thrift data ends early at byte \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw Failure(message: "varint too long at byte \(offset)") }
        }
    }

    mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func i32() throws -> Int32 {
        let v = try zigzag()
        guard let narrow = Int32(exactly: v) else { throw Failure(message: "i32 out of range at byte \(offset)") }
        return narrow
    }

    mutating func binary() throws -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw Failure(message: "binary of \(length) bytes runs past the end at byte \(offset)")
        }
        defer { offset += Int(length) }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])
    }

    mutating func string() throws -> String {
        let raw = try binary()
        guard let text = String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw Failure(message: "string is not UTF-8 at byte \(offset)")
        }
        return text
    }

    /// Calls `field` with each field id and type of a struct; the callback must
    /// consume the value (or call `skip`).
    mutating func readStruct(_ field: (inout CompactReader, Int16, FieldType) throws -> Void) throws {
        depth += 1
        defer { depth -= 1 }
        guard depth < 64 else { throw Failure(message: "structures nested too deeply") }
        var last: Int16 = 0
        while true {
            let header = try byte()
            guard let type = FieldType(rawValue: header & 0x0F) else {
                throw Failure(message: "unknown Thrift type \(header & 0x0F) at byte \(offset - 1)")
            }
            if type == .stop { return }
            let delta = Int16(header >> 4)
            let id: Int16
            if delta == 0 {
                guard let full = Int16(exactly: try zigzag()) else { throw Failure(message: "field id out of range") }
                id = full
            } else {
                id = last &+ delta
            }
            last = id
            try field(&self, id, type)
        }
    }

    /// The element type and count of a list or set.
    mutating func listHeader() throws -> (FieldType, Int) {
        let header = try byte()
        guard let type = FieldType(rawValue: header & 0x0F) else {
            throw Failure(message: "unknown list element type at byte \(offset - 1)")
        }
        var count = Int(header >> 4)
        if count == 15 {
            let full = try varint()
            guard full <= UInt64(end - offset) else {
                throw Failure(message: "list of \(full) elements exceeds the data")
            }
            count = Int(full)
        }
        return (type, count)
    }

    mutating func bool(_ type: FieldType) -> Bool { type == .boolTrue }

    mutating func skip(_ type: FieldType) throws {
        switch type {
        case .stop: throw Failure(message: "unexpected stop")
        case .boolTrue, .boolFalse: return
        case .byte: _ = try byte()
        case .i16, .i32, .i64: _ = try varint()
        case .double:
            guard end - offset >= 8 else { throw Failure(message: "double runs past the end") }
            offset += 8
        case .binary: _ = try binary()
        case .list, .set:
            let (element, count) = try listHeader()
            for _ in 0..<count {
                // Booleans inside collections take one byte each.
                if element == .boolTrue || element == .boolFalse { _ = try byte() } else { try skip(element) }
            }
        case .map:
            let count = try varint()
            guard count <= UInt64(end - offset) else {
                throw Failure(message: "map of \(count) entries exceeds the data")
            }
            if count > 0 {
                let types = try byte()
                guard let key = FieldType(rawValue: types >> 4), let value = FieldType(rawValue: types & 0x0F) else {
                    throw Failure(message: "bad map types")
                }
                for _ in 0..<count {
                    try skip(key)
                    try skip(value)
                }
            }
        case .structure:
            try readStruct { reader, _, type in try reader.skip(type) }
        }
    }

    mutating func list<T>(_ element: (inout CompactReader) throws -> T) throws -> [T] {
        let (_, count) = try listHeader()
        var out: [T] = []
        out.reserveCapacity(min(count, 1 << 16))
        for _ in 0..<count { out.append(try element(&self)) }
        return out
    }
}
