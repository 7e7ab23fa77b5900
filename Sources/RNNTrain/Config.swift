import Foundation
import RNNModel
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
    public var threads = 1
    public var evaluationSplit = "test"

    public init() {}

    /// Why the configuration cannot train, or nil.
    public var problem: String? {
        if embedding < 1 || hidden < 1 || layers < 1 { return "--embed, --hidden and --layers must be at least 1" }
        if !(0..<1).contains(dropout) { return "--dropout must be in [0, 1) (got \(dropout))" }
        if !(learningRate > 0) { return "--lr must be positive (got \(learningRate))" }
        if weightDecay < 0 { return "--weight-decay must not be negative" }
        if epochs < 1 || batchSize < 1 { return "--epochs and --batch-size must be at least 1" }
        if threads < 1 { return "--threads must be at least 1" }
        if warmupSteps < 0 { return "--warmup must not be negative" }
        if let clipNorm, !(clipNorm > 0) { return "--clip must be positive" }
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

