import RNNBinary
import RNNSupport

#if canImport(Glibc)
import Glibc
#endif

/// A shard read by example ranges, so a trainer holds only the examples it is
/// working on: the header is checked when the file is opened, the checksum by
/// one streamed pass (`verify`), and each range's offsets, labels and ids as
/// it is read. Layout: `Artifacts/shard-format.md`.
/// Reads use `pread`, so threads may share one file.
public final class ShardFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    public let isLabeled: Bool
    /// Soft labels: a (class, weight) list per example (format 1.1).
    public let hasTargets: Bool
    let targetCount: Int
    let width: Int
    let tokenCount: Int
    let vocabularySize: Int
    let labelCount: Int?
    let bytes: Bytes

    enum Bytes {
        case descriptor(Int32, size: Int)
        case memory([UInt8])
    }

    static var headerSize: Int { ShardFormat.headerSize }

    var offsetsAt: Int { Self.headerSize }
    var labelsAt: Int { offsetsAt + 8 * (count + 1) }
    var sourcesAt: Int { labelsAt + 4 * count }
    var ratingsAt: Int { sourcesAt + 4 * count }
    var tokensAt: Int { (ratingsAt + count + 3) & ~3 }
    var targetOffsetsAt: Int { (tokensAt + width * tokenCount + 3) & ~3 }
    var targetsAt: Int { targetOffsetsAt + 8 * (count + 1) }
    var checksumAt: Int { hasTargets ? targetsAt + 8 * targetCount : targetOffsetsAt }

    /// Opens `path`; `labelCount` bounds a labeled shard's labels.
    public convenience init(path: String, vocabularySize: Int, labelCount: Int?) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError(
                file: path, errno == ENOENT ? "not found" : "cannot open: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw DataError(file: path, "not a regular file")
        }
        do {
            try self.init(
                bytes: .descriptor(fd, size: Int(info.st_size)), path: path, vocabularySize: vocabularySize,
                labelCount: labelCount)
        } catch {
            close(fd)
            throw error
        }
    }

    /// A shard already in memory (a whole file's bytes).
    public convenience init(bytes: [UInt8], path: String, vocabularySize: Int, labelCount: Int?) throws {
        try self.init(bytes: .memory(bytes), path: path, vocabularySize: vocabularySize, labelCount: labelCount)
    }

    init(bytes: Bytes, path: String, vocabularySize: Int, labelCount: Int?) throws {
        self.bytes = bytes
        self.path = path
        self.vocabularySize = vocabularySize
        self.labelCount = labelCount
        let size: Int
        switch bytes {
        case .descriptor(_, let fileSize): size = fileSize
        case .memory(let array): size = array.count
        }
        func fail(_ problem: String) -> DataError { DataError(file: path, problem) }
        guard size >= Self.headerSize + 12 else {
            throw fail("too short for a shard (\(size) bytes; expected at least \(Self.headerSize + 12))")
        }
        let header = try Self.read(bytes, at: 0, count: Self.headerSize, path: path)
        guard Array(header[0..<8]) == ShardFormat.magic else {
            throw fail("not a shard file (bad magic; expected \"RNNKSHRD\")")
        }
        let (major, minor, width, flags, count, targetCount, tokenCount64):
            (UInt16, UInt16, Int, UInt8, Int, Int, UInt64)
        do {
            (major, minor, width, flags, count, targetCount, tokenCount64) = try header.withUnsafeBytes { raw in
                var reader = LittleEndianReader(raw, offset: 8)
                let major = try reader.u16(), minor = try reader.u16()
                let width = Int(try reader.u8()), flags = try reader.u8()
                _ = try reader.u16()
                let count = Int(try reader.u32())
                let targetCount = Int(try reader.u32())
                return (major, minor, width, flags, count, targetCount, try reader.u64())
            }
        } catch { throw fail("\(error)") }
        guard major == ShardFormat.major else {
            throw fail(
                "shard format \(major).\(minor) is not supported (this build reads \(ShardFormat.major).x; re-run prep)"
            )
        }
        guard width == 2 || width == 4 else { throw fail("token width \(width) (expected 2 or 4)") }
        guard flags & ~3 == 0, flags & 2 == 0 || minor >= 1 else {
            throw fail("flags \(flags) (expected bit 0, and bit 1 from format 1.1 on)")
        }
        guard tokenCount64 < UInt64(size) else { throw fail("token count \(tokenCount64) exceeds the file size") }
        self.width = width
        self.count = count
        self.tokenCount = Int(tokenCount64)
        self.isLabeled = flags & 1 == 1
        self.hasTargets = flags & 2 == 2
        self.targetCount = hasTargets ? targetCount : 0
        guard size == checksumAt + 4 else {
            throw fail(
                "size \(size) bytes does not match its header (\(count) examples, \(tokenCount) tokens: expected \(checksumAt + 4) bytes; the file is truncated or corrupt)"
            )
        }
    }

    deinit {
        if case .descriptor(let fd, _) = bytes { close(fd) }
    }

    private static func read(_ bytes: Bytes, at offset: Int, count: Int, path: String) throws -> [UInt8] {
        switch bytes {
        case .memory(let array): return Array(array[offset..<offset + count])
        case .descriptor(let fd, _):
            var out = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = out.withUnsafeMutableBytes {
                    pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
                }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw DataError(
                        file: path,
                        "cannot read \(count) bytes at \(offset): \(n < 0 ? String(cString: strerror(errno)) : "unexpected end of file")"
                    )
                }
                done += n
            }
            return out
        }
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        try Self.read(bytes, at: offset, count: count, path: path)
    }

    /// The CRC-32 stored in the trailer (the manifest records it).
    public func storedChecksum() throws -> UInt32 {
        let trailer = try read(at: checksumAt, count: 4)
        return trailer.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    /// Checks the trailer's CRC-32 against every byte before it, reading a megabyte at a time.
    public func verify() throws {
        var crc: UInt32 = 0
        var offset = 0
        while offset < checksumAt {
            let piece = try read(at: offset, count: min(1 << 20, checksumAt - offset))
            crc = piece.withUnsafeBytes { CRC32.checksum($0, continuing: crc) }
            offset += piece.count
        }
        let stored = try storedChecksum()
        guard stored == crc else {
            throw DataError(
                file: path, "checksum mismatch (stored \(hex32(stored)), computed \(hex32(crc))): the file is corrupt")
        }
    }

    /// Every example's label, checked (without reading the tokens).
    public func labels() throws -> [Int32] { try labels(0..<count) }

    private func labels(_ examples: Range<Int>) throws -> [Int32] {
        let raw = try read(at: labelsAt + 4 * examples.lowerBound, count: 4 * examples.count)
        let labels = raw.withUnsafeBytes { r in
            (0..<examples.count).map { Int32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
        for (k, label) in labels.enumerated() {
            let i = examples.lowerBound + k
            if isLabeled {
                guard label >= 0, labelCount.map({ Int(label) < $0 }) ?? true else {
                    throw DataError(file: path, "example \(i): label \(label) out of range")
                }
            } else if label != -1 {
                throw DataError(file: path, "example \(i): label \(label) in an unlabeled shard")
            }
        }
        return labels
    }

    /// The offsets of `examples` into a section of `total` items (tokens or targets) whose offsets start at
    /// `section`, checked before use: within the section, non-decreasing, and spanning it at the shard's ends.
    private func offsets(at section: Int, _ examples: Range<Int>, total: Int, items: String, noun: String) throws
        -> [Int]
    {
        func fail(_ problem: String) -> DataError { DataError(file: path, problem) }
        let n = examples.count
        let raw = try read(at: section + 8 * examples.lowerBound, count: 8 * (n + 1))
        var offsets = [Int](repeating: 0, count: n + 1)
        try raw.withUnsafeBytes { r in
            for k in 0...n {
                // Checked before it becomes an Int: an offset past Int.max would trap in the conversion.
                let offset = UInt64(littleEndian: r.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self))
                guard offset <= UInt64(total) else {
                    throw fail("example \(examples.lowerBound + k): \(noun) \(offset) is past the \(total) \(items)")
                }
                offsets[k] = Int(offset)
                if k > 0 && offsets[k] < offsets[k - 1] {
                    throw fail("example \(examples.lowerBound + k - 1): \(noun)s decrease")
                }
            }
        }
        if examples.lowerBound == 0 && offsets[0] != 0 || examples.upperBound == count && offsets[n] != total {
            throw fail("example \(noun)s do not span the \(items)")
        }
        return offsets
    }

    private func readTargets(_ examples: Range<Int>, into shard: inout Shard) throws {
        func fail(_ problem: String) -> DataError { DataError(file: path, problem) }
        let n = examples.count
        let offsets = try offsets(
            at: targetOffsetsAt, examples, total: targetCount, items: "targets", noun: "target offset")
        let first = offsets[0]
        let raw = try read(at: targetsAt + 8 * first, count: 8 * (offsets[n] - first))
        shard.targets = try raw.withUnsafeBytes { r in
            try (0..<offsets[n] - first).map { i in
                let label = Int32(
                    bitPattern: UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 8 * i, as: UInt32.self)))
                let weight = Float(
                    bitPattern: UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 8 * i + 4, as: UInt32.self)))
                guard label >= 0, labelCount.map({ Int(label) < $0 }) ?? true else {
                    throw fail("target \(first + i): class \(label) out of range")
                }
                guard weight.isFinite, weight >= 0 else {
                    throw fail("target \(first + i): weight \(weight) (expected a finite number ≥ 0)")
                }
                return Target(label: label, weight: weight)
            }
        }
        shard.targetOffsets = offsets.map { $0 - first }
    }

    /// Examples `examples` (a range of this shard's indices). Call `verify()`
    /// first: the checks here keep a corrupt file from doing harm, the checksum
    /// from going unnoticed.
    public func read(_ examples: Range<Int>) throws -> Shard {
        precondition(examples.lowerBound >= 0 && examples.upperBound <= count, "examples outside the shard")
        func fail(_ problem: String) -> DataError { DataError(file: path, problem) }
        let n = examples.count
        let offsets = try offsets(at: offsetsAt, examples, total: tokenCount, items: "tokens", noun: "offset")
        var shard = Shard()
        shard.labels = try labels(examples)
        let sources = try read(at: sourcesAt + 4 * examples.lowerBound, count: 4 * n)
        shard.sources = sources.withUnsafeBytes { r in
            (0..<n).map { UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        shard.ratings = try read(at: ratingsAt + examples.lowerBound, count: n)
        let first = offsets[0], tokens = offsets[n] - first
        let raw = try read(at: tokensAt + width * first, count: width * tokens)
        var outOfRange = -1
        shard.tokens = raw.withUnsafeBytes { r in
            (0..<tokens).map { i in
                let value =
                    width == 2
                    ? Int32(UInt16(littleEndian: r.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    : Int32(bitPattern: UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                if value < 0 || Int(value) >= vocabularySize { outOfRange = i }
                return value
            }
        }
        if outOfRange >= 0 {
            throw fail(
                "token \(first + outOfRange): id \(shard.tokens[outOfRange]) outside the vocabulary of \(vocabularySize)"
            )
        }
        shard.offsets = offsets.map { $0 - first }
        if hasTargets { try readTargets(examples, into: &shard) }
        return shard
    }
}
