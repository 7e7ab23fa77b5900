import RNNSupport

/// One JSON value (RFC 8259), as a JSON-lines record holds it. Numbers keep
/// their literal text: a label `3` or `3.0` stays what the file wrote.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    /// UTF-8 bytes, escapes decoded.
    case string([UInt8])
    case array([JSONValue])
    /// Members in file order; a repeated key's first occurrence wins in lookups.
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The value at a dotted path's components: object keys, or 0-based
    /// indices into arrays; nil when any step is missing.
    public func value(at path: [String]) -> JSONValue? {
        var current = self
        for component in path {
            switch current {
            case .object(let members):
                guard let member = members.first(where: { $0.key == component }) else { return nil }
                current = member.value
            case .array(let elements):
                guard let index = Int(component), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// What the value is, for messages.
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Parses one JSON text from bytes. Errors give the byte offset (1-based
/// column within the line) and what was expected; nesting is limited so that
/// no input can exhaust the stack.
struct JSONParser {
    static let deepestNesting = 128

    struct Failure: Error {
        var column: Int
        var problem: String
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var offset: Int

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, offset: 0)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.failure("expected the end of the line after the value") }
        return value
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, offset: Int) {
        self.bytes = bytes
        self.offset = offset
    }

    private func failure(_ problem: String) -> Failure { Failure(column: offset + 1, problem: problem) }

    private mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0D, 0x0A].contains(bytes[offset]) { offset += 1 }
    }

    private mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
        for byte in literal.utf8 {
            guard offset < bytes.count, bytes[offset] == byte else { throw failure("expected \(literal)") }
            offset += 1
        }
        return value
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < Self.deepestNesting else {
            throw failure("nested deeper than \(Self.deepestNesting) arrays or objects")
        }
        skipWhitespace()
        guard offset < bytes.count else { throw failure("expected a value, found the end of the line") }
        switch bytes[offset] {
        case UInt8(ascii: "{"):
            offset += 1
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else {
                    throw failure("expected a key in double quotes")
                }
                let key = String(decoding: try string(), as: UTF8.self)
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else {
                    throw failure("expected : after the key \"\(key)\"")
                }
                offset += 1
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard offset < bytes.count else { throw failure("expected , or } before the end of the line") }
                if bytes[offset] == UInt8(ascii: "}") {
                    offset += 1
                    return .object(members)
                }
                guard bytes[offset] == UInt8(ascii: ",") else { throw failure("expected , or }") }
                offset += 1
            }
        case UInt8(ascii: "["):
            offset += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
                offset += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard offset < bytes.count else { throw failure("expected , or ] before the end of the line") }
                if bytes[offset] == UInt8(ascii: "]") {
                    offset += 1
                    return .array(elements)
                }
                guard bytes[offset] == UInt8(ascii: ",") else { throw failure("expected , or ]") }
                offset += 1
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("expected a value (an object, array, string, number, true, false or null)")
        }
    }

    private mutating func digits() -> Int {
        let start = offset
        while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) { offset += 1 }
        return offset - start
    }

    private mutating func number() throws -> JSONValue {
        let start = offset
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let integerStart = offset
        guard digits() > 0 else { throw failure("expected a digit") }
        if bytes[integerStart] == UInt8(ascii: "0"), offset - integerStart > 1 {
            throw Failure(column: integerStart + 1, problem: "a number may not start with 0")
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw failure("expected a digit after the decimal point") }
        }
        if offset < bytes.count, bytes[offset] | 0x20 == UInt8(ascii: "e") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            guard digits() > 0 else { throw failure("expected a digit in the exponent") }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self))
    }

    /// A string's bytes with escapes decoded; `offset` is at its opening quote.
    private mutating func string() throws -> [UInt8] {
        offset += 1
        var result: [UInt8] = []
        while true {
            let runStart = offset
            while offset < bytes.count, bytes[offset] != UInt8(ascii: "\""), bytes[offset] != UInt8(ascii: "\\"),
                bytes[offset] >= 0x20
            {
                offset += 1
            }
            result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<offset]))
            guard offset < bytes.count else { throw failure("unterminated string (expected a closing \")") }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                offset += 1
                return result
            }
            guard byte == UInt8(ascii: "\\") else {
                throw failure("a control character inside a string (expected it escaped, as \\n or \\t)")
            }
            offset += 1
            guard offset < bytes.count else { throw failure("expected an escape after \\") }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): result.append(escape)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hexQuad()
                if (0xD800...0xDBFF).contains(scalar), offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                    bytes[offset + 1] == UInt8(ascii: "u")
                {
                    let resume = offset
                    offset += 2
                    let low = try hexQuad()
                    if (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        offset = resume
                    }
                }
                // A lone surrogate has no UTF-8 form: it becomes U+FFFD, as in most decoders.
                let decoded = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                result.append(contentsOf: Array(String(decoded).utf8))
            default:
                throw Failure(column: offset, problem: "unknown escape \\\(Character(UnicodeScalar(escape)))")
            }
        }
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw failure("expected 4 hexadecimal digits after \\u") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Character(UnicodeScalar(bytes[offset])).hexDigitValue else {
                throw failure("expected 4 hexadecimal digits after \\u")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }
}
