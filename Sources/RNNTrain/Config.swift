import Foundation
import RNNModel
import RNNSupport
import RNNText

/// Everything that determines a training run. Stored in checkpoints (a resume
/// must match it) and in the model file's provenance.
public struct TrainConfig: Codable, Equatable, Sendable {
    public enum OptimizerKind: String, Codable, Sendable, CaseIterable { case sgd, adam, adamw }
    public enum Schedule: String, Codable, Sendable, CaseIterable { case constant, linear, cosine }

    public var recipe: String?
    public var cell: CellKind = .gru
    public var embedding = 32
    public var hidden = 128
    public var layers = 1
    public var bidirectional = false
    /// Applied to the embeddings, between stacked layers and before the head.
    public var dropout: Float = 0
    public var initialization: Initialization = .pytorch
    public var pooling: Pooling = .last
    /// Word vectors (a word2vec/fastText/GloVe text file) that start the embedding rows of their words.
    public var pretrainedVectors: String?
    /// The embedding stays as initialized (with pretrained vectors: as they are).
    public var freezeEmbedding = false
    public var policy = SequencePolicy()
    public var optimizer: OptimizerKind = .adam
    public var learningRate: Float = 1e-3
    public var momentum: Float = 0.9
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    public var schedule: Schedule = .constant
    public var warmupSteps = 0
    /// Global gradient-norm limit; nil = no clipping.
    public var clipNorm: Float?
    public var epochs = 5
    public var batchSize = 64
    public var seed: UInt64 = 1
    /// Threads per process, and processes (an MPI job's ranks): a batch is cut
    /// into processes × threads slices, which defines the data order (`DataOrder`).
    public var threads = 1
    public var processes = 1
    /// Training examples each slice's stream holds in memory at once (`DataOrder`).
    public var window = 131_072
    /// The split evaluated for the report: once, for the selected epoch, when there is a
    /// validation split; after every epoch (the course setting) when there is none.
    public var evaluationSplit = "test"
    /// The share of the training split held out for validation, stratified and seeded,
    /// when the dataset has no `validation` split of its own; 0: no validation.
    public var validationFraction = 0.1
    /// Stop after this many epochs without a better validation figure; nil: all epochs.
    public var earlyStopping: Int?
    public var selection: Selection = .macroF1
    /// Where the loss weights per class come from: `balanced` or a JSON file; nil: every class weighs 1.
    public var classWeightSource: String?
    /// The weights themselves, in label order, once the training labels are known (`ClassWeights`).
    public var classWeights: [Float]?
    /// With soft labels (a teacher's probabilities): the temperature both the teacher's
    /// and the model's distributions are softened at (Hinton et al. 2015).
    public var distillTemperature: Float = 1
    /// With soft labels: the weight of the hard label's cross-entropy added to the soft one's.
    public var hardLabelWeight: Float = 0
    /// softmax: one label per text; ova: independent sigmoids, a set of labels per text.
    public var loss: Loss = .softmax

    public enum Loss: String, Codable, Sendable, CaseIterable {
        case softmax
        case ova

        public var output: Output { self == .softmax ? .softmax : .sigmoid }
    }

    /// The validation figure that selects the epoch whose weights are written.
    public enum Selection: String, Codable, Sendable, CaseIterable {
        case accuracy
        case macroF1 = "macro-f1"
        case loss
    }

    public init() {}

    /// Why the configuration cannot train, or nil.
    public var problem: String? {
        if embedding < 1 || hidden < 1 || layers < 1 { return "--embed, --hidden and --layers must be at least 1" }
        if !(0..<1).contains(dropout) { return "--dropout must be in [0, 1) (got \(dropout))" }
        if !(learningRate > 0) { return "--lr must be positive (got \(learningRate))" }
        if weightDecay < 0 { return "--weight-decay must not be negative" }
        if !(distillTemperature > 0) || !distillTemperature.isFinite {
            return "--distill-temperature must be positive (got \(distillTemperature))"
        }
        if !(hardLabelWeight >= 0) || !hardLabelWeight.isFinite {
            return "--hard-label-weight must not be negative (got \(hardLabelWeight))"
        }
        if loss == .ova && (distillTemperature != 1 || hardLabelWeight != 0) {
            return
                "--loss ova learns soft labels as each class's own probability: --distill-temperature and --hard-label-weight are softmax's"
        }
        if loss == .ova && classWeightSource != nil {
            return "--class-weights weighs a softmax's classes; --loss ova does not take them"
        }
        if epochs < 1 || batchSize < 1 { return "--epochs and --batch-size must be at least 1" }
        if threads < 1 { return "--threads must be at least 1" }
        if window < 1 { return "--window must be at least 1" }
        if processes * threads > batchSize {
            return "a batch of \(batchSize) cannot be cut into \(processes * threads) slices (processes × --threads); "
                + "raise --batch-size or use fewer threads"
        }
        if warmupSteps < 0 { return "--warmup must not be negative" }
        if let clipNorm, !(clipNorm > 0) { return "--clip must be positive" }
        if !(0...0.5).contains(validationFraction) {
            return "--validation must be in [0, 0.5] (got \(validationFraction))"
        }
        if let earlyStopping, earlyStopping < 1 { return "--early-stopping must be at least 1" }
        if let problem = policy.problem { return problem.replacingOccurrences(of: "max length", with: "--max-len") }
        return nil
    }

    /// The learning rate at optimizer step `step` (0-based) of `total`.
    public func learningRate(step: Int, total: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, total - warmupSteps)
        let progress = min(1, Float(step - warmupSteps) / Float(span))
        switch schedule {
        case .constant: return learningRate
        case .linear: return learningRate * (1 - progress)
        case .cosine: return learningRate * 0.5 * (1 + cos(Float.pi * progress))
        }
    }
}

/// What a user gave on the command line; nil leaves the recipe's (or the default) value.
public struct TrainOverrides: Sendable {
    public var cell: CellKind?
    public var embedding: Int?
    public var hidden: Int?
    public var layers: Int?
    public var bidirectional: Bool?
    public var dropout: Float?
    public var initialization: Initialization?
    public var pooling: Pooling?
    public var pretrainedVectors: String?
    public var freezeEmbedding: Bool?
    public var maxLength: Int?
    public var padding: SequencePolicy.Padding?
    public var truncation: SequencePolicy.Truncation?
    public var markers: Bool?
    public var optimizer: TrainConfig.OptimizerKind?
    public var learningRate: Float?
    public var momentum: Float?
    public var weightDecay: Float?
    public var schedule: TrainConfig.Schedule?
    public var warmupSteps: Int?
    /// 0 turns clipping off.
    public var clipNorm: Float?
    public var epochs: Int?
    public var batchSize: Int?
    public var seed: UInt64?
    public var threads: Int?
    public var window: Int?
    public var evaluationSplit: String?
    public var validationFraction: Double?
    /// 0 turns early stopping off.
    public var earlyStopping: Int?
    public var selection: TrainConfig.Selection?
    public var classWeights: String?
    public var distillTemperature: Float?
    public var hardLabelWeight: Float?
    public var loss: TrainConfig.Loss?

    public init() {}
}

extension TrainConfig {
    /// The recipe's sections, then the overrides, over the defaults. The recipe's
    /// string values are checked here, naming the key; `problem` checks the rest.
    public init(recipe: Recipe, recipePath: String, overrides o: TrainOverrides) throws {
        self.init()
        self.recipe = recipePath
        func parse<T: RawRepresentable>(_ raw: String?, _ key: String) throws -> T? where T.RawValue == String {
            guard let raw else { return nil }
            guard let value = T(rawValue: raw) else {
                throw DataError(file: recipePath, place: key, "unknown value \"\(raw)\"")
            }
            return value
        }
        if let m = recipe.model {
            cell = try parse(m.cell, "model.cell") ?? cell
            embedding = m.embedding ?? embedding
            hidden = m.hidden ?? hidden
            layers = m.layers ?? layers
            bidirectional = m.bidirectional ?? bidirectional
            dropout = m.dropout ?? dropout
            initialization = try parse(m.initialization, "model.initialization") ?? initialization
            pooling = try parse(m.pooling, "model.pooling") ?? pooling
            pretrainedVectors = m.pretrainedVectors ?? pretrainedVectors
            freezeEmbedding = m.freezeEmbedding ?? freezeEmbedding
        }
        if let l = recipe.lengths {
            policy.maxLength = l.maxLength ?? policy.maxLength
            policy.padding = try parse(l.padding, "lengths.padding") ?? policy.padding
            policy.truncation = try parse(l.truncation, "lengths.truncation") ?? policy.truncation
            policy.markers = l.startToken ?? policy.markers
        }
        if let r = recipe.optimizer {
            optimizer = try parse(r.name, "optimizer.name") ?? optimizer
            learningRate = r.learningRate ?? learningRate
            momentum = r.momentum ?? momentum
            weightDecay = r.weightDecay ?? weightDecay
            schedule = try parse(r.schedule, "optimizer.schedule") ?? schedule
            warmupSteps = r.warmupSteps ?? warmupSteps
            clipNorm = r.clipNorm ?? clipNorm
        }
        if let t = recipe.training {
            epochs = t.epochs ?? epochs
            batchSize = t.batchSize ?? batchSize
            seed = t.seed ?? seed
            validationFraction = t.validation ?? validationFraction
            earlyStopping = t.earlyStopping ?? earlyStopping
            selection = try parse(t.select, "training.select") ?? selection
            classWeightSource = t.classWeights ?? classWeightSource
            distillTemperature = t.distillTemperature ?? distillTemperature
            hardLabelWeight = t.hardLabelWeight ?? hardLabelWeight
            loss = try parse(t.loss, "training.loss") ?? loss
        }
        cell = o.cell ?? cell
        embedding = o.embedding ?? embedding
        hidden = o.hidden ?? hidden
        layers = o.layers ?? layers
        bidirectional = o.bidirectional ?? bidirectional
        dropout = o.dropout ?? dropout
        initialization = o.initialization ?? initialization
        pooling = o.pooling ?? pooling
        pretrainedVectors = o.pretrainedVectors ?? pretrainedVectors
        freezeEmbedding = o.freezeEmbedding ?? freezeEmbedding
        if let maxLength = o.maxLength { policy.maxLength = maxLength }
        if let padding = o.padding {
            policy.padding = padding
            // Packing needs no length; a recipe's is dropped unless given again.
            if padding == .none && o.maxLength == nil { policy.maxLength = nil }
        }
        policy.truncation = o.truncation ?? policy.truncation
        policy.markers = o.markers ?? policy.markers
        optimizer = o.optimizer ?? optimizer
        learningRate = o.learningRate ?? learningRate
        momentum = o.momentum ?? momentum
        weightDecay = o.weightDecay ?? weightDecay
        schedule = o.schedule ?? schedule
        warmupSteps = o.warmupSteps ?? warmupSteps
        if let clip = o.clipNorm { clipNorm = clip > 0 ? clip : nil }
        epochs = o.epochs ?? epochs
        batchSize = o.batchSize ?? batchSize
        seed = o.seed ?? seed
        threads = o.threads ?? min(ProcessInfo.processInfo.activeProcessorCount, batchSize)
        window = o.window ?? window
        evaluationSplit = o.evaluationSplit ?? evaluationSplit
        validationFraction = o.validationFraction ?? validationFraction
        if let patience = o.earlyStopping { earlyStopping = patience > 0 ? patience : nil }
        selection = o.selection ?? selection
        classWeightSource = o.classWeights ?? classWeightSource
        distillTemperature = o.distillTemperature ?? distillTemperature
        hardLabelWeight = o.hardLabelWeight ?? hardLabelWeight
        loss = o.loss ?? loss
    }
}
