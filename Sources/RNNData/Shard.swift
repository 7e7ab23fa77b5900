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
    /// Soft labels, when the split has them: example i's are `targets[targetOffsets[i]..<targetOffsets[i+1]]`.
    /// Empty `targetOffsets` when the shard has none.
    public var targetOffsets: [Int] = []
    public var targets: [Target] = []

    public init() {}

    public var count: Int { labels.count }
    public var isLabeled: Bool { !labels.contains(-1) }
    public var hasTargets: Bool { !targetOffsets.isEmpty }

    /// `targets` nil: the shard has none; every example of a shard has them or none does.
    public mutating func append<C: Collection>(
        tokens newTokens: C, label: Int32, source: UInt32, rating: UInt8, targets newTargets: [Target]? = nil
    )
    where C.Element == Int32 {
        precondition(
            (newTargets != nil) == hasTargets || count == 0, "every example of a shard has targets or none does")
        if let newTargets {
            if targetOffsets.isEmpty { targetOffsets = [0] }
            targets += newTargets
            targetOffsets.append(targets.count)
        }
        tokens.append(contentsOf: newTokens)
        offsets.append(tokens.count)
        labels.append(label)
        sources.append(source)
        ratings.append(rating)
    }

    public func tokens(of example: Int) -> ArraySlice<Int32> { tokens[offsets[example]..<offsets[example + 1]] }

    /// Example `example`'s targets; nil when the shard has none.
    public func targets(of example: Int) -> [Target]? {
        hasTargets ? Array(targets[targetOffsets[example]..<targetOffsets[example + 1]]) : nil
    }

    /// The examples at `indices`, in that order.
    public func subset<Indices: Sequence<Int>>(_ indices: Indices) -> Shard {
        var subset = Shard()
        subset.append(self, examples: indices)
        return subset
    }

    /// Appends `other`'s examples at `indices`, in that order.
    public mutating func append<Indices: Sequence<Int>>(_ other: Shard, examples indices: Indices) {
        for i in indices {
            append(
                tokens: other.tokens(of: i), label: other.labels[i], source: other.sources[i], rating: other.ratings[i],
                targets: other.targets(of: i))
        }
    }
}

/// A weight on one class in an example's target distribution (a teacher's probability).
public struct Target: Equatable, Sendable {
    public var label: Int32
    public var weight: Float

    public init(label: Int32, weight: Float) {
        self.label = label
        self.weight = weight
    }
}

public enum ShardFormat {
    public static let magic: [UInt8] = Array("RNNKSHRD".utf8)
    public static let major: UInt16 = 1
    public static let minor: UInt16 = 1
    static let headerSize = 32

    /// The file bytes of `shard`. Ids are u16 when `vocabularySize` fits, else u32.
    /// A shard without targets is written as 1.0, byte for byte what readers before 1.1 wrote.
    public static func encode(_ shard: Shard, vocabularySize: Int) -> [UInt8] {
        let width = vocabularySize <= 1 << 16 ? 2 : 4
        let n = shard.count, t = shard.tokens.count
        let tokensOffset = (headerSize + 8 * (n + 1) + 9 * n + 3) & ~3
        let targetsOffset = (tokensOffset + width * t + 3) & ~3
        let checksumOffset = targetsOffset + (shard.hasTargets ? 8 * (n + 1) + 8 * shard.targets.count : 0)
        var out = [UInt8](repeating: 0, count: checksumOffset + 4)
        out.withUnsafeMutableBytes { raw in
            func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
                raw.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
            }
            raw.copyBytes(from: magic)
            put(major, at: 8)
            put(shard.hasTargets ? minor : 0, at: 10)
            put(UInt8(width), at: 12)
            put(UInt8((shard.isLabeled ? 1 : 0) | (shard.hasTargets ? 2 : 0)), at: 13)
            put(UInt32(n), at: 16)
            put(UInt32(shard.targets.count), at: 20)
            put(UInt64(t), at: 24)
            var offset = headerSize
            for value in shard.offsets { put(UInt64(value), at: offset); offset += 8 }
            for label in shard.labels { put(UInt32(bitPattern: label), at: offset); offset += 4 }
            for source in shard.sources { put(source, at: offset); offset += 4 }
            for rating in shard.ratings { put(rating, at: offset); offset += 1 }
            offset = tokensOffset
            shard.tokens.withUnsafeBufferPointer { tokens in
                if width == 2 {
                    for token in tokens { put(UInt16(truncatingIfNeeded: token), at: offset); offset += 2 }
                } else {
                    for token in tokens { put(UInt32(bitPattern: token), at: offset); offset += 4 }
                }
            }
            offset = targetsOffset
            if shard.hasTargets {
                for value in shard.targetOffsets { put(UInt64(value), at: offset); offset += 8 }
                for target in shard.targets {
                    put(UInt32(bitPattern: target.label), at: offset)
                    put(target.weight.bitPattern, at: offset + 4)
                    offset += 8
                }
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

    /// Parses and validates a whole shard file: every count, offset, id and
    /// label is checked before it is used, and the checksum covers all bytes.
    public static func decode(_ bytes: [UInt8], file: String, vocabularySize: Int, labelCount: Int?) throws -> Shard {
        let shard = try ShardFile(bytes: bytes, path: file, vocabularySize: vocabularySize, labelCount: labelCount)
        try shard.verify()
        return try shard.read(0..<shard.count)
    }
}
