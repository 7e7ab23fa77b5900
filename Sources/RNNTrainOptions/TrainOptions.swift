import ArgumentParser
import Foundation
import RNNData
import RNNModel
import RNNSupport
import RNNText
import RNNTrain

/// `train fit`'s settings: a recipe (the one prep used, by default) and the flags that override it.
/// The Python trainer (librnnkit) parses the same flags, so that both train exactly alike.
public struct TrainOptions: ParsableArguments {
    public init() {}

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
    @Option(help: "What the head reads of the top layer's states: last, max, mean or attention.") var pooling: Pooling?
    @Option(help: "Word vectors (word2vec, fastText .vec or GloVe text; --embed values each) to start the embedding.")
    var pretrainedVectors: String?
    @Flag(inversion: .prefixedNo, help: "Keep the embedding as initialized (with --pretrained-vectors: as read).")
    var freezeEmbedding: Bool?
    @Option(
        help:
            "Loss weight per class: balanced (n / (classes × the class's count in train)), or a JSON file of label: weight."
    ) var classWeights: String?
    @Option(
        help:
            "With soft labels (prep --soft-label-columns): the temperature T both distributions are softened at; the soft loss is T² × cross-entropy (default 1)."
    ) var distillTemperature: Float?
    @Option(
        help: "With soft labels: the weight of the hard label's cross-entropy, added to the soft one's (default 0).")
    var hardLabelWeight: Float?
    @Option(
        help:
            "Loss: softmax (one label per text) or ova (one-vs-all: independent sigmoids, a set of labels per text, cut at a threshold chosen on validation)."
    ) var loss: TrainConfig.Loss?
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

    public func validate() throws {
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
        o.pooling = pooling
        o.classWeights = classWeights
        o.distillTemperature = distillTemperature
        o.hardLabelWeight = hardLabelWeight
        o.loss = loss
        o.pretrainedVectors = pretrainedVectors
        o.freezeEmbedding = freezeEmbedding
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

    /// The run these settings describe, on the prepared dataset they name.
    public func makeRun() throws -> TrainingRun {
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
        return run
    }
}

extension CellKind: ExpressibleByArgument {}
extension Initialization: ExpressibleByArgument {}
extension Pooling: ExpressibleByArgument {}
extension SequencePolicy.Padding: ExpressibleByArgument {}
extension SequencePolicy.Truncation: ExpressibleByArgument {}
extension TrainConfig.OptimizerKind: ExpressibleByArgument {}
extension TrainConfig.Schedule: ExpressibleByArgument {}
extension TrainConfig.Selection: ExpressibleByArgument {}
extension TrainConfig.Loss: ExpressibleByArgument {}
