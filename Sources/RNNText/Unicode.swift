@_spi(_Unicode) import Swift

/// Character classes as BERT's reference tokenizer (Hugging Face `tokenizers`)
/// defines them, on top of the standard library's Unicode tables.
enum CharClass {
    /// Hugging Face counts tab, newline and carriage return as whitespace,
    /// although Unicode calls them controls.
    @inline(__always)
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
    }

    /// "Other" categories (Cc, Cf, Cn, Co, Cs), minus the three whitespace controls.
    @inline(__always)
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// ASCII symbols such as `$` and `^` count as punctuation, as in BERT.
    @inline(__always)
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    /// The CJK blocks BERT splits into single characters.
    @inline(__always)
    static func isCJK(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
            0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }

    @inline(__always)
    static func isNonspacingMark(_ c: Unicode.Scalar) -> Bool {
        c.properties.generalCategory == .nonspacingMark
    }
}

/// Decodes UTF-8, replacing each invalid sequence by U+FFFD (one for each
/// maximal invalid subpart, as Unicode recommends and Swift's decoder does),
/// so that the tokenizers have a defined result on any bytes. `body` gets each
/// scalar and the input bytes it came from.
@inline(__always)
func forEachScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Unicode.Scalar, Range<Int>) -> Void) {
    var iterator = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var offset = 0
    loop: while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let encoded):
            body(Unicode.UTF8.decode(encoded), offset..<offset + encoded.count)
            offset += encoded.count
        case .emptyInput: break loop
        case .error(let length):
            body("\u{FFFD}", offset..<offset + length)
            offset += length
        }
    }
}

/// Where normalized bytes came from: a tokenizer writes its normalized text
/// and tells its tracker, after each write, which input bytes the bytes
/// written since the last call stand for. Encoding through `Untracked`
/// compiles to the tokenizer without tracking.
protocol SourceTracking {
    static var isTracking: Bool { get }
    /// The normalized bytes before `count` not yet covered came from input bytes `start..<end`.
    /// Plain integers, not a Range: a Range's checks would stay in the untracked hot loops.
    mutating func cover(upTo count: Int, from start: Int, to end: Int)
}

struct Untracked: SourceTracking {
    static var isTracking: Bool { false }
    @inline(__always) mutating func cover(upTo count: Int, from start: Int, to end: Int) {}
}

struct ByteSources: SourceTracking {
    static var isTracking: Bool { true }
    private var starts: [Int] = []
    private var ends: [Int] = []

    mutating func cover(upTo count: Int, from start: Int, to end: Int) {
        while starts.count < count {
            starts.append(start)
            ends.append(end)
        }
    }

    /// The input bytes of the normalized bytes `normalized` (not empty).
    func span(_ normalized: Range<Int>) -> Range<Int> {
        starts[normalized.lowerBound]..<ends[normalized.upperBound - 1]
    }
}

/// Whether NFD of a text splits into NFD of the parts before and from `c`:
/// canonical reordering moves combining marks, never across a starter, so a
/// scalar whose decomposition begins with a starter starts a part of its own.
func beginsWithStarter(_ c: Unicode.Scalar) -> Bool {
    guard c.value >= 0x80 else { return true }
    var decomposed = canonicalDecomposition([c]).makeIterator()
    guard let first = decomposed.next() else { return true }
    return first.properties.canonicalCombiningClass == .notReordered
}

@inline(__always)
func appendUTF8(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
    let v = scalar.value
    if v < 0x80 {
        out.append(UInt8(v))
    } else if v < 0x800 {
        out.append(UInt8(0xC0 | (v >> 6)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    } else if v < 0x10000 {
        out.append(UInt8(0xE0 | (v >> 12)))
        out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    } else {
        out.append(UInt8(0xF0 | (v >> 18)))
        out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    }
}

/// Canonical decomposition (NFD) of a scalar sequence, through the standard
/// library's own normalization tables (no Foundation needed).
func canonicalDecomposition(_ scalars: [Unicode.Scalar]) -> Unicode._NFD {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)._nfd
}

@inline(__always)
func isASCIIPunctuation(_ b: UInt8) -> Bool {
    (33...47).contains(b) || (58...64).contains(b) || (91...96).contains(b) || (123...126).contains(b)
}
