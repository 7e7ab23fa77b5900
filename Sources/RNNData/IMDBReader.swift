import CArchive
import RNNSupport

#if canImport(Glibc)
import Glibc
#endif

/// Streams the Large Movie Review Dataset straight out of `aclImdb_v1.tar.gz`
/// with libarchive: no unpacking to disk. Labels come from the folder
/// (neg=0, pos=1), the star rating from the file name `<id>_<rating>.txt`.
public struct IMDBReader: ExampleReader {
    public let path: String
    public let includeUnlabeled: Bool
    public static let labelNames = ["neg", "pos"]
    public var labelNames: [String]? { Self.labelNames }
    public var inputDescription: String { path }
    public var splits: [String] { includeUnlabeled ? ["train", "test", "unsup"] : ["train", "test"] }
    public let totalBytes: Int64

    public init(path: String, includeUnlabeled: Bool = false) throws {
        self.path = path
        self.includeUnlabeled = includeUnlabeled
        self.totalBytes = try fileSize(path)
    }

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        guard let archive = archive_read_new() else { throw DataError(file: path, "libarchive could not start") }
        defer { archive_read_free(archive) }
        archive_read_support_filter_all(archive)
        archive_read_support_format_all(archive)
        guard archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK else {
            throw DataError(
                file: path,
                "not a readable tar archive: \(Self.message(archive)) (expected a gzip-compressed tar such as aclImdb_v1.tar.gz)"
            )
        }
        var sawLayout = false
        var entryCount = 0
        while true {
            var entry: OpaquePointer?
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                if entryCount == 0 {
                    throw DataError(
                        file: path,
                        "not a readable tar archive: \(Self.message(archive)) (expected a gzip-compressed tar such as aclImdb_v1.tar.gz)"
                    )
                }
                throw DataError(
                    file: path, place: "after entry \(entryCount)",
                    "\(Self.message(archive)) (the archive is truncated or corrupt)")
            }
            entryCount += 1
            if entryCount % 1024 == 0 { progress(archive_filter_bytes(archive, -1)) }
            guard let pathname = archive_entry_pathname(entry),
                let target = Self.target(pathname, includeUnlabeled: includeUnlabeled)
            else { continue }
            let name = String(cString: pathname)
            sawLayout = true
            let size = Int(archive_entry_size(entry))
            var failure: String?
            // Read straight into the example's own buffer: one allocation per review, no copy.
            let text = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                while initialized < size {
                    let n = archive_read_data(archive, buffer.baseAddress! + initialized, size - initialized)
                    if n <= 0 { failure = n == 0 ? "entry ends early" : Self.message(archive); break }
                    initialized += n
                }
            }
            if let failure {
                throw DataError(file: path, place: "entry \(name)", "\(failure) (the archive is truncated or corrupt)")
            }
            try validateUTF8(text, file: path, place: "entry \(name)")
            try body(
                RawExample(
                    split: target.split, text: text, label: target.label, source: target.id, rating: target.rating))
        }
        progress(totalBytes)
        guard sawLayout else {
            throw DataError(file: path, "no review files found (expected entries like aclImdb/train/pos/0_9.txt)")
        }
        return 0
    }

    struct Target { var split: String; var label: RawLabel; var id: UInt32; var rating: UInt8 }

    /// Maps `aclImdb/<train|test>/<neg|pos|unsup>/<id>_<rating>.txt` to its
    /// example fields, or nil for every other entry. It reads the C string in
    /// place: most of the 100,000 entries are skipped, and none needs a String.
    static func target(_ pathname: UnsafePointer<CChar>, includeUnlabeled: Bool) -> Target? {
        let path = UnsafeBufferPointer(
            start: UnsafeRawPointer(pathname).assumingMemoryBound(to: UInt8.self), count: strlen(pathname))
        // Archives made with `tar -C dir .` prefix every path with "./".
        let parts = path.split(separator: UInt8(ascii: "/")).drop { $0.elementsEqual(".".utf8) }
        guard parts.count == 4 else { return nil }
        let root = parts[parts.startIndex], folder = parts[parts.startIndex + 1]
        let labelFolder = parts[parts.startIndex + 2], file = parts[parts.startIndex + 3]
        guard root.elementsEqual("aclImdb".utf8), file.count > 4, file.suffix(4).elementsEqual(".txt".utf8) else {
            return nil
        }
        let split: String
        if folder.elementsEqual("train".utf8) {
            split = "train"
        } else if folder.elementsEqual("test".utf8) {
            split = "test"
        } else {
            return nil
        }
        let label: RawLabel
        if labelFolder.elementsEqual("neg".utf8) {
            label = .index(0)
        } else if labelFolder.elementsEqual("pos".utf8) {
            label = .index(1)
        } else if includeUnlabeled && labelFolder.elementsEqual("unsup".utf8) {
            label = .unlabeled
        } else {
            return nil
        }
        let stem = file.dropLast(4).split(separator: UInt8(ascii: "_"), omittingEmptySubsequences: false)
        guard stem.count == 2, let id = UInt32(decimal: stem[0]), let rating = UInt8(decimal: stem[1]) else {
            return nil
        }
        return Target(split: label == .unlabeled ? "unsup" : split, label: label, id: id, rating: rating)
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}

extension FixedWidthInteger where Self: UnsignedInteger {
    /// A non-empty run of ASCII digits, or nil (also on overflow).
    init?<Digits: Collection>(decimal digits: Digits) where Digits.Element == UInt8 {
        guard !digits.isEmpty else { return nil }
        var value: Self = 0
        for byte in digits {
            guard byte &- 0x30 < 10 else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Self(byte &- 0x30))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        self = value
    }
}
