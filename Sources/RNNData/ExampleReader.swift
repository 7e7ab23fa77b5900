import RNNSupport

/// One example as a reader found it, before tokenization.
public struct RawExample: Sendable {
    public var split: String
    /// Valid UTF-8: readers reject anything else with the place it occurred.
    public var text: [UInt8]
    public var label: RawLabel
    /// Where it came from: the line a CSV record starts on, the row index in
    /// Parquet, the review id in IMDB.
    public var source: UInt32
    /// IMDB's star rating (1-10); 0 when the source has none.
    public var rating: UInt8
    /// A teacher's probabilities, one per class in the dataset's label order, summing to 1;
    /// empty when the input has none.
    public var softLabel: [Float]

    public init(
        split: String, text: [UInt8], label: RawLabel, source: UInt32, rating: UInt8 = 0, softLabel: [Float] = []
    ) {
        self.split = split
        self.text = text
        self.label = label
        self.source = source
        self.rating = rating
        self.softLabel = softLabel
    }
}

public enum RawLabel: Sendable, Equatable {
    /// A class index whose names the reader knows (AG News, IMDB, Parquet ClassLabel).
    case index(Int)
    /// A label written as text, mapped to an index by the training split's label set.
    case name(String)
    /// Several labels written as text (a multi-label example's set, at least two, distinct).
    case names([String])
    case unlabeled
}

/// The interface every input format plugs into (tarball, CSV, Parquet…):
/// it streams examples in a stable order and reports its progress in bytes.
public protocol ExampleReader {
    /// The input, as the user named it (for messages and the manifest).
    var inputDescription: String { get }
    /// Class names when the source defines them; nil when labels are free text.
    var labelNames: [String]? { get }
    /// The splits this input holds; each must end up with at least one example.
    var splits: [String] { get }
    /// Total input bytes, for the progress display.
    var totalBytes: Int64 { get }
    /// Calls `body` for each example in order, `progress` with the bytes consumed
    /// so far; returns how many rows it skipped (null texts in Parquet).
    @discardableResult
    func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int
}

extension RawLabel {
    /// One label, or a multi-label example's set (repeats dropped, first appearance kept).
    static func from(names: [String]) -> RawLabel {
        var seen = Set<String>()
        let distinct = names.filter { seen.insert($0).inserted }
        return distinct.count == 1 ? .name(distinct[0]) : .names(distinct)
    }
}

/// A teacher's probabilities as written in a file (a few digits each), checked and
/// scaled to sum to exactly 1.
func softLabel(_ values: [Double], file: String, place: String) throws -> [Float] {
    for (k, value) in values.enumerated() where !(value.isFinite && value >= 0 && value <= 1) {
        throw DataError(file: file, place: place, "soft label \(k): \(value) (expected a probability, 0 to 1)")
    }
    let sum = values.reduce(0, +)
    guard abs(sum - 1) <= 0.01 else {
        throw DataError(
            file: file, place: place, "soft labels sum to \(sum) (expected probabilities that sum to 1)")
    }
    return values.map { Float($0 / sum) }
}

/// Checks UTF-8 and names the place of the first bad byte.
func validateUTF8(_ bytes: [UInt8], file: String, place: String) throws {
    if let offset = bytes.withUnsafeBufferPointer(firstInvalidUTF8Offset) {
        throw DataError(
            file: file, place: place, "invalid UTF-8 at byte \(offset) of the text (expected UTF-8 encoded text)")
    }
}

/// The offset of the first byte that is not part of well-formed UTF-8, or nil.
/// ASCII, most of every corpus, is checked eight bytes at a time.
func firstInvalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    guard let base = bytes.baseAddress else { return nil }
    let raw = UnsafeRawPointer(base)
    var i = 0
    while i < bytes.count {
        if i + 8 <= bytes.count, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            i += 8
            continue
        }
        let lead = bytes[i]
        if lead < 0x80 { i += 1; continue }
        let length: Int
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return i
        }
        guard i + length <= bytes.count, (lower...upper).contains(bytes[i + 1]) else { return i }
        for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return i }
        i += length
    }
    return nil
}
