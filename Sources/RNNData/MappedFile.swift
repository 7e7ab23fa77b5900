import RNNSupport

#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file: readers parse in place, and the
/// kernel pages the file in and out, so input size is not bounded by memory.
public final class MappedFile {
    public let path: String
    /// Valid only while `self` is alive: reach it through `withBytes`, which
    /// keeps the mapping alive for the closure's duration.
    private let bytes: UnsafeBufferPointer<UInt8>
    private let mappedLength: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw DataError(file: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw DataError(file: path, "not a regular file") }
        let size = Int(info.st_size)
        mappedLength = size
        if size == 0 {
            bytes = UnsafeBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw DataError(file: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        madvise(address, size, MADV_SEQUENTIAL)
        bytes = UnsafeBufferPointer(start: address.assumingMemoryBound(to: UInt8.self), count: size)
    }

    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// A copy of the whole file.
    public var contents: [UInt8] { withBytes { Array($0) } }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
    }
}

func fileSize(_ path: String) throws -> Int64 {
    var info = stat()
    guard stat(path, &info) == 0 else {
        if errno == ENOENT { throw DataError(file: path, "not found") }
        throw DataError(file: path, "cannot read: \(String(cString: strerror(errno)))")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw DataError(file: path, "not a regular file") }
    return Int64(info.st_size)
}
