// The one little-endian reader and writer of rnnkit's binary formats (model
// files, checkpoints, shards). Foundation-free: the runtime embeds it.

/// Why a read failed: where, and what ran out.
public enum BinaryReadError: Error, Equatable, Sendable {
    /// `count` bytes asked for at `offset`, past the end of the section.
    case pastEnd(offset: Int, count: Int)
    /// A string at `offset` that is not UTF-8.
    case notUTF8(offset: Int)
}

extension BinaryReadError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .pastEnd(let offset, _): "a field runs past the end of its section at byte \(offset)"
        case .notUTF8(let offset): "a string at byte \(offset) is not UTF-8"
        }
    }
}

/// A cursor over bytes that refuses to read past `limit`.
public struct LittleEndianReader {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int
    public var limit: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        limit = bytes.count
    }

    public var remaining: Int { limit - offset }

    /// The offset of the next `n` bytes, which the cursor moves past.
    public mutating func take(_ n: Int) throws(BinaryReadError) -> Int {
        guard n >= 0, n <= limit - offset else { throw .pastEnd(offset: offset, count: n) }
        defer { offset += n }
        return offset
    }

    public mutating func u8() throws(BinaryReadError) -> UInt8 { bytes[try take(1)] }
    public mutating func u16() throws(BinaryReadError) -> UInt16 { try integer() }
    public mutating func u32() throws(BinaryReadError) -> UInt32 { try integer() }
    public mutating func u64() throws(BinaryReadError) -> UInt64 { try integer() }

    mutating func integer<T: FixedWidthInteger>() throws(BinaryReadError) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(MemoryLayout<T>.size), as: T.self))
    }

    /// A u32 byte length, then that many bytes of UTF-8.
    public mutating func string() throws(BinaryReadError) -> String {
        let length = Int(try u32())
        let start = try take(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])
        guard let text = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw .notUTF8(offset: start)
        }
        return text
    }

    /// Skips to the next multiple of `n`.
    public mutating func align(_ n: Int) throws(BinaryReadError) {
        _ = try take((n - offset % n) % n)
    }
}

extension Array where Element == UInt8 {
    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// A u32 byte length, then the UTF-8 bytes.
    public mutating func appendString(_ s: String) {
        appendLittleEndian(UInt32(s.utf8.count))
        append(contentsOf: s.utf8)
    }

    public mutating func padToMultiple(of n: Int) {
        while count % n != 0 { append(0) }
    }
}
