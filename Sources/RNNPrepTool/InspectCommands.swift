import ArgumentParser
import Foundation
import RNNCommandLine
import RNNData
import RNNSupport
import RNNText

extension PrepCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print examples of a prepared dataset: label, ids, tokens and metadata.")

        @Argument(help: "A directory written by prep, e.g. artifacts/imdb.")
        var directory: String

        @Option(help: "The split to show.")
        var split = "train"

        @Option(help: "How many examples to print.")
        var limit = 5

        @Option(help: "The first example to print (0-based).")
        var from = 0

        func run() throws {
            try reportingErrors {
                let dataset = try PreparedDataset(directory: URL(fileURLWithPath: directory, isDirectory: true))
                let shard = try dataset.load(split: split)
                let vocabulary = dataset.tokenizer.vocabulary
                print(
                    "\(dataset.manifest.dataset) \(split): \(shard.count) examples, labels \(dataset.manifest.labels.joined(separator: ", "))"
                )
                for i in from..<min(shard.count, from + max(limit, 0)) {
                    let label =
                        shard.labels[i] >= 0
                        ? "\(shard.labels[i]) \(dataset.manifest.labels[Int(shard.labels[i])])" : "unlabeled"
                    let ids = Array(shard.tokens(of: i))
                    var meta = "source \(shard.sources[i])"
                    if shard.ratings[i] > 0 { meta += ", rating \(shard.ratings[i])" }
                    print("#\(i)  label \(label)  (\(meta))  \(ids.count) tokens")
                    print("  ids:    \(ids.map(String.init).joined(separator: " "))")
                    print("  tokens: \(ids.map { vocabulary.token($0) }.joined(separator: " "))")
                }
            }
        }
    }

    struct Tokenize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the token ids of each input line, with the start/end markers a model sees.",
            discussion:
                "Use --vocab-file for BERT WordPiece from a vocab.txt, --tokenizer-file from a Hugging Face tokenizer.json, or --artifacts to tokenize exactly as a prepared dataset does."
        )

        @Option(help: "A WordPiece vocab.txt.")
        var vocabFile: String?

        @Option(help: "A Hugging Face tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece).")
        var tokenizerFile: String?

        @Option(help: "A directory written by prep (its tokenizer and vocabulary).")
        var artifacts: String?

        @Flag(help: "Print tokens instead of ids.")
        var tokens = false

        @Flag(help: "Leave out the start/end markers ([CLS]/[SEP] or <start>).")
        var noMarkers = false

        @Argument(help: "A text file (default: standard input).")
        var input: String?

        func validate() throws {
            if [vocabFile, tokenizerFile, artifacts].compactMap({ $0 }).count != 1 {
                throw ValidationError("give exactly one of --vocab-file, --tokenizer-file and --artifacts")
            }
        }

        func run() throws {
            try reportingErrors {
                let tokenizer: Tokenizer
                if let artifacts {
                    tokenizer = try PreparedDataset(directory: URL(fileURLWithPath: artifacts, isDirectory: true))
                        .tokenizer
                } else {
                    let path = vocabFile ?? tokenizerFile!
                    let loaded = try HuggingFaceTokenizer.load(path: path, options: .init())
                    do {
                        tokenizer = try Tokenizer(
                            spec: TokenizerSpec(kind: .wordpiece, wordPiece: loaded.options),
                            vocabulary: loaded.vocabulary)
                    } catch { throw DataError(file: path, "\(error)") }
                }
                let handle: FileHandle
                if let input {
                    guard let opened = FileHandle(forReadingAtPath: input) else {
                        throw DataError(file: input, "cannot open for reading")
                    }
                    handle = opened
                } else {
                    handle = FileHandle.standardInput
                }
                let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
                var output = ""
                for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(
                    text.hasSuffix("\n") ? 1 : 0)
                {
                    let ids = noMarkers ? tokenizer.encode(String(line)) : tokenizer.encodeWithMarkers(String(line))
                    output +=
                        (tokens ? ids.map { tokenizer.vocabulary.token($0) } : ids.map(String.init)).joined(
                            separator: " ") + "\n"
                }
                FileHandle.standardOutput.write(Data(output.utf8))
            }
        }
    }
}
