/// The normalized words of one text, laid end to end in raw memory, with
/// where each ends. Splitting a whole text before looking any word up lets
/// the table probes of consecutive words overlap in the memory system instead
/// of each waiting for the scanner; the storage always keeps eight readable
/// bytes past the last word, so `key(_:)` reads a word's bytes in 8-byte loads.
///
/// Held by one `TokenizerWorkspace`, which belongs to one thread at a time.
final class WordList: @unchecked Sendable {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private var byteCapacity: Int
    /// Callers that write `bytes` directly have reserved room first.
    var byteCount = 0
    private var ends: UnsafeMutablePointer<Int>
    private var endCapacity: Int
    private(set) var count = 0
    private var wordStart = 0
    /// Where the slot loads of `WordLevelTokenizer.intern` go, so they are not optimized away.
    var touched: UInt64 = 0

    private static let slack = 8

    init() {
        byteCapacity = 4096
        bytes = .allocate(capacity: byteCapacity + Self.slack)
        bytes.initialize(repeating: 0, count: byteCapacity + Self.slack)
        endCapacity = 1024
        ends = .allocate(capacity: endCapacity)
    }

    deinit {
        bytes.deallocate()
        ends.deallocate()
    }

    /// Empties the list and makes room for `byteCount` bytes of words.
    @inline(__always) func reset(reserving byteCount: Int) {
        self.byteCount = 0
        count = 0
        wordStart = 0
        reserve(byteCount)
    }

    /// Makes room for `extra` more bytes past the current end.
    @inline(__always) func reserve(_ extra: Int) {
        if byteCount + extra > byteCapacity { growBytes(to: byteCount + extra) }
    }

    private func growBytes(to needed: Int) {
        let capacity = max(needed, 2 * byteCapacity)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity + Self.slack)
        grown.initialize(from: bytes, count: byteCount)
        (grown + byteCount).initialize(repeating: 0, count: capacity + Self.slack - byteCount)
        bytes.deallocate()
        bytes = grown
        byteCapacity = capacity
    }

    /// Appends to the open word; the caller has reserved room.
    @inline(__always) func append(_ byte: UInt8) {
        bytes[byteCount] = byte
        byteCount &+= 1
    }

    var isOpen: Bool { byteCount > wordStart }

    /// Closes the open word, if any.
    @inline(__always) func end() {
        guard byteCount > wordStart else { return }
        if count == endCapacity { growEnds() }
        ends[count] = byteCount
        count &+= 1
        wordStart = byteCount
    }

    private func growEnds() {
        let grown = UnsafeMutablePointer<Int>.allocate(capacity: 2 * endCapacity)
        grown.moveInitialize(from: ends, count: count)
        ends.deallocate()
        ends = grown
        endCapacity *= 2
    }

    @inline(__always) func start(_ index: Int) -> Int { index == 0 ? 0 : ends[index - 1] }

    @inline(__always) subscript(index: Int) -> UnsafeBufferPointer<UInt8> {
        let start = start(index)
        return UnsafeBufferPointer(start: bytes + start, count: ends[index] - start)
    }

    /// Word `index` with its table key computed from whole 8-byte loads.
    @inline(__always) func key(_ index: Int) -> ByteTable.Key {
        ByteTable.Key(padded: self[index])
    }
}
