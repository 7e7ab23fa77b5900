/// An open-addressing hash table from byte strings to dense ids.
///
/// Tokenizers look up millions of short UTF-8 slices; keeping the keys in one
/// byte pool and hashing raw bytes avoids building a `String` per lookup.
public struct ByteTable: Sendable {
    private var pool: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    /// Two words per slot. The first: 0 = empty, else a 24-bit hash tag, the key
    /// length (saturated at 255) and the key index + 1; the second: the key's
    /// first eight bytes. Keys of up to eight bytes — most words — are then
    /// found by touching one slot, without reading the pool.
    private var slots: [UInt64]
    private var mask: Int
    public private(set) var maxKeyLength = 0

    public var count: Int { keyStart.count }

    public init(minimumCapacity: Int = 1024) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: 2 * size)
        mask = size - 1
    }

    /// A key with its first eight bytes and its hash computed once, so that a
    /// caller can hash a run of keys before probing for any of them.
    public struct Key {
        public let bytes: UnsafeBufferPointer<UInt8>
        let prefix: UInt64
        let hash: UInt64

        @inline(__always)
        public init(_ bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            var prefix: UInt64 = 0
            for i in 0..<min(8, bytes.count) { prefix |= UInt64(bytes[i]) << (8 * UInt64(i)) }
            self.prefix = prefix
            var tail: UInt64 = 0
            if bytes.count > 8 {
                for i in (bytes.count & ~7)..<bytes.count { tail |= UInt64(bytes[i]) << (8 * UInt64(i & 7)) }
            }
            hash = ByteTable.hash(bytes, prefix: prefix, tail: tail)
        }

        /// For bytes followed by at least eight readable bytes: whole-word
        /// loads, masked to the key's length, instead of byte loops.
        @inline(__always)
        init(padded bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            let raw = UnsafeRawPointer(bytes.baseAddress!)
            prefix = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)) & ByteTable.lowBytes(min(8, bytes.count))
            var tail: UInt64 = 0
            if bytes.count > 8 {
                let tailStart = bytes.count & ~7
                tail =
                    UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: tailStart, as: UInt64.self))
                    & ByteTable.lowBytes(bytes.count - tailStart)
            }
            hash = ByteTable.hash(bytes, prefix: prefix, tail: tail)
        }
    }

    @inline(__always)
    static func lowBytes(_ count: Int) -> UInt64 {
        count >= 8 ? ~0 : (1 << (8 * UInt64(count))) &- 1
    }

    /// Eight bytes per multiply, then a final mix so that both the slot index
    /// (low bits) and the tag (high bits) use every byte. `tail` holds the
    /// bytes from `count & ~7` on (zero when the count is a multiple of eight).
    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>, prefix: UInt64, tail: UInt64) -> UInt64 {
        var h = (0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count) ^ prefix) &* 0xBF58_476D_1CE4_E5B9
        if bytes.count > 8 {
            let raw = UnsafeRawPointer(bytes.baseAddress!)
            var i = 8
            while i + 8 <= bytes.count {
                h =
                    (h ^ (h >> 31) ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                    &* 0xBF58_476D_1CE4_E5B9
                i += 8
            }
            h = (h ^ (h >> 31) ^ tail) &* 0xBF58_476D_1CE4_E5B9
        }
        h ^= h >> 29
        h = h &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 32)
    }

    @inline(__always)
    static func meta(hash: UInt64, length: Int, index: Int) -> UInt64 {
        (hash & 0xFFFF_FF00_0000_0000) | UInt64(min(length, 255)) << 32 | UInt64(index + 1)
    }

    /// The id of `bytes`, or nil.
    @inline(__always)
    public func find(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32? { find(Key(bytes)) }

    @inline(__always)
    public func find(_ key: Key) -> Int32? {
        let wanted = Self.meta(hash: key.hash, length: key.bytes.count, index: 0) & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: key.hash) & mask
        return slots.withUnsafeBufferPointer { slots in
            while true {
                let entry = slots[2 * slot]
                if entry == 0 { return nil }
                if entry & 0xFFFF_FFFF_0000_0000 == wanted && slots[2 * slot + 1] == key.prefix {
                    let index = Int(entry & 0xFFFF_FFFF) - 1
                    if key.bytes.count <= 8 || matchesPool(index, key.bytes) { return Int32(index) }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Loads the first slot `key` probes and returns it, for callers that
    /// start the cache misses of many keys before probing any of them.
    @inline(__always)
    public func touch(_ key: Key) -> UInt64 {
        slots.withUnsafeBufferPointer { $0[2 * (Int(truncatingIfNeeded: key.hash) & mask)] }
    }

    private func matchesPool(_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard Int(keyLength[index]) == bytes.count else { return false }
        return pool.withUnsafeBufferPointer {
            memoryEqual($0.baseAddress! + Int(keyStart[index]), bytes.baseAddress!, bytes.count)
        }
    }

    public func find(_ key: String) -> Int32? {
        var key = key
        return key.withUTF8 { find($0) }
    }

    /// Inserts `bytes` if absent; returns its id and whether it was new.
    @discardableResult
    public mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>) -> (id: Int32, inserted: Bool) {
        insert(Key(bytes))
    }

    @discardableResult
    @inline(__always)
    public mutating func insert(_ key: Key) -> (id: Int32, inserted: Bool) {
        if let id = find(key) { return (id, false) }
        return (add(key), true)
    }

    private mutating func add(_ key: Key) -> Int32 {
        let id = Int32(keyStart.count)
        keyStart.append(Int32(pool.count))
        keyLength.append(Int32(key.bytes.count))
        pool.append(contentsOf: key.bytes)
        maxKeyLength = max(maxKeyLength, key.bytes.count)
        if keyStart.count * 2 > mask + 1 { grow() } else { place(Int(id), hash: key.hash, prefix: key.prefix) }
        return id
    }

    @discardableResult
    public mutating func insert(_ key: String) -> (id: Int32, inserted: Bool) {
        var key = key
        return key.withUTF8 { insert($0) }
    }

    /// The bytes of key `id`, as a String (for display and vocabulary files).
    public func key(_ id: Int32) -> String {
        let start = Int(keyStart[Int(id)]), length = Int(keyLength[Int(id)])
        return String(decoding: pool[start..<start + length], as: UTF8.self)
    }

    public func withKey<R>(_ id: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let start = Int(keyStart[Int(id)]), length = Int(keyLength[Int(id)])
        return try pool.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<start + length])) }
    }

    private mutating func place(_ index: Int, hash: UInt64, prefix: UInt64) {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[2 * slot] != 0 { slot = (slot + 1) & mask }
        slots[2 * slot] = Self.meta(hash: hash, length: Int(keyLength[index]), index: index)
        slots[2 * slot + 1] = prefix
    }

    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: 2 * 2 * (mask + 1))
        mask = 2 * (mask + 1) - 1
        for index in 0..<keyStart.count {
            let (hash, prefix) = withKey(Int32(index)) { bytes in
                let key = Key(bytes)
                return (key.hash, key.prefix)
            }
            place(index, hash: hash, prefix: prefix)
        }
    }
}

@inline(__always)
func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i + 8 <= count {
        if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self)
            != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self)
        {
            return false
        }
        i += 8
    }
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
