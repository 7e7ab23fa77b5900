/// Token strings by id, as read from or written to a `vocab.txt`
/// (one token per line, the line index is the id — BERT's format).
public struct Vocabulary: Sendable {
    public private(set) var table = ByteTable(minimumCapacity: 1024)

    public init() {}

    public init<S: Sequence>(tokens: S) throws(VocabularyError) where S.Element == String {
        for (line, token) in tokens.enumerated() {
            if !table.insert(token).inserted { throw .duplicate(token: token, line: line + 1) }
        }
    }

    /// Parses `vocab.txt` bytes. Trailing spaces and `\r` are dropped from each
    /// line, as Hugging Face does, so CRLF files read the same.
    public init(fileBytes bytes: [UInt8]) throws(VocabularyError) {
        var lineStart = 0
        var lineNumber = 0
        try bytes.withUnsafeBufferPointer { (buffer) throws(VocabularyError) in
            var index = 0
            while index <= buffer.count {
                if index == buffer.count || buffer[index] == UInt8(ascii: "\n") {
                    if index == buffer.count && lineStart == index { break }
                    lineNumber += 1
                    var end = index
                    while end > lineStart, buffer[end - 1] == 0x20 || buffer[end - 1] == 0x09 || buffer[end - 1] == 0x0D
                    { end -= 1 }
                    let token = UnsafeBufferPointer(rebasing: buffer[lineStart..<end])
                    guard String(validating: token, as: UTF8.self) != nil else { throw .invalidUTF8(line: lineNumber) }
                    if !table.insert(token).inserted {
                        throw .duplicate(token: String(decoding: token, as: UTF8.self), line: lineNumber)
                    }
                    lineStart = index + 1
                }
                index += 1
            }
        }
        if table.count == 0 { throw .empty }
    }

    public var count: Int { table.count }
    public func id(_ token: String) -> Int32? { table.find(token) }
    public func token(_ id: Int32) -> String { table.key(id) }
    public var tokens: [String] { (0..<Int32(count)).map(token) }

    /// The file form: one token per line, newline-terminated.
    public func fileBytes() -> [UInt8] {
        var out: [UInt8] = []
        for id in 0..<Int32(count) {
            table.withKey(id) { out.append(contentsOf: $0) }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }
}

public enum VocabularyError: Error, Equatable, CustomStringConvertible {
    case duplicate(token: String, line: Int)
    case invalidUTF8(line: Int)
    case empty
    case missingSpecial(String)

    public var description: String {
        switch self {
        case .duplicate(let token, let line):
            return "line \(line): duplicate token \"\(token)\" (each token must appear once; its line number is its id)"
        case .invalidUTF8(let line): return "line \(line): not valid UTF-8"
        case .empty: return "the vocabulary is empty (expected one token per line)"
        case .missingSpecial(let token): return "the vocabulary has no \(token) token, which the tokenizer needs"
        }
    }
}
