import ArgumentParser
import Foundation
import RNNData
import RNNModel
import RNNText
import RNNTrain

@main
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an RNN, LSTM or GRU text classifier on prepared shards and export one model file.",
        discussion: """
            Settings come from the dataset's recipe in Pipelines/ (e.g. Pipelines/imdb.json); flags override it. \
            Writes model.rnnk, checkpoint.rnnk, metrics.jsonl and learning-curve.svg to --out (default runs/<dataset>).
            Also: train --eval MODEL --shards DIR evaluates a saved model; train --inspect MODEL prints its header.
            """)

    @Option(help: "A directory written by prep, e.g. artifacts/imdb.")
    var shards: String?

    @Option(help: "Evaluate this model file on --shards instead of training.")
    var eval: String?

    @Option(help: "With --eval: write each example's source, label, prediction and probabilities to this TSV file.")
    var predictions: String?

    @Option(help: "Print this model file's header, metadata and tensor table.")
    var inspect: String?

    @Option(help: "Recipe name in Pipelines/ or a path (default: the dataset's).")
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
    @Option(help: "Padding: none (packed, no computation on padding), pre or post (needs --max-len).") var padding: SequencePolicy.Padding?
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
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Split to evaluate on.") var split = "test"
    @Option(help: "Train on a seeded random sample of N training examples (quick runs).") var trainLimit: Int?
    @Flag(help: "No progress display.") var quiet = false

    enum Switch: String, ExpressibleByArgument { case on, off }

    func validate() throws {
        let modes = [shards != nil && eval == nil, eval != nil, inspect != nil].filter { $0 }.count
        if modes != 1 { throw ValidationError("give --shards DIR to train, --eval MODEL --shards DIR to evaluate, or --inspect MODEL") }
        if eval != nil && shards == nil { throw ValidationError("--eval needs --shards DIR to evaluate on") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1") }
    }

    func run() throws {
        // Epoch lines should reach a log or a pipe as they happen.
        setvbuf(stdout, nil, _IOLBF, 0)
        do {
            if let inspect { try Inspect.run(path: inspect); return }
            let dataset = try PreparedDataset(directory: URL(fileURLWithPath: shards!, isDirectory: true))
            if let eval {
                try Evaluate.run(model: eval, dataset: dataset, split: split, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                 predictions: predictions)
                return
            }
            try Training.run(self, dataset: dataset)
        } catch let error as DataError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The recipe, then the flags, over the defaults.
    func configuration(dataset: PreparedDataset) throws -> TrainConfig {
        let (recipe, recipePath) = try Recipe.load(self.recipe ?? dataset.manifest.dataset)
        var c = TrainConfig()
        c.recipe = recipePath
        func parse<T: RawRepresentable>(_ raw: String?, _ key: String) throws -> T? where T.RawValue == String {
            guard let raw else { return nil }
            guard let value = T(rawValue: raw) else { throw DataError(file: recipePath, place: key, "unknown value \"\(raw)\"") }
            return value
        }
        if let m = recipe.model {
            c.cell = try parse(m.cell, "model.cell") ?? c.cell
            c.embedding = m.embedding ?? c.embedding
            c.hidden = m.hidden ?? c.hidden
            c.layers = m.layers ?? c.layers
            c.bidirectional = m.bidirectional ?? c.bidirectional
            c.dropout = m.dropout ?? c.dropout
            c.initialization = try parse(m.initialization, "model.initialization") ?? c.initialization
        }
        if let l = recipe.lengths {
            c.policy.maxLength = l.maxLength ?? c.policy.maxLength
            c.policy.padding = try parse(l.padding, "lengths.padding") ?? c.policy.padding
            c.policy.truncation = try parse(l.truncation, "lengths.truncation") ?? c.policy.truncation
            c.policy.markers = l.startToken ?? c.policy.markers
        }
        if let o = recipe.optimizer {
            c.optimizer = try parse(o.name, "optimizer.name") ?? c.optimizer
            c.learningRate = o.learningRate ?? c.learningRate
            c.momentum = o.momentum ?? c.momentum
            c.weightDecay = o.weightDecay ?? c.weightDecay
            c.schedule = try parse(o.schedule, "optimizer.schedule") ?? c.schedule
            c.warmupSteps = o.warmupSteps ?? c.warmupSteps
            c.clipNorm = o.clipNorm ?? c.clipNorm
        }
        if let t = recipe.training {
            c.epochs = t.epochs ?? c.epochs
            c.batchSize = t.batchSize ?? c.batchSize
            c.seed = t.seed ?? c.seed
        }
        c.cell = cell ?? c.cell
        c.embedding = embed ?? c.embedding
        c.hidden = hidden ?? c.hidden
        c.layers = layers ?? c.layers
        c.bidirectional = bidirectional ?? c.bidirectional
        c.dropout = dropout ?? c.dropout
        c.initialization = initialization ?? c.initialization
        if let maxLen { c.policy.maxLength = maxLen }
        if let padding {
            c.policy.padding = padding
            if padding == .none && maxLen == nil { c.policy.maxLength = nil }
        }
        c.policy.truncation = truncate ?? c.policy.truncation
        if let startToken { c.policy.markers = startToken == .on }
        c.optimizer = optimizer ?? c.optimizer
        c.learningRate = lr ?? c.learningRate
        c.momentum = momentum ?? c.momentum
        c.weightDecay = weightDecay ?? c.weightDecay
        c.schedule = schedule ?? c.schedule
        c.warmupSteps = warmup ?? c.warmupSteps
        if let clip { c.clipNorm = clip > 0 ? clip : nil }
        c.epochs = epochs ?? c.epochs
        c.batchSize = batchSize ?? c.batchSize
        c.seed = seed ?? c.seed
        c.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        c.evaluationSplit = split
        if let problem = c.problem { throw ValidationError(problem) }
        return c
    }
}

extension CellKind: ExpressibleByArgument {}
extension Initialization: ExpressibleByArgument {}
extension SequencePolicy.Padding: ExpressibleByArgument {}
extension SequencePolicy.Truncation: ExpressibleByArgument {}
extension TrainConfig.OptimizerKind: ExpressibleByArgument {}
extension TrainConfig.Schedule: ExpressibleByArgument {}
