import CZlib
import CZstd
import RNNSupport

#if canImport(Glibc)
import Glibc
#endif

/// How a file's bytes are stored. Told by the first bytes, never by the name:
/// a `reviews.csv` that is really gzip is read, a `.gz` that is plain text too.
enum Compression: String, Sendable {
    case none, gzip, zstd

    init(head: UnsafeRawBufferPointer) {
        if head.count >= 2, head[0] == 0x1F, head[1] == 0x8B {
            self = .gzip
        } else if head.count >= 4, head[0] == 0x28, head[1] == 0xB5, head[2] == 0x2F, head[3] == 0xFD {
            self = .zstd
        } else {
            self = .none
        }
    }
}

/// A file's bytes in order, decompressed on the way when they are gzip (any
/// number of members, as `cat a.gz b.gz` makes) or zstd (any number of frames).
/// Memory is two fixed buffers whatever the file's size.
final class DecompressingFile {
    let path: String
    private(set) var compression = Compression.none
    /// Bytes of the file itself consumed so far: the progress display's measure.
    private(set) var fileBytesRead: Int64 = 0
    /// The file's size on disk (0 for a pipe).
    private(set) var size = 0
    private let descriptor: Int32
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private var endOfFile = false
    private var gzip: UnsafeMutablePointer<z_stream>?
    private var zstd: OpaquePointer?
    /// Whether the last compressed member or frame was read to its end marker.
    private var betweenMembers = true

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DataError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        input = .allocate(byteCount: 1 << 18, alignment: 64)
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR else {
            close(descriptor)
            input.deallocate()
            throw DataError(file: path, "is a directory (expected a file)")
        }
        size = Int(info.st_size)
        try refill()
        compression = Compression(head: UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd]))
    }

    deinit {
        if let gzip {
            inflateEnd(gzip)
            gzip.deallocate()
        }
        if let zstd { ZSTD_freeDStream(zstd) }
        input.deallocate()
        close(descriptor)
    }

    /// Fills `buffer` from its start with the next bytes; 0 only at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var produced = 0
        while produced < buffer.count {
            if inputStart == inputEnd {
                if endOfFile { break }
                try refill()
                if inputStart == inputEnd { continue }
            }
            let target = UnsafeMutableRawBufferPointer(rebasing: buffer[produced...])
            switch compression {
            case .none:
                let count = min(target.count, inputEnd - inputStart)
                target.baseAddress!.copyMemory(from: input.baseAddress! + inputStart, byteCount: count)
                inputStart += count
                produced += count
            case .gzip: produced += try inflate(into: target)
            case .zstd: produced += try decompressZstd(into: target)
            }
        }
        if produced == 0, !betweenMembers {
            throw DataError(
                file: path, "truncated \(compression.rawValue) data (the file ends inside a compressed stream)")
        }
        return produced
    }

    private func refill() throws {
        inputStart = 0
        inputEnd = 0
        while true {
            let count = Glibc.read(descriptor, input.baseAddress, input.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw DataError(file: path, "cannot read: \(String(cString: strerror(errno)))") }
            inputEnd = count
            endOfFile = count == 0
            fileBytesRead += Int64(count)
            return
        }
    }

    private func inflate(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        if betweenMembers {
            // A member ended; what follows must be another member's header.
            guard input[inputStart] == 0x1F else {
                throw DataError(file: path, "bytes after the end of the gzip data (expected another gzip member)")
            }
            if let gzip {
                inflateReset(gzip)
            } else {
                let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
                stream.initialize(to: z_stream())
                guard inflateInit2_(stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
                else {
                    stream.deallocate()
                    throw DataError(file: path, "cannot start gzip decompression")
                }
                gzip = stream
            }
            betweenMembers = false
        }
        let stream = gzip!
        stream.pointee.next_in = (input.baseAddress! + inputStart).assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(inputEnd - inputStart)
        stream.pointee.next_out = target.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(target.count)
        let status = CZlib.inflate(stream, Z_NO_FLUSH)
        inputStart = inputEnd - Int(stream.pointee.avail_in)
        let produced = target.count - Int(stream.pointee.avail_out)
        switch status {
        case Z_STREAM_END: betweenMembers = true
        case Z_OK, Z_BUF_ERROR: break
        default:
            let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
            throw DataError(file: path, "corrupt gzip data (\(message))")
        }
        return produced
    }

    private func decompressZstd(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        if zstd == nil {
            guard let stream = ZSTD_createDStream() else {
                throw DataError(file: path, "cannot start zstd decompression")
            }
            ZSTD_initDStream(stream)
            zstd = stream
        }
        var source = ZSTD_inBuffer(src: input.baseAddress! + inputStart, size: inputEnd - inputStart, pos: 0)
        var destination = ZSTD_outBuffer(dst: target.baseAddress!, size: target.count, pos: 0)
        let status = ZSTD_decompressStream(zstd, &destination, &source)
        guard ZSTD_isError(status) == 0 else {
            throw DataError(file: path, "corrupt zstd data (\(String(cString: ZSTD_getErrorName(status))))")
        }
        inputStart += source.pos
        // 0: a frame was decoded and flushed to its end.
        betweenMembers = status == 0
        return destination.pos
    }
}

/// Whole records of a file, a block at a time, so parsers never see a record
/// cut in two and memory stays bounded by the block (and the longest record).
public struct RecordBlock {
    public var bytes: UnsafeBufferPointer<UInt8>
    /// The 1-based line the block starts on.
    public var firstLine: Int
    /// Whether the block starts the file (where a byte order mark may be).
    public var isFirst: Bool
}

public enum RecordBlocks {
    public static let blockSize = 4 << 20
    /// A longer record is taken for a stray quote that swallowed the file.
    static let longestRecord = 256 << 20

    /// Calls `body` with consecutive blocks of `path`, each ending after a line
    /// feed that ends a record: any line feed, or one outside double quotes
    /// when `quoted` (RFC 4180: a doubled quote toggles twice, so counting
    /// quotes from a record boundary is exact). `progress` gets the file's bytes
    /// consumed so far (compressed bytes for a compressed file).
    public static func read(
        path: String, quoted: Bool, blockSize: Int = blockSize, progress: (Int64) -> Void,
        _ body: (RecordBlock) throws -> Void
    ) throws {
        let file = try DecompressingFile(path: path)
        // A small file gets a small block (it grows if its text is longer, as a compressed file's may be).
        let initial = min(blockSize, max(1 << 16, file.size.multipliedReportingOverflow(by: 4).partialValue))
        var buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, initial))
        defer { buffer.deallocate() }
        var filled = 0
        var line = 1
        var isFirst = true
        var endOfInput = false
        while !endOfInput {
            if filled == buffer.count {
                guard buffer.count < longestRecord else {
                    throw DataError(
                        file: path, place: "line \(line)",
                        "a record longer than \(longestRecord >> 20) MiB (an unbalanced quote?)")
                }
                let larger = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: buffer.count * 2)
                _ = larger.initialize(from: buffer)
                buffer.deallocate()
                buffer = larger
            }
            let count: Int
            do {
                count = try file.read(
                    into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[filled...])))
            } catch var error as DataError {
                // Where the damage starts: the record being read.
                error.place = "line \(line)"
                throw error
            }
            filled += count
            endOfInput = count == 0
            let boundary = recordBoundary(UnsafeBufferPointer(rebasing: buffer[..<filled]), quoted: quoted)
            let end = endOfInput ? filled : boundary.end
            guard end > 0 else { continue }
            let block = UnsafeBufferPointer(rebasing: buffer[..<end])
            try body(RecordBlock(bytes: block, firstLine: line, isFirst: isFirst))
            progress(file.fileBytesRead)
            line += endOfInput ? boundary.allLines : boundary.lines
            isFirst = false
            let rest = filled - end
            if rest > 0 {
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                    from: buffer.baseAddress! + end, byteCount: rest)
            }
            filled = rest
        }
    }

    /// The longest prefix that ends a record (`end` 0: none yet), the line feeds
    /// in it, and in all of `bytes`. Eight bytes at a time: most words of a
    /// corpus hold neither a quote nor a line feed, and are passed over whole.
    static func recordBoundary(_ bytes: UnsafeBufferPointer<UInt8>, quoted: Bool) -> (
        end: Int, lines: Int, allLines: Int
    ) {
        let lineFeeds: UInt64 = 0x0A0A_0A0A_0A0A_0A0A, quotes: UInt64 = 0x2222_2222_2222_2222
        /// The high bit of each byte of `word` that is zero, exactly (no borrow between bytes).
        func zeroBytes(_ word: UInt64) -> UInt64 {
            let low: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
            return ~(((word & low) &+ low) | word | low)
        }
        var end = 0, lines = 0, allLines = 0
        var insideQuotes = false
        var index = 0
        guard let base = bytes.baseAddress else { return (0, 0, 0) }
        while index < bytes.count {
            if index + 8 <= bytes.count {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                let feeds = zeroBytes(word ^ lineFeeds)
                let marks = quoted ? feeds | zeroBytes(word ^ quotes) : feeds
                if marks == 0 {
                    index += 8
                    continue
                }
                if !quoted {
                    allLines += feeds.nonzeroBitCount
                    end = index + (63 - feeds.leadingZeroBitCount) / 8 + 1
                    lines = allLines
                    index += 8
                    continue
                }
            }
            let byte = bytes[index]
            if byte == 0x22 && quoted {
                insideQuotes.toggle()
            } else if byte == 0x0A {
                allLines += 1
                if !insideQuotes {
                    end = index + 1
                    lines = allLines
                }
            }
            index += 1
        }
        return (end, lines, allLines)
    }
}
