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
    public static func buildVocabulary(counts: [(word: String, count: Int)], size: Int, minimumCount: Int = 1)
        -> Vocabulary
    {
        let eligible = counts.filter { $0.count >= minimumCount && !specialTokens.contains($0.word) }
        // Only words that can make the cut are sorted by their bytes: those
        // counted at least as often as the size-th most frequent word.
        let cut = size > 0 && eligible.count > size ? eligible.map(\.count).sorted(by: >)[size - 1] : 0
        let ranked =
            eligible
            .filter { $0.count >= cut }
            .sorted {
                $0.count != $1.count ? $0.count > $1.count : $0.word.utf8.lexicographicallyPrecedes($1.word.utf8)
            }
            .prefix(size)
        // Specials and counted words are disjoint, so this cannot fail.
        return try! Vocabulary(tokens: specialTokens + ranked.map(\.word))
    }

    public func encode(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], workspace: inout TokenizerWorkspace)
    {
        let words = workspace.wordList()
        Self.split(text, into: words)
        for index in 0..<words.count { ids.append(vocabulary.table.find(words.key(index)) ?? Self.unknownID) }
    }

    /// As `encode`, and the input bytes of each word's id into `spans`.
    public func encode(
        _ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], spans: inout [Range<Int>],
        workspace: inout TokenizerWorkspace
    ) {
        let words = workspace.wordList()
        var sources = ByteSources()
        Self.split(text, into: words, tracking: &sources)
        for index in 0..<words.count {
            ids.append(vocabulary.table.find(words.key(index)) ?? Self.unknownID)
            spans.append(sources.span(words.start(index)..<words.start(index) + words[index].count))
        }
    }

    /// Appends the id of each word of `text` in `table`, adding the words it
    /// lacks: prep's pass over the corpus, before the vocabulary is known.
    public static func intern(
        _ text: UnsafeBufferPointer<UInt8>, into table: inout ByteTable, appendingTo ids: inout [Int32],
        workspace: inout TokenizerWorkspace
    ) {
        let words = workspace.wordList()
        split(text, into: words)
        // Hash every word and load its first slot before probing: the loads
        // are independent, so their cache misses overlap instead of queueing.
        // Hashing again in the probe loop is cheaper than storing the keys.
        var touched: UInt64 = 0
        for index in 0..<words.count { touched |= table.touch(words.key(index)) }
        words.touched = touched
        for index in 0..<words.count { ids.append(table.insert(words.key(index)).id) }
    }

    /// Calls `body` with each word of `text`, normalized.
    public static func words(
        _ text: UnsafeBufferPointer<UInt8>, workspace: inout TokenizerWorkspace,
        _ body: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        let words = workspace.wordList()
        split(text, into: words)
        for index in 0..<words.count { body(words[index]) }
    }

    /// Normalizes `text` into `words`. Room is reserved for one output byte
    /// per input byte up front (the ASCII path never writes more), and the
    /// rare scalars whose lowercase form is longer reserve their own.
    private static func split(_ text: UnsafeBufferPointer<UInt8>, into words: WordList) {
        var untracked = Untracked()
        split(text, into: words, tracking: &untracked)
    }

    private static func split<Tracker: SourceTracking>(
        _ text: UnsafeBufferPointer<UInt8>, into words: WordList, tracking tracker: inout Tracker
    ) {
        words.reset(reserving: text.count)
        var index = 0
        while index < text.count {
            let byte = text[index]
            if byte < 0x80 {
                // ASCII fast path: the same rules as below without Unicode table lookups.
                if isASCIIWordCharacter(byte) {
                    index = appendASCIIWordRun(text, from: index, to: words, tracking: &tracker)
                    continue
                }
                if byte == 0x20 || (0x09...0x0D).contains(byte) {
                    words.end()
                } else if byte == UInt8(ascii: "<"), let breakLength = lineBreakTagLength(text, at: index) {
                    words.end()
                    index += breakLength
                    continue
                } else if byte == UInt8(ascii: "'") && words.isOpen && index + 1 < text.count
                    && isWordCharacter(decodeScalar(text, at: index + 1).scalar)
                {
                    words.append(byte)
                } else if byte < 0x20 || byte == 0x7F {
                    words.end()
                } else {
                    words.end()
                    words.append(byte)
                    words.end()
                }
                tracker.cover(upTo: words.byteCount, from: index, to: index &+ 1)
                index += 1
                continue
            }
            let (scalar, length) = decodeScalar(text, at: index)
            index += length
            let remaining = text.count - index
            if isWordCharacter(scalar) {
                forEachLowercased(scalar) { append($0, to: words, remaining: remaining) }
            } else if CharClass.isWhitespace(scalar) || CharClass.isControl(scalar) || scalar == "\u{FFFD}" {
                words.end()
            } else {
                words.end()
                forEachLowercased(scalar) { append($0, to: words, remaining: remaining) }
                words.end()
            }
            tracker.cover(upTo: words.byteCount, from: index &- length, to: index)
        }
        words.end()
    }

    /// Runs of ASCII letters and digits are most of any text: they are copied
    /// lowercased in one tight loop that only mispredicts where the run ends.
    /// Returns the index of the first byte after the run.
    @inline(__always)
    private static func appendASCIIWordRun<Tracker: SourceTracking>(
        _ text: UnsafeBufferPointer<UInt8>, from start: Int, to words: WordList, tracking tracker: inout Tracker
    ) -> Int {
        let input = text.baseAddress!, output = words.bytes
        var index = start, count = words.byteCount
        while index < text.count {
            let byte = input[index]
            let folded = byte | 0x20
            let isLetter = folded &- 0x61 < 26
            guard isLetter || byte &- 0x30 < 10 else { break }
            output[count] = isLetter ? folded : byte
            count &+= 1
            index &+= 1
            tracker.cover(upTo: count, from: index &- 1, to: index)
        }
        words.byteCount = count
        return index
    }

    @inline(__always)
    private static func append(_ scalar: Unicode.Scalar, to words: WordList, remaining: Int) {
        words.reserve(4 + remaining)
        UTF8.encode(scalar) { words.append($0) }
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
            .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
            return true
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

    /// Where `text` ends with `<br` and spaces, the index of that `<`: a line-break tag may go on past it.
    static func openLineBreakTag(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
        var i = text.endIndex
        while i > text.startIndex, text[i - 1] == 0x20 { i -= 1 }
        guard i - text.startIndex >= 3, text[i - 3] == UInt8(ascii: "<"), text[i - 2] | 0x20 == UInt8(ascii: "b"),
            text[i - 1] | 0x20 == UInt8(ascii: "r")
        else { return nil }
        return i - 3
    }

    /// Length of `<br>`, `<br/>` or `<br />` (any case) at `index`, else nil.
    private static func lineBreakTagLength(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> Int? {
        var i = index + 1
        guard i + 1 < text.count, text[i] | 0x20 == UInt8(ascii: "b"), text[i + 1] | 0x20 == UInt8(ascii: "r") else {
            return nil
        }
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
