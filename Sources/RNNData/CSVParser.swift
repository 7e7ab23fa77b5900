import RNNSupport

/// An RFC 4180 CSV parser over bytes in memory: fields separated by
/// `delimiter` (a comma, a tab…); when `quoted`, double-quoted fields may hold
/// delimiters, newlines and doubled quotes (else a quote is an ordinary byte,
/// as in most TSV files); records end with LF or CRLF.
struct CSVParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let file: String
    let delimiter: UInt8
    let quoted: Bool
    private(set) var offset = 0
    /// 1-based line where the current record starts.
    private(set) var line: Int
    private var nextLine: Int

    init(block: RecordBlock, file: String, delimiter: UInt8 = 0x2C, quoted: Bool = true) {
        self.bytes = block.bytes
        self.file = file
        self.delimiter = delimiter
        self.quoted = quoted
        line = block.firstLine
        nextLine = block.firstLine
        // A UTF-8 byte order mark is not part of the first field.
        if block.isFirst, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { offset = 3 }
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
            if quoted, offset < bytes.count, bytes[offset] == 0x22 {
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
                if offset < bytes.count, bytes[offset] != delimiter, bytes[offset] != 0x0A, bytes[offset] != 0x0D {
                    throw DataError(
                        file: file, place: "line \(nextLine)",
                        "unexpected character after a closing quote (expected \(delimiterName) or end of line)")
                }
            } else {
                let start = offset
                while offset < bytes.count, bytes[offset] != delimiter, bytes[offset] != 0x0A {
                    if quoted, bytes[offset] == 0x22 {
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
            offset += 1  // the delimiter
        }
    }

    private var delimiterName: String { delimiter == 0x09 ? "a tab" : String(UnicodeScalar(delimiter)) }
}
