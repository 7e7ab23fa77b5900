/// A word-level tokenizer: lowercase, HTML line breaks removed, words are runs
/// of letters, marks and digits (an apostrophe between two of them stays inside:
/// "don't"), every other visible character is a token of its own.
/// Ids: `<pad>`=0, `<start>`=1, `<unk>`=2, then the vocabulary by rank.
public struct WordLevelTokenizer: Sendable {
    public static let specialTokens = ["<pad>", "<start>", "<unk>"]
    public static let paddingID: Int32 = 0
    public static let startID: Int32 = 1
    public static let unknownID: Int32 = 2

    public let vocabulary: Vocabulary

    public init(vocabulary: Vocabulary) throws(VocabularyError) {
        for (id, token) in Self.specialTokens.enumerated() where vocabulary.id(token) != Int32(id) {
            throw .missingSpecial("\(token) at line \(id + 1)")
        }
        self.vocabulary = vocabulary
    }

    /// The `size` most frequent words (at least `minimumCount` occurrences),
    /// ties broken by byte order so the result never depends on input order.
    public static func buildVocabulary(counts: [(word: String, count: Int)], size: Int, minimumCount: Int = 1) -> Vocabulary {
        let ranked = counts
            .filter { $0.count >= minimumCount && !specialTokens.contains($0.word) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.word.utf8.lexicographicallyPrecedes($1.word.utf8) }
            .prefix(size)
        // Specials and counted words are disjoint, so this cannot fail.
        return try! Vocabulary(tokens: specialTokens + ranked.map(\.word))
    }

    public func encode(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout TokenizerScratch) {
        Self.words(text, scratch: &scratch) { word in
            ids.append(vocabulary.table.find(word) ?? Self.unknownID)
        }
    }

    /// Calls `body` with each word of `text`, normalized, in one pass: the
    /// word is built in `scratch` and handed over as soon as it ends.
    public static func words(_ text: UnsafeBufferPointer<UInt8>, scratch: inout TokenizerScratch, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        withoutActuallyEscaping(body) { body in
            var word = WordEmitter(scratch: scratch.takeBuffer(), body: body)
            split(text, into: &word)
            scratch.returnBuffer(word.finish())
        }
    }

    @inline(__always)
    private static func split(_ text: UnsafeBufferPointer<UInt8>, into word: inout WordEmitter) {
        var index = 0
        while index < text.count {
            let byte = text[index]
            if byte < 0x80 {
                // ASCII fast path: the same rules as below without Unicode table lookups.
                if isASCIIWordCharacter(byte) {
                    word.appendToWord((0x41...0x5A).contains(byte) ? byte | 0x20 : byte)
                } else if byte == 0x20 || (0x09...0x0D).contains(byte) {
                    word.end()
                } else if byte == UInt8(ascii: "<"), let breakLength = lineBreakTagLength(text, at: index) {
                    word.end()
                    index += breakLength
                    continue
                } else if byte == UInt8(ascii: "'") && word.isOpen && index + 1 < text.count
                            && isWordCharacter(decodeScalar(text, at: index + 1).scalar) {
                    word.appendToWord(byte)
                } else if byte < 0x20 || byte == 0x7F {
                    word.end()
                } else {
                    word.single(byte)
                }
                index += 1
                continue
            }
            let (scalar, length) = decodeScalar(text, at: index)
            if isWordCharacter(scalar) {
                forEachLowercased(scalar) { word.appendToWord($0) }
            } else if CharClass.isWhitespace(scalar) || CharClass.isControl(scalar) || scalar == "\u{FFFD}" {
                word.end()
            } else {
                word.end()
                forEachLowercased(scalar) { word.appendToWord($0) }
                word.end()
            }
            index += length
        }
    }

    @inline(__always)
    private static func isASCIIWordCharacter(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
    }

    @inline(__always)
    private static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return isASCIIWordCharacter(UInt8(v)) }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    @inline(__always)
    private static func forEachLowercased(_ c: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        if c.value < 0x80 {
            body((0x41...0x5A).contains(c.value) ? Unicode.Scalar(UInt8(c.value) | 0x20) : c)
        } else {
            for lower in c.properties.lowercaseMapping.unicodeScalars { body(lower) }
        }
    }

    /// Length of `<br>`, `<br/>` or `<br />` (any case) at `index`, else nil.
    private static func lineBreakTagLength(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> Int? {
        var i = index + 1
        guard i + 1 < text.count, text[i] | 0x20 == UInt8(ascii: "b"), text[i + 1] | 0x20 == UInt8(ascii: "r") else { return nil }
        i += 2
        while i < text.count, text[i] == 0x20 { i += 1 }
        if i < text.count, text[i] == UInt8(ascii: "/") { i += 1 }
        guard i < text.count, text[i] == UInt8(ascii: ">") else { return nil }
        return i + 1 - index
    }
}

/// One scalar at `index` and its byte length; U+FFFD for an invalid sequence.
@inline(__always)
func decodeScalar(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> (scalar: Unicode.Scalar, length: Int) {
    let lead = text[index]
    if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
    let length: Int
    var value: UInt32
    switch lead {
    case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F)
    case 0xE0...0xEF: length = 3; value = UInt32(lead & 0x0F)
    case 0xF0...0xF4: length = 4; value = UInt32(lead & 0x07)
    default: return ("\u{FFFD}", 1)
    }
    guard index + length <= text.count else { return ("\u{FFFD}", 1) }
    for offset in 1..<length {
        let byte = text[index + offset]
        guard byte & 0xC0 == 0x80 else { return ("\u{FFFD}", 1) }
        value = value << 6 | UInt32(byte & 0x3F)
    }
    let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
    guard value >= minimum, let scalar = Unicode.Scalar(value) else { return ("\u{FFFD}", 1) }
    return (scalar, length)
}

/// Collects the bytes of the current word and hands each finished word to its consumer.
struct WordEmitter {
    private var buffer: [UInt8]
    private let body: (UnsafeBufferPointer<UInt8>) -> Void

    init(scratch: [UInt8], body: @escaping (UnsafeBufferPointer<UInt8>) -> Void) {
        buffer = scratch
        buffer.removeAll(keepingCapacity: true)
        self.body = body
    }

    var isOpen: Bool { !buffer.isEmpty }

    @inline(__always) mutating func appendToWord(_ byte: UInt8) { buffer.append(byte) }

    @inline(__always) mutating func appendToWord(_ scalar: Unicode.Scalar) { appendUTF8(scalar, to: &buffer) }

    @inline(__always) mutating func end() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBufferPointer(body)
        buffer.removeAll(keepingCapacity: true)
    }

    /// A one-character word (punctuation, symbols).
    @inline(__always) mutating func single(_ byte: UInt8) {
        end()
        buffer.append(byte)
        end()
    }

    mutating func finish() -> [UInt8] {
        end()
        return buffer
    }
}
