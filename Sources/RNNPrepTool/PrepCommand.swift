import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNSupport
import RNNText

public struct PrepCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "prep",
        abstract: "Turn raw text datasets into a vocabulary and checksummed binary shards.",
        discussion: """
            Output goes to artifacts/<dataset>/ (manifest.json, vocab.txt, <split>-NNNNN.shard); \
            see Artifacts/ for the formats. Datasets are read from $RNNKIT_DATA (default data/).
            """,
        version: rnnkitVersion.description,
        subcommands: [
            IMDB.self, AGNews.self, CSV.self, JSONLines.self, FastText.self, Parquet.self, Show.self, Tokenize.self,
        ])

    public init() {}
}

/// A `prep` subcommand that reads one dataset: its readers, and the name and recipe it prepares them under.
public protocol DatasetCommand: ParsableCommand {
    var common: CommonOptions { get }
    /// The manifest's dataset name and the default output directory's.
    var datasetName: String { get }
    var defaultRecipe: String { get }
    func readers() throws -> [ExampleReader]
}

extension DatasetCommand {
    public func run() throws {
        try common.run(dataset: datasetName, defaultRecipe: defaultRecipe, readers: readers)
    }

    /// Prepares the dataset in this process; errors are thrown, not printed.
    public func prepare() throws -> PrepResult {
        try Prep.run(
            readers: try readers(),
            configuration: try common.configuration(dataset: datasetName, defaultRecipe: defaultRecipe))
    }
}

extension PrepCommand {
    /// A `prep` command line (without the tool's name) run in this process, as a sweep runs its prep step.
    public static func prepare(arguments: [String]) throws -> PrepResult {
        let place = "prep " + arguments.joined(separator: " ")
        let command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { throw DataError(file: place, message(for: error)) }
        guard let dataset = command as? DatasetCommand else {
            throw DataError(
                file: place, "not a dataset command (expected imdb, agnews, csv, jsonl, fasttext or parquet)")
        }
        return try dataset.prepare()
    }
}

/// Options every dataset command shares; a flag given here beats the recipe.
/// The Python trainer (librnnkit) parses the same flags for rows it holds in memory.
public struct CommonOptions: ParsableArguments {
    public init() {}

    @Option(help: "Output directory (default: artifacts/<dataset>).")
    var out: String?

    @Flag(help: "Replace an existing output directory.")
    var force = false

    @Option(help: "Recipe name in Pipelines/ or a path to a recipe JSON (default: the dataset's own).")
    var recipe: String?

    @Option(help: "Tokenizer: word or wordpiece (default: from the recipe).")
    var tokenizer: TokenizerSpec.Kind?

    @Option(help: "Word-level: number of most frequent training words to keep (specials come on top).")
    var vocabSize: Int?

    @Option(help: "Word-level: minimum training count for a word to enter the vocabulary.")
    var minFreq: Int?

    @Option(help: "WordPiece: the vocab.txt to use (default: from the recipe, under the data directory).")
    var vocabFile: String?

    @Option(
        help:
            "WordPiece from a Hugging Face tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece): its settings and vocabulary."
    )
    var tokenizerFile: String?

    @Option(
        help: ArgumentHelp(
            "Tokenize with a trained model's tokenizer and number labels as it does, so that `train eval MODEL --shards` scores the files.",
            valueName: "model.rnnk"))
    var tokenizerFrom: String?

    @Option(help: "Examples per shard file.")
    var shardSize = 10_000

    @Option(
        help: ArgumentHelp(
            "Tokenized examples held in memory before they spill to files beside the output, e.g. 64M or 2G; the rest of prep's memory is set by the vocabulary.",
            valueName: "size"))
    var memory = "256M"

    @Flag(help: "No progress display.")
    var quiet = false

    public func validate() throws {
        if let vocabSize, vocabSize < 1 { throw ValidationError("--vocab-size must be at least 1 (got \(vocabSize))") }
        if let minFreq, minFreq < 1 { throw ValidationError("--min-freq must be at least 1 (got \(minFreq))") }
        if shardSize < 1 { throw ValidationError("--shard-size must be at least 1 (got \(shardSize))") }
        if Self.bytes(memory) == nil {
            throw ValidationError(
                "--memory \"\(memory)\" is not a size (expected bytes, or a number with K, M or G: 64M)")
        }
        if vocabFile != nil && tokenizerFile != nil {
            throw ValidationError("give --vocab-file or --tokenizer-file, not both")
        }
        if tokenizerFile != nil && tokenizer == .word {
            throw ValidationError("--tokenizer-file is a WordPiece tokenizer")
        }
        if tokenizerFrom != nil {
            let others = [
                ("--tokenizer", tokenizer != nil), ("--vocab-size", vocabSize != nil), ("--min-freq", minFreq != nil),
                ("--vocab-file", vocabFile != nil), ("--tokenizer-file", tokenizerFile != nil),
            ].filter(\.1).map(\.0)
            if !others.isEmpty {
                throw ValidationError(
                    "--tokenizer-from takes the model's tokenizer: drop \(others.joined(separator: ", "))")
            }
        }
    }

    /// "64M" → 64 MiB; nil for anything but a positive whole number with an optional K, M or G.
    static func bytes(_ size: String) -> Int? {
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30]
        let unit = size.last.flatMap { shifts[Character($0.uppercased())] }
        guard let number = Int(unit == nil ? size : String(size.dropLast())), number > 0, number < 1 << 40 else {
            return nil
        }
        return number << (unit ?? 0)
    }

    /// Runs prep with the recipe `defaultRecipe` overridden by these flags, and prints the summary.
    func run(dataset: String, defaultRecipe: String, readers: () throws -> [ExampleReader]) throws {
        try reportingErrors {
            let configuration = try configuration(dataset: dataset, defaultRecipe: defaultRecipe)
            var result = try Prep.run(readers: try readers(), configuration: configuration)
            result.summary.output = configuration.output.path
            print(result.summary.text)
        }
    }

    /// Prep's settings: the recipe `defaultRecipe` overridden by these flags.
    public func configuration(dataset: String, defaultRecipe: String) throws -> PrepConfiguration {
        let (recipe, recipePath) = try Recipe.load(self.recipe ?? defaultRecipe)
        let model = try tokenizerFrom.map(ModelVocabulary.init(path:))
        let kind = model?.spec.kind ?? (tokenizerFile != nil ? .wordpiece : tokenizer ?? recipe.tokenizer.kind)
        var spec = TokenizerSpec(kind: kind)
        var vocabularyFile: String?
        switch kind {
        case _ where model != nil: spec = model!.spec
        case .word:
            spec.vocabularySize = vocabSize ?? recipe.tokenizer.vocabularySize ?? 5_000
            spec.minimumCount = minFreq ?? recipe.tokenizer.minimumCount ?? 1
        case .wordpiece:
            var options = WordPieceTokenizer.Options()
            options.lowercase = recipe.tokenizer.lowercase ?? true
            options.stripAccents = recipe.tokenizer.stripAccents ?? options.lowercase
            if let file = vocabFile ?? tokenizerFile {
                vocabularyFile = file
            } else {
                let relative = recipe.tokenizer.vocabularyFile ?? "bert-base-uncased/vocab.txt"
                vocabularyFile =
                    relative.hasPrefix("/") ? relative : DataDirectory.url.appendingPathComponent(relative).path
            }
            vocabularyFile = try DataDirectory.require(
                vocabularyFile!, what: "a WordPiece vocab.txt (e.g. bert-base-uncased/vocab.txt)")
            // The recipe's settings; a tokenizer.json replaces them with its own.
            spec.wordPiece = options
        }
        var configuration = PrepConfiguration(
            dataset: dataset, tokenizer: spec, vocabularyFile: vocabularyFile, shardSize: shardSize,
            output: URL(fileURLWithPath: out ?? "artifacts/\(dataset)", isDirectory: true), replace: force,
            quiet: quiet,
            command: CommandLine.arguments, recipe: recipePath, model: model)
        configuration.memory = Self.bytes(memory)!
        return configuration
    }
}

extension TokenizerSpec.Kind: ExpressibleByArgument {}
