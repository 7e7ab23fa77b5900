import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNModel
import RNNSupport
import RNNText
import RNNTrain

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

    @Option(help: "A directory written by prep, e.g. artifacts/imdb.")
    var shards: String

    @Option(help: "Recipe name in Pipelines/ or a path (default: the one prep used for the shards).")
    var recipe: String?

    @Option(help: "Output directory (default: runs/<dataset>).")
    var out: String?

    @Flag(help: "Continue from the checkpoint in --out.")
    var resume = false

    @Option(help: "Cell: rnn, lstm or gru.") var cell: CellKind?
    @Option(help: "Embedding size.") var embed: Int?
    @Option(help: "Hidden size.") var hidden: Int?
    @Option(help: "Stacked layers.") var layers: Int?
    @Flag(inversion: .prefixedNo, help: "Bidirectional layers.") var bidirectional: Bool?
    @Option(help: "Dropout on embeddings, between layers and before the head.") var dropout: Float?
    @Option(help: "Initialization: pytorch or orthogonal.") var initialization: Initialization?
    @Option(help: "Maximum sequence length, markers included (default: none with packing).") var maxLen: Int?
    @Option(help: "Padding: none (packed, no computation on padding), pre or post (needs --max-len).") var padding:
        SequencePolicy.Padding?
    @Option(help: "Truncation: tail (keep the start) or head (keep the end).") var truncate: SequencePolicy.Truncation?
    @Option(help: "Start/end markers (<start>, or [CLS] … [SEP]): on or off.") var startToken: Switch?
    @Option(help: "Optimizer: sgd, adam or adamw.") var optimizer: TrainConfig.OptimizerKind?
    @Option(help: "Learning rate.") var lr: Float?
    @Option(help: "SGD momentum.") var momentum: Float?
    @Option(help: "Weight decay (L2 for sgd/adam, decoupled for adamw).") var weightDecay: Float?
    @Option(help: "Learning-rate schedule: constant, linear or cosine.") var schedule: TrainConfig.Schedule?
    @Option(help: "Warm-up steps.") var warmup: Int?
    @Option(help: "Clip gradients to this global norm (0: off).") var clip: Float?
    @Option(help: "Epochs.") var epochs: Int?
    @Option(help: "Batch size.") var batchSize: Int?
    @Option(help: "Random seed: same seed and thread count give identical metrics.") var seed: UInt64?
    @Option(help: "Threads per process (default: all cores, at most the batch size).") var threads: Int?
    @Option(
        help: """
            Training examples each of the processes × threads streams holds in memory at once; less than the \
            split trains a corpus larger than memory (batches are then drawn from a window of the data).
            """)
    var window: Int?
    @Option(help: "auto (MPI when started by mpirun, srun or another MPI launcher), mpi, or none.")
    var distributed: Distribution = .auto
    @Option(
        help: """
            The share of the training split held out for validation (stratified, seeded) when the dataset has no \
            validation split; each epoch is evaluated on it and the best epoch's weights are written. \
            0: no validation (every epoch evaluated on --split, the last written).
            """)
    var validation: Double?
    @Option(help: "Stop after this many epochs without a better validation figure (0: off).") var earlyStopping: Int?
    @Option(help: "The validation figure that selects the epoch: accuracy, macro-f1 or loss.")
    var select: TrainConfig.Selection?
    @Option(help: "Split to report on: once, for the selected epoch (every epoch without validation).")
    var split = "test"
    @Option(help: "Train on a seeded random sample of N training examples (quick runs).") var trainLimit: Int?
    @Flag(help: "No progress display.") var quiet = false

    enum Switch: String, ExpressibleByArgument { case on, off }
    enum Distribution: String, ExpressibleByArgument { case auto, mpi, none }

    func validate() throws {
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1") }
    }

    var overrides: TrainOverrides {
        var o = TrainOverrides()
        o.cell = cell
        o.embedding = embed
        o.hidden = hidden
        o.layers = layers
        o.bidirectional = bidirectional
        o.dropout = dropout
        o.initialization = initialization
        o.maxLength = maxLen
        o.padding = padding
        o.truncation = truncate
        o.markers = startToken.map { $0 == .on }
        o.optimizer = optimizer
        o.learningRate = lr
        o.momentum = momentum
        o.weightDecay = weightDecay
        o.schedule = schedule
        o.warmupSteps = warmup
        o.clipNorm = clip
        o.epochs = epochs
        o.batchSize = batchSize
        o.seed = seed
        o.threads = threads
        o.window = window
        o.evaluationSplit = split
        o.validationFraction = validation
        o.earlyStopping = earlyStopping
        o.selection = select
        return o
    }

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
            let dataset = try PreparedDataset(directory: URL(fileURLWithPath: shards, isDirectory: true))
            // By default the recipe prep used (`prep csv` and `prep parquet` share `csv`), found by name.
            let prepRecipe = dataset.manifest.provenance.recipe.map {
                URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent
            }
            let (recipe, recipePath) = try Recipe.load(self.recipe ?? prepRecipe ?? dataset.manifest.dataset)
            let config = try TrainConfig(recipe: recipe, recipePath: recipePath, overrides: overrides)
            if let problem = config.problem { throw ValidationError(problem) }
            var run = TrainingRun(
                dataset: dataset, config: config,
                output: URL(fileURLWithPath: out ?? "runs/\(dataset.manifest.dataset)", isDirectory: true))
            run.resume = resume
            run.trainLimit = trainLimit
            run.quiet = quiet
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

extension CellKind: ExpressibleByArgument {}
extension Initialization: ExpressibleByArgument {}
extension SequencePolicy.Padding: ExpressibleByArgument {}
extension SequencePolicy.Truncation: ExpressibleByArgument {}
extension TrainConfig.OptimizerKind: ExpressibleByArgument {}
extension TrainConfig.Schedule: ExpressibleByArgument {}
extension TrainConfig.Selection: ExpressibleByArgument {}
