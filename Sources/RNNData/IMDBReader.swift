import CArchive
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
            throw DataError(file: path, "not a readable tar archive: \(Self.message(archive)) (expected a gzip-compressed tar such as aclImdb_v1.tar.gz)")
        }
        var sawLayout = false
        var entryCount = 0
        while true {
            var entry: OpaquePointer?
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                if entryCount == 0 {
                    throw DataError(file: path, "not a readable tar archive: \(Self.message(archive)) (expected a gzip-compressed tar such as aclImdb_v1.tar.gz)")
                }
                throw DataError(file: path, place: "after entry \(entryCount)", "\(Self.message(archive)) (the archive is truncated or corrupt)")
            }
            entryCount += 1
            if entryCount % 1024 == 0 { progress(archive_filter_bytes(archive, -1)) }
            // Most of the 100,000 entries are skipped; test the path before making a String of it.
            guard let pathname = archive_entry_pathname(entry), Self.mayBeReview(pathname) else { continue }
            let name = String(cString: pathname)
            guard let target = Self.classify(name, includeUnlabeled: includeUnlabeled) else { continue }
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
            if let failure { throw DataError(file: path, place: "entry \(name)", "\(failure) (the archive is truncated or corrupt)") }
            try validateUTF8(text, file: path, place: "entry \(name)")
            try body(RawExample(split: target.split, text: text, label: target.label, source: target.id, rating: target.rating))
        }
        progress(totalBytes)
        guard sawLayout else {
            throw DataError(file: path, "no review files found (expected entries like aclImdb/train/pos/0_9.txt)")
        }
        return 0
    }

    static func mayBeReview(_ path: UnsafePointer<CChar>) -> Bool {
        var path = path
        if path[0] == CChar(UInt8(ascii: ".")) && path[1] == CChar(UInt8(ascii: "/")) { path += 2 }
        let prefix = "aclImdb/t"
        for (i, c) in prefix.utf8.enumerated() where path[i] != CChar(bitPattern: c) { return false }
        let length = strlen(path)
        return length > 4 && path[length - 4] == CChar(UInt8(ascii: ".")) && path[length - 1] == CChar(UInt8(ascii: "t"))
    }

    struct Target { var split: String; var label: RawLabel; var id: UInt32; var rating: UInt8 }

    /// Maps `aclImdb/<split>/<pos|neg|unsup>/<id>_<rating>.txt` to its example fields.
    static func classify(_ name: String, includeUnlabeled: Bool) -> Target? {
        // Archives made with `tar -C dir .` prefix every path with "./".
        let parts = name.split(separator: "/").drop { $0 == "." }
        guard parts.count == 4, parts[parts.startIndex] == "aclImdb", parts.last!.hasSuffix(".txt") else { return nil }
        let folder = parts[parts.startIndex + 1], labelFolder = parts[parts.startIndex + 2], file = parts.last!
        let label: RawLabel
        switch labelFolder {
        case "neg": label = .index(0)
        case "pos": label = .index(1)
        case "unsup" where includeUnlabeled: label = .unlabeled
        default: return nil
        }
        guard folder == "train" || folder == "test" else { return nil }
        let stem = file.dropLast(4).split(separator: "_")
        guard stem.count == 2, let id = UInt32(stem[0]), let rating = UInt8(stem[1]) else { return nil }
        let split = label == .unlabeled ? "unsup" : String(folder)
        return Target(split: split, label: label, id: id, rating: rating)
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
