import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNModel
import RNNSupport
import RNNText
import RNNTrain
import RNNTrainOptions

public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an RNN, LSTM or GRU text classifier on prepared shards, evaluate it, inspect a model file.",
        version: rnnkitVersion.description,
        subcommands: [Fit.self, Eval.self, QuantizeCommand.self, Inspect.self, Sweep.self],
        defaultSubcommand: Fit.self)

    public init() {}
}

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Train a classifier and export one model file (the default: `train --shards DIR` is `train fit --shards DIR`).",
        discussion: """
            Settings come from the dataset's recipe in Pipelines/ (e.g. Pipelines/imdb.json); flags override it. \
            Writes model.rnnk, checkpoint.rnnk, metrics.jsonl and learning-curve.svg to --out (default runs/<dataset>).

            Data-parallel on many machines: `mpirun -np P --hostfile hosts train --shards DIR --threads T` runs one \
            process per rank (detected from the launcher's environment; --distributed mpi forces it). Each rank reads \
            only its share of the shards (the same directory on every machine, or copies of it); a batch is cut into \
            P × T slices, so `-np 2 --threads 1` trains exactly as `--threads 2` alone. Rank 0 prints and writes the files.
            """)

    @OptionGroup var options: TrainOptions

    @Option(help: "auto (MPI when started by mpirun, srun or another MPI launcher), mpi, or none.")
    var distributed: Distribution = .auto

    enum Distribution: String, ExpressibleByArgument { case auto, mpi, none }

    func run() throws {
        // Before anything else: this may run the process again with OpenBLAS's right kernels.
        OpenBLASCorrection.correctFallback()
        // Epoch lines should reach a log or a pipe as they happen.
        setvbuf(stdout, nil, _IOLBF, 0)
        let mpi = distributed == .mpi || (distributed == .auto && MPIGroup.launched)
        let group: MPIGroup?
        do { group = mpi ? try MPIGroup() : nil } catch let error as DataError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        do { try train(group: group) } catch {
            // One rank's failure ends them all: the others would wait for it forever.
            if let group, group.size > 1 { group.abort() }
            throw error
        }
        group?.finish()
    }

    func train(group: MPIGroup?) throws {
        try reportingErrors {
            var run = try options.makeRun()
            if let group { run.group = group }
            try run.run()
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a saved model on a split of prepared shards, or on a labeled CSV/TSV file directly.",
        discussion: """
            --data tokenizes the file with the model's own tokenizer and labels (as `prep csv --tokenizer-from MODEL`), \
            then scores it: `train eval model.rnnk --data reviews.csv --text-column review --label-column stars`.
            """)

    @Argument(help: "A model file written by train.")
    var model: String

    @Option(help: "A directory written by prep, e.g. artifacts/imdb.")
    var shards: String?

    @Option(help: "A labeled CSV or TSV file (gzip or zstd too) to score instead of shards.")
    var data: String?

    @Option(help: "With --data: a text column, by header name or 0-based index (repeat to join several).")
    var textColumn: [String] = []

    @Option(help: "With --data: the label column, by header name or 0-based index.")
    var labelColumn: String?

    @Option(help: "With --data: the field delimiter (default: tab for .tsv files, else a comma).")
    var delimiter: String?

    @Option(help: "Split to evaluate on (with --shards).") var split = "test"
    @Option(help: "Threads (default: all cores).") var threads: Int?

    @Option(help: "Write each example's source, label, prediction and probabilities to this TSV file.")
    var predictions: String?

    func validate() throws {
        guard (shards == nil) != (data == nil) else { throw ValidationError("give --shards DIR or --data FILE") }
        if data != nil && (textColumn.isEmpty || labelColumn == nil) {
            throw ValidationError("--data needs --text-column and --label-column")
        }
        if data == nil && (!textColumn.isEmpty || labelColumn != nil || delimiter != nil) {
            throw ValidationError("--text-column, --label-column and --delimiter go with --data")
        }
        if let delimiter, CSVTableReader.delimiter(delimiter) == nil {
            throw ValidationError(
                "--delimiter \"\(delimiter)\" is not one ASCII character (expected e.g. , ; | or tab)")
        }
    }

    func run() throws {
        try reportingErrors {
            let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            if let shards {
                let dataset = try PreparedDataset(directory: URL(fileURLWithPath: shards, isDirectory: true))
                try Evaluate.run(
                    model: model, dataset: dataset, split: split, threads: threads, predictions: predictions)
                return
            }
            let file = data!
            let reader = try CSVTableReader(
                path: file, split: "test", textColumns: textColumn.map(ColumnReference.init),
                labelColumn: ColumnReference(labelColumn!), hasHeader: nil,
                delimiter: delimiter.flatMap(CSVTableReader.delimiter) ?? CSVTableReader.defaultDelimiter(forPath: file)
            )
            let vocabulary = try ModelVocabulary(path: model)
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
                "rnnkit-eval-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            _ = try Prep.run(
                readers: [reader],
                configuration: PrepConfiguration(
                    dataset: URL(fileURLWithPath: file).lastPathComponent, tokenizer: vocabulary.spec,
                    vocabularyFile: nil, shardSize: 1 << 20, output: scratch, replace: false, quiet: true,
                    command: CommandLine.arguments, recipe: nil, model: vocabulary))
            try Evaluate.run(
                model: model, dataset: try PreparedDataset(directory: scratch), split: "test", threads: threads,
                predictions: predictions)
        }
    }
}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a model with int8 weights, after measuring it against the f32 model on a labeled split.",
        discussion: """
            The embedding, every W_ih and W_hh and the head's weight become int8 with an f32 scale per row; \
            biases, activations and the state stay f32 (the recurrent product rounds the state to int16). \
            Both models are evaluated on --split; the file records both figures, the argmax agreement and \
            the largest probability change, and is not written when accuracy drops by more than --max-drop \
            points unless --force.
            """)

    @Argument(help: "A model file written by train.")
    var model: String

    @Option(help: "A directory written by prep, e.g. artifacts/imdb: the labeled examples to measure on.")
    var shards: String

    @Option(help: "Split to measure on.") var split = "test"
    @Option(help: "The quantized model file to write.") var out: String
    @Option(help: "Largest accuracy drop allowed, in points.") var maxDrop = 0.5
    @Flag(help: "Write the file even when accuracy drops by more than --max-drop.") var force = false
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func validate() throws {
        if maxDrop < 0 { throw ValidationError("--max-drop must not be negative") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let dataset = try PreparedDataset(directory: URL(fileURLWithPath: shards, isDirectory: true))
            try Quantize.run(
                model: model, dataset: dataset, split: split, out: out, maxDrop: maxDrop, force: force,
                threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model file's header, metadata and tensor table, and whether it is valid.")

    @Argument(help: "A model or checkpoint file.")
    var model: String

    func run() throws {
        try reportingErrors { try InspectModel.run(path: model) }
    }
}
