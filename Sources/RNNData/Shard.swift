import Foundation
import RNNBinary
import RNNSupport

/// The examples of one shard file, in memory. Layout: `Artifacts/shard-format.md`.
public struct Shard: Equatable, Sendable {
    /// offsets[i]..<offsets[i+1] are example i's positions in `tokens`.
    public var offsets: [Int] = [0]
    public var tokens: [Int32] = []
    /// -1 for unlabeled examples.
    public var labels: [Int32] = []
    public var sources: [UInt32] = []
    public var ratings: [UInt8] = []

    public init() {}

    public var count: Int { labels.count }
    public var isLabeled: Bool { !labels.contains(-1) }

    public mutating func append<C: Collection>(tokens newTokens: C, label: Int32, source: UInt32, rating: UInt8)
    where C.Element == Int32 {
        tokens.append(contentsOf: newTokens)
        offsets.append(tokens.count)
        labels.append(label)
        sources.append(source)
        ratings.append(rating)
    }

    public func tokens(of example: Int) -> ArraySlice<Int32> { tokens[offsets[example]..<offsets[example + 1]] }

    /// The examples at `indices`, in that order.
    public func subset<Indices: Sequence<Int>>(_ indices: Indices) -> Shard {
        var subset = Shard()
        for i in indices {
            subset.append(tokens: tokens(of: i), label: labels[i], source: sources[i], rating: ratings[i])
        }
        return subset
    }
}

public enum ShardFormat {
    public static let magic: [UInt8] = Array("RNNKSHRD".utf8)
    public static let major: UInt16 = 1
    public static let minor: UInt16 = 0
    static let headerSize = 32

    /// The file bytes of `shard`. Ids are u16 when `vocabularySize` fits, else u32.
    public static func encode(_ shard: Shard, vocabularySize: Int) -> [UInt8] {
        let width = vocabularySize <= 1 << 16 ? 2 : 4
        let n = shard.count, t = shard.tokens.count
        let tokensOffset = (headerSize + 8 * (n + 1) + 9 * n + 3) & ~3
        let checksumOffset = (tokensOffset + width * t + 3) & ~3
        var out = [UInt8](repeating: 0, count: checksumOffset + 4)
        out.withUnsafeMutableBytes { raw in
            func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
                raw.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
            }
            raw.copyBytes(from: magic)
            put(major, at: 8)
            put(minor, at: 10)
            put(UInt8(width), at: 12)
            put(UInt8(shard.isLabeled ? 1 : 0), at: 13)
            put(UInt32(n), at: 16)
            put(UInt64(t), at: 24)
            var offset = headerSize
            for value in shard.offsets { put(UInt64(value), at: offset); offset += 8 }
            for label in shard.labels { put(UInt32(bitPattern: label), at: offset); offset += 4 }
            for source in shard.sources { put(source, at: offset); offset += 4 }
            for rating in shard.ratings { put(rating, at: offset); offset += 1 }
            offset = tokensOffset
            if width == 2 {
                for token in shard.tokens { put(UInt16(truncatingIfNeeded: token), at: offset); offset += 2 }
            } else {
                for token in shard.tokens { put(UInt32(bitPattern: token), at: offset); offset += 4 }
            }
            put(CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<checksumOffset])), at: checksumOffset)
        }
        return out
    }

    /// The CRC-32 in a shard's trailer: that of every byte before it. (The CRC
    /// of a whole file that ends in its own CRC is a constant, so the manifest
    /// records this one.)
    public static func storedChecksum(_ bytes: [UInt8]) -> UInt32 {
        guard bytes.count >= 4 else { return 0 }
        let n = bytes.count
        return UInt32(bytes[n - 4]) | UInt32(bytes[n - 3]) << 8 | UInt32(bytes[n - 2]) << 16 | UInt32(bytes[n - 1])
            << 24
    }

    /// Parses and validates a shard file: every count, offset, id and label is
    /// checked before it is used, and the checksum covers all bytes.
    public static func decode(_ bytes: [UInt8], file: String, vocabularySize: Int, labelCount: Int?) throws -> Shard {
        func fail(_ problem: String) -> DataError { DataError(file: file, problem) }
        guard bytes.count >= headerSize + 12 else {
            throw fail("too short for a shard (\(bytes.count) bytes; expected at least \(headerSize + 12))")
        }
        guard Array(bytes[0..<8]) == magic else { throw fail("not a shard file (bad magic; expected \"RNNKSHRD\")") }
        return try bytes.withUnsafeBytes { raw in
            do { return try decode(raw, file: file, vocabularySize: vocabularySize, labelCount: labelCount) } catch let
                error as BinaryReadError
            { throw fail("\(error)") }
        }
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, file: String, vocabularySize: Int, labelCount: Int?)
        throws -> Shard
    {
        func fail(_ problem: String) -> DataError { DataError(file: file, problem) }
        var reader = LittleEndianReader(bytes, offset: 8)
        let major = try reader.u16(), minor = try reader.u16()
        guard major == Self.major else {
            throw fail(
                "shard format \(major).\(minor) is not supported (this build reads \(Self.major).x; re-run prep)")
        }
        let width = Int(try reader.u8())
        let flags = try reader.u8()
        _ = try reader.u16()
        let count = Int(try reader.u32())
        _ = try reader.u32()
        let tokenCount64 = try reader.u64()
        guard width == 2 || width == 4 else { throw fail("token width \(width) (expected 2 or 4)") }
        guard tokenCount64 < UInt64(bytes.count) else {
            throw fail("token count \(tokenCount64) exceeds the file size")
        }
        let tokenCount = Int(tokenCount64)
        var expected = headerSize + 8 * (count + 1) + 9 * count
        expected = (expected + 3) & ~3
        expected += width * tokenCount
        expected = (expected + 3) & ~3
        expected += 4
        guard bytes.count == expected else {
            throw fail(
                "size \(bytes.count) bytes does not match its header (\(count) examples, \(tokenCount) tokens: expected \(expected) bytes; the file is truncated or corrupt)"
            )
        }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: expected - 4, as: UInt32.self))
        let actual = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<expected - 4]))
        guard stored == actual else {
            throw fail("checksum mismatch (stored \(hex32(stored)), computed \(hex32(actual))): the file is corrupt")
        }

        var shard = Shard()
        shard.offsets = try (0...count).map { i in
            // Checked before it becomes an Int: an offset past Int.max would trap in the conversion.
            let offset = try reader.u64()
            guard offset <= tokenCount64 else {
                throw fail("example \(i): offset \(offset) is past the \(tokenCount) tokens")
            }
            return Int(offset)
        }
        guard shard.offsets[0] == 0, shard.offsets[count] == tokenCount else {
            throw fail("example offsets do not span the tokens")
        }
        for i in 0..<count where shard.offsets[i] > shard.offsets[i + 1] {
            throw fail("example \(i): offsets decrease")
        }
        shard.labels = try (0..<count).map { _ in Int32(bitPattern: try reader.u32()) }
        shard.sources = try (0..<count).map { _ in try reader.u32() }
        shard.ratings = try (0..<count).map { _ in try reader.u8() }
        try reader.align(4)
        let labeled = flags & 1 == 1
        for (i, label) in shard.labels.enumerated() {
            if labeled {
                guard label >= 0, labelCount.map({ Int(label) < $0 }) ?? true else {
                    throw fail("example \(i): label \(label) out of range")
                }
            } else if label != -1 {
                throw fail("example \(i): label \(label) in an unlabeled shard")
            }
        }
        shard.tokens = [Int32](repeating: 0, count: tokenCount)
        var outOfRange = -1
        do {
            let base = bytes.baseAddress! + reader.offset
            for i in 0..<tokenCount {
                let value =
                    width == 2
                    ? Int32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    : Int32(
                        bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                if value < 0 || Int(value) >= vocabularySize { outOfRange = i }
                shard.tokens[i] = value
            }
        }
        if outOfRange >= 0 {
            throw fail(
                "token \(outOfRange): id \(shard.tokens[outOfRange]) outside the vocabulary of \(vocabularySize)")
        }
        return shard
    }
}
