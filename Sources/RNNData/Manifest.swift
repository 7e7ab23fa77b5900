import Foundation
import RNNBinary
import RNNSupport
import RNNText

/// `manifest.json`: what a prep run wrote and how. Schema: `Artifacts/manifest.md`.
public struct Manifest: Codable, Equatable {
    public static let currentVersion = 1
    public var format = "rnnkit-manifest"
    public var formatVersion = Manifest.currentVersion
    public var dataset: String
    public var labels: [String]
    /// True when examples carry label sets (several labels each; shards hold them as targets of weight 1).
    public var multiLabel: Bool?
    public var tokenizer: TokenizerRecord
    public var splits: [SplitRecord]
    public var provenance: Provenance

    public struct TokenizerRecord: Codable, Equatable {
        public var spec: TokenizerSpec
        public var vocabularyFile: String
        public var vocabularySize: Int
        public var vocabularyCRC32: String
        public var specialIDs: SpecialIDs
    }

    public struct SplitRecord: Codable, Equatable {
        public var name: String
        public var examples: Int
        public var tokens: Int
        public var labeled: Bool
        /// Examples per label, in label order; empty for an unlabeled split.
        public var labelCounts: [Int]
        /// True when every example carries soft labels (a teacher's probabilities); absent otherwise.
        public var softLabels: Bool?
        public var shards: [ShardRecord]
    }

    public struct ShardRecord: Codable, Equatable {
        public var file: String
        public var examples: Int
        public var bytes: Int
        public var crc32: String
    }

    public struct Provenance: Codable, Equatable {
        public var tool: String
        public var version: String
        public var command: [String]
        public var inputs: [Input]
        public var recipe: String?
        public var created: String
    }

    public struct Input: Codable, Equatable {
        public var path: String
        public var bytes: Int64
    }

    public func split(_ name: String) -> SplitRecord? { splits.first { $0.name == name } }
}

/// A prepared dataset directory, validated as it is opened.
public struct PreparedDataset {
    public let directory: URL
    public let manifest: Manifest
    public let tokenizer: Tokenizer

    public init(directory: URL) throws {
        self.directory = directory
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw DataError(file: manifestURL.path, "not found (expected a directory written by `prep`)")
        }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw DataError(file: manifestURL.path, "not a valid manifest: \(describe(decodingError: error))")
        }
        guard manifest.format == "rnnkit-manifest" else {
            throw DataError(file: manifestURL.path, "not an rnnkit manifest")
        }
        guard manifest.formatVersion <= Manifest.currentVersion else {
            throw DataError(
                file: manifestURL.path,
                "manifest version \(manifest.formatVersion) is newer than this build reads (\(Manifest.currentVersion)); update rnnkit"
            )
        }
        self.manifest = manifest
        let vocabularyURL = directory.appendingPathComponent(manifest.tokenizer.vocabularyFile)
        guard let vocabularyBytes = FileManager.default.contents(atPath: vocabularyURL.path) else {
            throw DataError(file: vocabularyURL.path, "not found (the manifest names it)")
        }
        let checksum = hex32(CRC32.checksum(Array(vocabularyBytes)))
        guard checksum == manifest.tokenizer.vocabularyCRC32 else {
            throw DataError(
                file: vocabularyURL.path,
                "checksum \(checksum) differs from the manifest's \(manifest.tokenizer.vocabularyCRC32)")
        }
        do {
            tokenizer = try Tokenizer(
                spec: manifest.tokenizer.spec, vocabulary: Vocabulary(fileBytes: Array(vocabularyBytes)))
        } catch {
            throw DataError(file: vocabularyURL.path, "\(error)")
        }
    }

    /// All shards of a split, concatenated, each checked against the manifest.
    public func load(split name: String) throws -> Shard {
        let reader = try reader(split: name)
        return try reader.read(Array(0..<reader.count))
    }

    /// A split's examples by index, read from its shards when asked for.
    public func reader(split name: String) throws -> SplitReader {
        guard let record = manifest.split(name) else {
            throw DataError(
                file: directory.appendingPathComponent("manifest.json").path,
                "no split \"\(name)\" (available: \(manifest.splits.map(\.name).joined(separator: ", ")))")
        }
        return SplitReader(
            name: name, directory: directory, shards: record.shards,
            vocabularySize: manifest.tokenizer.vocabularySize, labelCount: manifest.labels.count)
    }
}

/// The examples of one split, numbered across its shards in the manifest's
/// order, read by index: a trainer holds the examples it works on, not the
/// split. Each shard is checked against the manifest (size, example count,
/// stored CRC) whenever it is opened, and its checksum verified before its
/// first tokens are read. Files are opened per read, so a split of thousands
/// of shards holds no descriptors between reads.
public final class SplitReader: @unchecked Sendable {
    public let name: String
    public let count: Int
    let directory: URL
    let shards: [Manifest.ShardRecord]
    /// starts[k]: the index of shard k's first example.
    let starts: [Int]
    let vocabularySize: Int
    let labelCount: Int
    private var verified: Set<Int> = []
    private let lock = NSLock()

    init(name: String, directory: URL, shards: [Manifest.ShardRecord], vocabularySize: Int, labelCount: Int) {
        self.name = name
        self.directory = directory
        self.shards = shards
        self.vocabularySize = vocabularySize
        self.labelCount = labelCount
        var starts = [0]
        for shard in shards { starts.append(starts[starts.count - 1] + shard.examples) }
        count = starts.removeLast()
        self.starts = starts
    }

    private func open(_ k: Int) throws -> ShardFile {
        let record = shards[k]
        let path = directory.appendingPathComponent(record.file).path
        let file: ShardFile
        do { file = try ShardFile(path: path, vocabularySize: vocabularySize, labelCount: labelCount) } catch let error
            as DataError where error.problem == "not found"
        {
            throw DataError(file: path, "not found (the manifest names it)")
        }
        let size = file.checksumAt + 4
        guard size == record.bytes else {
            throw DataError(file: path, "size \(size) differs from the manifest's \(record.bytes) bytes")
        }
        let stored = hex32(try file.storedChecksum())
        guard stored == record.crc32 else {
            throw DataError(
                file: path,
                "checksum \(stored) differs from the manifest's \(record.crc32) (the file was replaced or is corrupt)")
        }
        guard file.count == record.examples else {
            throw DataError(file: path, "holds \(file.count) examples; the manifest says \(record.examples)")
        }
        return file
    }

    /// Every example's label, read without the tokens.
    public func labels() throws -> [Int32] {
        try shards.indices.flatMap { try open($0).labels() }
    }

    /// The examples at `indices` (ascending), in that order.
    public func read(_ indices: [Int]) throws -> Shard {
        var result = Shard()
        var i = 0
        while i < indices.count {
            precondition(indices[i] >= 0 && indices[i] < count && (i == 0 || indices[i] > indices[i - 1]))
            let k = starts.lastIndex { $0 <= indices[i] }!
            let end = k + 1 < starts.count ? starts[k + 1] : count
            var j = i
            while j < indices.count && indices[j] < end { j += 1 }
            let file = try open(k)
            let isVerified = lock.withLock { verified.contains(k) }
            if !isVerified {
                try file.verify()
                lock.withLock { _ = verified.insert(k) }
            }
            let first = indices[i] - starts[k], last = indices[j - 1] - starts[k]
            let piece = try file.read(first..<last + 1)
            result.append(piece, examples: indices[i..<j].map { $0 - starts[k] - first })
            i = j
        }
        return result
    }
}
