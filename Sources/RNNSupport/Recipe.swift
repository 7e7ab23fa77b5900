import Foundation
import RNNText

/// A named recipe from `Pipelines/`: how a dataset is tokenized (and, for
/// the trainer, which lengths, model and optimizer it uses). Flags override it.
public struct Recipe: Codable {
    public var name: String
    public var description: String?
    public var dataset: String
    public var tokenizer: TokenizerSection
    /// The trainer's sections; each key is optional and a flag overrides it.
    public var lengths: LengthsSection?
    public var model: ModelSection?
    public var optimizer: OptimizerSection?
    public var training: TrainingSection?

    public struct LengthsSection: Codable {
        public var maxLength: Int?
        public var padding: String?
        public var truncation: String?
        public var startToken: Bool?
    }

    public struct ModelSection: Codable {
        public var cell: String?
        public var embedding: Int?
        public var hidden: Int?
        public var layers: Int?
        public var bidirectional: Bool?
        public var dropout: Float?
        public var initialization: String?
        public var pooling: String?
        /// A word2vec/fastText/GloVe text file whose vectors start the embedding rows they name.
        public var pretrainedVectors: String?
        public var freezeEmbedding: Bool?
    }

    public struct OptimizerSection: Codable {
        public var name: String?
        public var learningRate: Float?
        public var momentum: Float?
        public var weightDecay: Float?
        public var schedule: String?
        public var warmupSteps: Int?
        public var clipNorm: Float?
    }

    public struct TrainingSection: Codable {
        /// With early stopping, the most epochs.
        public var epochs: Int?
        public var batchSize: Int?
        public var seed: UInt64?
        /// The share of the training split held out for validation (when the dataset has no validation split).
        public var validation: Double?
        /// Stop after this many epochs without a better validation figure.
        public var earlyStopping: Int?
        /// The validation figure that selects the epoch: accuracy, macro-f1 or loss.
        public var select: String?
        /// Loss weight per class: `balanced`, or a JSON file mapping each label to its weight.
        public var classWeights: String?
        /// With soft labels: the temperature teacher and model are softened at.
        public var distillTemperature: Float?
        /// With soft labels: the weight of the hard label's cross-entropy.
        public var hardLabelWeight: Float?
        /// softmax (one label per text) or ova (a set of labels per text).
        public var loss: String?
    }

    public struct TokenizerSection: Codable {
        public var kind: TokenizerSpec.Kind
        public var vocabularySize: Int?
        public var minimumCount: Int?
        /// WordPiece: relative to the data directory unless absolute.
        public var vocabularyFile: String?
        public var lowercase: Bool?
        public var stripAccents: Bool?
    }

    /// Where recipes are looked up, in order: `$RNNKIT_PIPELINES`; `Pipelines/` in the working directory; then
    /// beside the file this code runs from (the executable, or librnnkit in a program that loaded it): its
    /// folder's `recipes/` (the rnnkit wheel's layout), and in each folder above it an installed tree's
    /// `share/rnnkit/recipes/` and a checkout's `Pipelines/` (a checkout's `.build/…/release/prep` finds the
    /// checkout's recipes).
    public static var directories: [URL] {
        if let configured = ProcessInfo.processInfo.environment["RNNKIT_PIPELINES"] {
            return [URL(fileURLWithPath: configured, isDirectory: true)]
        }
        var folder = codeFile.deletingLastPathComponent()
        var found = [
            URL(fileURLWithPath: "Pipelines", isDirectory: true),
            folder.appendingPathComponent("recipes", isDirectory: true),
        ]
        for _ in 0..<4 {
            folder = folder.deletingLastPathComponent()
            found.append(folder.appendingPathComponent("share/rnnkit/recipes", isDirectory: true))
            found.append(folder.appendingPathComponent("Pipelines", isDirectory: true))
        }
        return found
    }

    /// The file this code was loaded from: the mapping of /proc/self/maps that holds this function's code (the
    /// executable, or librnnkit in a program that loaded it).
    static var codeFile: URL {
        let here: @convention(c) () -> Void = {}
        let address = UInt(bitPattern: unsafeBitCast(here, to: UnsafeRawPointer.self))
        // Read to its end: /proc files report a size of 0, which whole-file readers trust.
        if let maps = FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() {
            for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                let range = fields.first?.split(separator: "-").compactMap { UInt($0, radix: 16) } ?? []
                if fields.count >= 6, range.count == 2, range[0] <= address, address < range[1],
                    fields[5].hasPrefix("/")
                {
                    return URL(fileURLWithPath: fields[5...].joined(separator: " ")).resolvingSymlinksInPath()
                }
            }
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }

    /// A recipe by name (`imdb` → `Pipelines/imdb.json`) or by path.
    public static func load(_ nameOrPath: String) throws -> (recipe: Recipe, path: String) {
        let candidates =
            nameOrPath.hasSuffix(".json") || nameOrPath.contains("/")
            ? [URL(fileURLWithPath: nameOrPath)]
            : directories.map { $0.appendingPathComponent("\(nameOrPath).json") }
        guard let url = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }),
            let data = FileManager.default.contents(atPath: url.path)
        else {
            throw DataError(
                file: candidates[0].path,
                "recipe not found (run from the rnnkit checkout, set RNNKIT_PIPELINES, or pass --recipe PATH)")
        }
        do { return (try JSONDecoder().decode(Recipe.self, from: data), url.path) } catch {
            throw DataError(file: url.path, "not a valid recipe: \(describe(decodingError: error))")
        }
    }
}

/// Where the datasets live: `$RNNKIT_DATA`, default `data/`.
public enum DataDirectory {
    public static var url: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["RNNKIT_DATA"] ?? "data", isDirectory: true)
    }

    /// Fails with where to put `relativePath` and how to get it, when it is missing.
    public static func require(_ path: String, what: String) throws -> String {
        if FileManager.default.fileExists(atPath: path) { return path }
        throw DataError(
            file: path,
            "not found. Put \(what) there (the data directory is $RNNKIT_DATA, default data/), or run Tools/fetch-data to download the public datasets into it"
        )
    }
}
