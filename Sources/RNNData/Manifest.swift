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
        guard let record = manifest.split(name) else {
            throw DataError(
                file: directory.appendingPathComponent("manifest.json").path,
                "no split \"\(name)\" (available: \(manifest.splits.map(\.name).joined(separator: ", ")))")
        }
        var combined = Shard()
        for shardRecord in record.shards {
            let url = directory.appendingPathComponent(shardRecord.file)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw DataError(file: url.path, "not found (the manifest names it)")
            }
            guard data.count == shardRecord.bytes else {
                throw DataError(
                    file: url.path, "size \(data.count) differs from the manifest's \(shardRecord.bytes) bytes")
            }
            let bytes = Array(data)
            let stored = hex32(ShardFormat.storedChecksum(bytes))
            guard stored == shardRecord.crc32 else {
                throw DataError(
                    file: url.path,
                    "checksum \(stored) differs from the manifest's \(shardRecord.crc32) (the file was replaced or is corrupt)"
                )
            }
            let shard = try ShardFormat.decode(
                bytes, file: url.path, vocabularySize: manifest.tokenizer.vocabularySize,
                labelCount: manifest.labels.count)
            guard shard.count == shardRecord.examples else {
                throw DataError(
                    file: url.path, "holds \(shard.count) examples; the manifest says \(shardRecord.examples)")
            }
            let base = combined.tokens.count
            combined.tokens += shard.tokens
            combined.offsets += shard.offsets.dropFirst().map { $0 + base }
            combined.labels += shard.labels
            combined.sources += shard.sources
            combined.ratings += shard.ratings
        }
        return combined
    }
}
