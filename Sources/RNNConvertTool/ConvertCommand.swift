import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNInterop
import RNNModel
import RNNSupport
import RNNText

public struct ConvertCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Bring a PyTorch model in as a model file, or take a model file out to ONNX or safetensors.",
        version: rnnkitVersion.description,
        subcommands: [Import.self, Export.self])

    public init() {}

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A PyTorch classifier's safetensors state dict (embedding → RNN/GRU/LSTM → linear) → model.rnnk.",
            discussion: """
                The recurrent tensors are found by PyTorch's names (weight_ih_l0, …, _reverse), the embedding \
                and the head by shape; --map names them when that is ambiguous. Labels and sequence settings \
                come from --classifier (a classifier.json, as convert export writes) or the flags, which win. \
                --padding none means the model was run packed (pack_padded_sequence): it classifies from each \
                text's last token; pre and post run over the padding, as a padded PyTorch model does.
                """)

        @Argument(help: "The state dict: a .safetensors file (F32, F16, BF16 or F64 tensors).")
        var weights: String

        @Option(
            help:
                "WordPiece tokenizer: a Hugging Face tokenizer.json, or a BERT vocab.txt (read with bert-base-uncased's settings: lowercased, accents stripped)."
        )
        var tokenizer: String?

        @Option(help: "Word-level tokenizer: rnnkit's vocab.txt (<pad>, <start>, <unk>, then words).")
        var wordVocabulary: String?

        @Option(help: "A classifier.json: labels, max_length, padding, truncation, markers, pooling.")
        var classifier: String?

        @Option(help: "Class names in the head's order, comma-separated.")
        var labels: String?

        @Option(help: "Longest sequence, markers included (0: no limit).")
        var maxLength: Int?

        @Option(help: "none (packed), pre or post.")
        var padding: SequencePolicy.Padding?

        @Option(help: "tail (keep the start) or head (keep the end).")
        var truncation: SequencePolicy.Truncation?

        @Option(help: "Markers ([CLS] … [SEP] or <start>): on or off.")
        var markers: Switch?

        @Option(help: "What the head reads of the top layer's states: last, max, mean or attention (default: last).")
        var pooling: Pooling?

        @Option(
            name: .customLong("map"), parsing: .singleValue,
            help: "OURS=THEIRS: which state-dict tensor is the embedding, head.weight, head.bias or attention.query.")
        var mappings: [String] = []

        @Option(help: "The model file to write.")
        var out: String

        enum Switch: String, ExpressibleByArgument { case on, off }

        func validate() throws {
            if (tokenizer == nil) == (wordVocabulary == nil) {
                throw ValidationError("give exactly one of --tokenizer and --word-vocabulary")
            }
            for mapping in mappings where mapping.split(separator: "=").count != 2 {
                throw ValidationError("--map \(mapping): expected OURS=THEIRS, e.g. embedding=emb.weight")
            }
            if let maxLength, maxLength < 0 { throw ValidationError("--max-length must be at least 0") }
        }

        func run() throws {
            try reportingErrors {
                var settings: ClassifierSettings?
                if let classifier {
                    do {
                        settings = try JSONDecoder().decode(
                            ClassifierSettings.self, from: Data(try MappedFile(path: classifier).contents))
                    } catch let error as DataError { throw error } catch {
                        throw DataError(file: classifier, describe(decodingError: error))
                    }
                    if let threshold = settings?.threshold, !(threshold > 0 && threshold < 1) {
                        throw DataError(file: classifier, "threshold \(threshold) (expected between 0 and 1)")
                    }
                }
                let labelList = labels.map { $0.split(separator: ",").map(String.init) } ?? settings?.labels
                guard let labelList else { throw DataError(file: "--labels", "give --labels or --classifier") }
                var policy = settings?.policy ?? SequencePolicy()
                if settings == nil && padding == nil {
                    throw DataError(file: "--padding", "say how the model was run: none (packed), pre or post")
                }
                if let maxLength { policy.maxLength = maxLength == 0 ? nil : maxLength }
                if let padding { policy.padding = padding }
                if let truncation { policy.truncation = truncation }
                if let markers { policy.markers = markers == .on }
                if let problem = policy.problem { throw DataError(file: "--padding", problem) }

                let spec: TokenizerSpec
                let vocabulary: Vocabulary
                if let tokenizer {
                    let loaded = try HuggingFaceTokenizer.load(path: tokenizer, options: .init())
                    spec = TokenizerSpec(kind: .wordpiece, wordPiece: loaded.options)
                    vocabulary = loaded.vocabulary
                } else {
                    do {
                        vocabulary = try Vocabulary(fileBytes: Array(try MappedFile(path: wordVocabulary!).contents))
                    } catch let error as DataError { throw error } catch {
                        throw DataError(file: wordVocabulary!, "\(error)")
                    }
                    spec = TokenizerSpec(kind: .word, vocabularySize: vocabulary.count - 3)
                }
                let text: Tokenizer
                do { text = try Tokenizer(spec: spec, vocabulary: vocabulary) } catch {
                    throw DataError(file: tokenizer ?? wordVocabulary!, "\(error)")
                }
                let bytes = Array(try MappedFile(path: weights).contents)
                let classifier: Classifier
                do {
                    let file = try bytes.withUnsafeBytes { try Safetensors(bytes: $0) }
                    let pairs = mappings.map { $0.split(separator: "=").map(String.init) }
                    let names = Dictionary(pairs.map { ($0[0], $0[1]) }, uniquingKeysWith: { $1 })
                    var (architecture, parameters) = try PyTorchWeights.map(
                        file, vocabularySize: vocabulary.count, classes: labelList.count,
                        paddingID: text.specialIDs.padding, pooling: pooling ?? settings?.pooling ?? .last,
                        names: names)
                    architecture.output = settings?.output ?? .softmax
                    classifier = try Classifier(
                        architecture: architecture, tokenizerSpec: spec, vocabulary: vocabulary, policy: policy,
                        labels: labelList, parameters: parameters,
                        provenance: [
                            (
                                "training.data",
                                .string("imported from \(weights) (CRC-32 \(hex32(CRC32.checksum(bytes))))")
                            ),
                            ("training.tool", .string("rnnkit convert \(rnnkitVersion)")),
                            ("training.created", .string(ISO8601DateFormatter().string(from: Date()))),
                        ]
                            + (architecture.output == .sigmoid
                                ? [("output.threshold", .double(threshold: settings?.threshold ?? 0.5))] : []))
                } catch { throw DataError(file: weights, "\(error)") }
                try writeAtomically(classifier.file.encoded(), to: URL(fileURLWithPath: out))
                let a = classifier.architecture
                print(
                    "\(out): \(a.cell.rawValue) \(a.layers) layer(s)\(a.bidirectional ? ", bidirectional" : "")"
                        + (a.pooling == .last ? ", " : ", \(a.pooling.rawValue) pooling, ")
                        + "vocabulary \(a.vocabularySize), embedding \(a.embedding), hidden \(a.hidden), "
                        + "\(a.classes) labels (\(labelList.joined(separator: ", "))); padding \(policy.padding.rawValue)"
                        + (policy.maxLength.map { ", max length \($0)" } ?? ""))
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A model file → ONNX or safetensors, with its tokenizer and classifier.json beside.",
            discussion: """
                Writes to --out: model.onnx (opset 14: Gather, the ONNX RNN/GRU/LSTM operator per layer, \
                Gemm, Softmax; input "ids" int64 [batch, time], "lengths" int64 [batch] for packed models) \
                or model.safetensors (the state dict of Tools/pytorch-reference.py's class), plus \
                tokenizer.json (WordPiece) or vocab.txt (word-level) and classifier.json.
                """)

        @Argument(help: "A model file written by train or convert import.")
        var model: String

        @Option(help: "onnx or safetensors.")
        var to: Format

        @Option(help: "Output directory.")
        var out: String

        enum Format: String, ExpressibleByArgument { case onnx, safetensors }

        func run() throws {
            try reportingErrors {
                let classifier = try loadClassifier(model)
                let directory = URL(fileURLWithPath: out, isDirectory: true)
                try createDirectory(directory)
                var files = try CompanionFiles(classifier).files
                switch to {
                case .safetensors:
                    files.append(
                        (
                            "model.safetensors",
                            Safetensors.encode(
                                tensors: PyTorchWeights.stateDict(classifier), metadata: ["format": "pt"])
                        ))
                case .onnx:
                    files.append(("model.onnx", ONNXExport.model(classifier)))
                }
                for (name, bytes) in files {
                    try writeAtomically(bytes, to: directory.appendingPathComponent(name))
                    print("\(directory.appendingPathComponent(name).path)  \(bytes.count) bytes")
                }
            }
        }
    }
}

extension SequencePolicy.Padding: ExpressibleByArgument {}
extension SequencePolicy.Truncation: ExpressibleByArgument {}
extension Pooling: ExpressibleByArgument {}
