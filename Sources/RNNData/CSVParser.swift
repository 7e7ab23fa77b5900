import RNNSupport

/// An RFC 4180 CSV parser over bytes in memory: comma-separated fields,
/// double-quoted fields may hold commas, newlines and doubled quotes;
/// records end with LF or CRLF.
struct CSVParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let file: String
    private(set) var offset = 0
    /// 1-based line where the current record starts.
    private(set) var line = 1
    private var nextLine = 1

    init(bytes: UnsafeBufferPointer<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
        // A UTF-8 byte order mark is not part of the first field.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { offset = 3 }
    }

    /// The next record's fields, or nil at the end of the input. Blank lines are skipped.
    mutating func next(into fields: inout [[UInt8]]) throws -> Bool {
        fields.removeAll(keepingCapacity: true)
        while offset < bytes.count, bytes[offset] == 0x0A || bytes[offset] == 0x0D {
            if bytes[offset] == 0x0A { nextLine += 1 }
            offset += 1
        }
        guard offset < bytes.count else { return false }
        line = nextLine
        var field: [UInt8] = []
        while true {
            field.removeAll(keepingCapacity: true)
            if offset < bytes.count, bytes[offset] == 0x22 {
                let openingLine = nextLine
                offset += 1
                var closed = false
                while offset < bytes.count {
                    let b = bytes[offset]
                    if b == 0x22 {
                        if offset + 1 < bytes.count, bytes[offset + 1] == 0x22 {
                            field.append(0x22); offset += 2; continue
                        }
                        offset += 1
                        closed = true
                        break
                    }
                    if b == 0x0A { nextLine += 1 }
                    field.append(b)
                    offset += 1
                }
                guard closed else {
                    throw DataError(
                        file: file, place: "line \(openingLine)", "unterminated quoted field (expected a closing \")")
                }
                if offset < bytes.count, bytes[offset] != 0x2C, bytes[offset] != 0x0A, bytes[offset] != 0x0D {
                    throw DataError(
                        file: file, place: "line \(nextLine)",
                        "unexpected character after a closing quote (expected , or end of line)")
                }
            } else {
                let start = offset
                while offset < bytes.count, bytes[offset] != 0x2C, bytes[offset] != 0x0A {
                    if bytes[offset] == 0x22 {
                        throw DataError(
                            file: file, place: "line \(nextLine)",
                            "quote inside an unquoted field (expected the whole field to be quoted)")
                    }
                    offset += 1
                }
                var end = offset
                if end > start, bytes[end - 1] == 0x0D, offset == bytes.count || bytes[offset] == 0x0A { end -= 1 }
                field.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
            }
            fields.append(field)
            if offset < bytes.count, bytes[offset] == 0x0D { offset += 1 }
            if offset >= bytes.count { return true }
            if bytes[offset] == 0x0A { offset += 1; nextLine += 1; return true }
            offset += 1  // the comma
        }
    }
}
