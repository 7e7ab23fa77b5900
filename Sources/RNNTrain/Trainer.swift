import Foundation
import RNNBinary
import RNNData
import RNNKernels
import RNNModel
import RNNSupport
import RNNText

/// Examples ready for the network: sequences after the sequence policy, and labels.
public struct LabeledSequences: Sendable {
    public var sequences: [[Int32]]
    public var labels: [Int32]

    public init(shard: Shard, policy: SequencePolicy, special: SpecialIDs) {
        sequences = (0..<shard.count).map { policy.apply(shard.tokens(of: $0), special: special) }
        labels = shard.labels
    }

    public init(sequences: [[Int32]], labels: [Int32]) {
        self.sequences = sequences
        self.labels = labels
    }

    public var count: Int { labels.count }
}

/// Runs epochs: bucketed batches, data-parallel gradient computation across
/// threads, optimizer steps, evaluation, metrics, checkpoints.
public final class Trainer {
    public let config: TrainConfig
    public let architecture: Architecture
    public let objective: Objective
    public var parameters: [Float]
    public var optimizer: Optimizer
    public private(set) var history: [EpochRecord] = []
    /// The weights of the epoch selected on validation so far (nil without validation).
    public var selectedParameters: [Float]?
    let labels: [String]
    let workspaces: [Objective.Workspace]
    /// Per thread, zero between steps; the first holds their sum during a step.
    let gradients: [AlignedFloats]
    /// All false between steps (see `embeddingRows`).
    var tokenSeen: [Bool]

    public init(config: TrainConfig, architecture: Architecture, labels: [String]) {
        self.config = config
        self.architecture = architecture
        self.labels = labels
        let network = Network(architecture)
        objective = Objective(network: network)
        parameters = network.layout.initialValues(seed: config.seed, scheme: config.initialization)
        precondition(
            network.layout.offset("embedding") == 0, "the optimizer's lazy rows are the embedding, first in the layout")
        optimizer = Optimizer(
            config: config, count: parameters.count, lazyRows: architecture.vocabularySize,
            rowWidth: architecture.embedding)
        workspaces = (0..<config.threads).map { _ in Objective.Workspace() }
        let count = parameters.count
        gradients = (0..<config.threads).map { _ in AlignedFloats(count: count) }
        tokenSeen = [Bool](repeating: false, count: architecture.vocabularySize)
        useSingleThreadedBLAS()
    }

    /// The batches of an epoch: a seeded shuffle, then pools of 50 batches
    /// sorted by length and cut, so each batch holds similar lengths (little
    /// idle work in packing), then the batch order shuffled. Depends only on
    /// (seed, epoch), so a resumed run sees the same batches.
    public static func batches(lengths: [Int], batchSize: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        var rng = SplitMix64(seed: seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(epoch + 1))
        var order = Array(lengths.indices)
        order.shuffle(using: &rng)
        var batches: [[Int]] = []
        let pool = batchSize * 50
        var start = 0
        while start < order.count {
            let sorted = order[start..<min(order.count, start + pool)].sorted { lengths[$0] > lengths[$1] }
            var b = 0
            while b < sorted.count {
                batches.append(Array(sorted[b..<min(sorted.count, b + batchSize)]))
                b += batchSize
            }
            start += pool
        }
        batches.shuffle(using: &rng)
        return batches
    }

    public struct EpochTotals {
        public var lossSum = 0.0
        public var correct = 0
        public var examples = 0
    }

    /// One optimizer step on `batch` (indices into `data`).
    func step(
        _ data: LabeledSequences, batch: [Int], epoch: Int, batchIndex: Int, totalSteps: Int, totals: inout EpochTotals
    ) {
        let threads = min(config.threads, batch.count)
        let scale = 1 / Float(batch.count)
        var results = [Objective.Result?](repeating: nil, count: threads)
        var slices: [[Int]] = Array(repeating: [], count: threads)
        // Interleaved slices: each thread gets a similar mix of lengths.
        for (i, index) in batch.enumerated() { slices[i % threads].append(index) }
        // The embedding rows this batch reads, brought up to date first (see Optimizer).
        let rows = embeddingRows(data, batch: batch)
        optimizer.catchUp(&parameters, rows: rows)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let seed = config.seed ^ (UInt64(epoch) << 40) ^ (UInt64(batchIndex) << 8) ^ UInt64(t)
            let dropout = config.dropout > 0 ? Network.Dropout(rate: config.dropout, rng: SplitMix64(seed: seed)) : nil
            let slice = slices[t]
            let result = parameters.withUnsafeBufferPointer { p in
                objective.evaluate(
                    p.baseAddress!, sequences: slice.map { data.sequences[$0][...] },
                    labels: slice.map { data.labels[$0] },
                    gradient: gradients[t].baseAddress, gradientScale: scale, dropout: dropout, workspace: workspaces[t]
                )
            }
            lock.lock()
            results[t] = result
            lock.unlock()
        }
        // Only the embedding rows of this batch's tokens can be nonzero: the
        // passes over the gradient skip the rest of the (large) embedding table.
        let E = architecture.embedding
        let regions = rows.map { $0 * E..<($0 + 1) * E } + [architecture.vocabularySize * E..<parameters.count]
        // Into the first thread's buffer, in a fixed order (see GradientSum); a
        // multi-process run would also sum that buffer across processes here.
        let squaredNorm = GradientSum.run(gradients.map(\.baseAddress), regions: regions, threads: config.threads)
        for t in 0..<threads {
            let result = results[t]!
            totals.lossSum += result.loss
            for (k, index) in slices[t].enumerated() where result.predictions[k] == data.labels[index] {
                totals.correct += 1
            }
            totals.examples += slices[t].count
        }
        let clip = Optimizer.clipFactor(norm: Float(squaredNorm.squareRoot()), limit: config.clipNorm)
        let lr = config.learningRate(step: optimizer.steps, total: totalSteps)
        optimizer.step(
            &parameters, consuming: gradients[0].baseAddress, gradientScale: clip, learningRate: lr, rows: rows)
    }

    /// The distinct tokens of a batch, in order: the embedding rows it reads and can move.
    /// Marks them in a vocabulary-sized scratch and reads it back in order,
    /// which is cheaper than sorting them.
    func embeddingRows(_ data: LabeledSequences, batch: [Int]) -> [Int] {
        for index in batch { for token in data.sequences[index] { tokenSeen[Int(token)] = true } }
        var rows: [Int] = []
        for row in tokenSeen.indices where tokenSeen[row] {
            rows.append(row)
            tokenSeen[row] = false
        }
        return rows
    }

    /// The optimizer steps of epoch `epoch` (0-based), without evaluation.
    @discardableResult
    public func trainEpoch(_ epoch: Int, train: LabeledSequences, progress: ProgressReporter? = nil) -> EpochTotals {
        let started = Date()
        let batches = Self.batches(
            lengths: train.sequences.map(\.count), batchSize: config.batchSize, seed: config.seed, epoch: epoch)
        let totalSteps = batches.count * config.epochs
        var totals = EpochTotals()
        for (index, batch) in batches.enumerated() {
            step(train, batch: batch, epoch: epoch, batchIndex: index, totalSteps: totalSteps, totals: &totals)
            let elapsed = Date().timeIntervalSince(started)
            progress?.update(
                Double(totals.examples),
                detail: String(
                    format: "loss %.4f · %.0f samples/s", totals.lossSum / Double(max(totals.examples, 1)),
                    Double(totals.examples) / max(elapsed, 1e-9)))
        }
        optimizer.settle(&parameters)
        progress?.finish()
        return totals
    }

    /// Trains epoch `epoch` (0-based) and evaluates on `evaluation` (named `split`); returns its record.
    public func runEpoch(
        _ epoch: Int, train: LabeledSequences, evaluation: LabeledSequences, split: String, progress: ProgressReporter?
    ) -> EpochRecord {
        let started = Date()
        let stepsPerEpoch = Self.batches(
            lengths: train.sequences.map(\.count), batchSize: config.batchSize, seed: config.seed, epoch: epoch
        ).count
        let learningRate = config.learningRate(step: optimizer.steps, total: stepsPerEpoch * config.epochs)
        let totals = trainEpoch(epoch, train: train, progress: progress)
        let trainSeconds = Date().timeIntervalSince(started)
        let metrics = evaluate(evaluation).metrics
        return EpochRecord(
            epoch: epoch + 1, learningRate: learningRate, trainLoss: totals.lossSum / Double(max(totals.examples, 1)),
            trainAccuracy: Double(totals.correct) / Double(max(totals.examples, 1)), split: split, evaluation: metrics,
            seconds: Date().timeIntervalSince(started), samplesPerSecond: Double(totals.examples) / trainSeconds,
            tokens: train.sequences.reduce(0) { $0 + $1.count })
    }

    public func record(_ record: EpochRecord) { history.append(record) }

    /// Metrics and probabilities (row per example) on `data`, no dropout, all threads.
    public func evaluate(_ data: LabeledSequences, parameters: [Float]? = nil) -> (
        metrics: Metrics, probabilities: [Float]
    ) {
        Evaluator(network: objective.network, labels: labels).run(
            parameters ?? self.parameters, on: data, workspaces: workspaces.map(\.forward))
    }

    // MARK: Checkpoints

    /// Parameters, optimizer state, history and configuration, in the model-file container.
    public func checkpoint(epochsDone: Int, dataFingerprint: String) throws -> [UInt8] {
        var file = ModelFile()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        file.set("checkpoint.epochs_done", .int(Int64(epochsDone)))
        file.set("checkpoint.optimizer_steps", .int(Int64(optimizer.steps)))
        file.set("checkpoint.config", .string(String(decoding: try encoder.encode(config), as: UTF8.self)))
        file.set("checkpoint.history", .string(String(decoding: try encoder.encode(history), as: UTF8.self)))
        file.set("checkpoint.data", .string(dataFingerprint))
        file.tensors = [
            ModelFile.Tensor(name: "parameters", shape: [parameters.count], values: parameters),
            ModelFile.Tensor(name: "optimizer.first", shape: [optimizer.first.count], values: optimizer.first),
            ModelFile.Tensor(name: "optimizer.second", shape: [optimizer.second.count], values: optimizer.second),
        ]
        if let selectedParameters {
            file.tensors.append(
                ModelFile.Tensor(
                    name: "selected.parameters", shape: [selectedParameters.count], values: selectedParameters))
        }
        return file.encoded()
    }

    /// Restores a checkpoint written by the same configuration; returns the epochs it had done.
    public func restore(_ bytes: [UInt8], file path: String, dataFingerprint: String) throws -> Int {
        let file: ModelFile
        do { file = try bytes.withUnsafeBytes { try ModelFile(bytes: $0) } } catch {
            throw DataError(file: path, "\(error)")
        }
        guard case .string(let configJSON)? = file["checkpoint.config"],
            case .string(let historyJSON)? = file["checkpoint.history"],
            case .int(let done)? = file["checkpoint.epochs_done"],
            case .int(let steps)? = file["checkpoint.optimizer_steps"],
            case .string(let fingerprint)? = file["checkpoint.data"],
            let parameters = file.tensor("parameters")?.values, let first = file.tensor("optimizer.first")?.values,
            let second = file.tensor("optimizer.second")?.values
        else {
            throw DataError(file: path, "not a training checkpoint")
        }
        var saved = try JSONDecoder().decode(TrainConfig.self, from: Data(configJSON.utf8))
        saved.epochs = config.epochs
        guard saved == config else {
            throw DataError(
                file: path,
                "was written with a different configuration; resume with the same options (only --epochs may change)")
        }
        guard fingerprint == dataFingerprint else { throw DataError(file: path, "was trained on different shards") }
        guard parameters.count == self.parameters.count, first.count == optimizer.first.count,
            second.count == optimizer.second.count
        else {
            throw DataError(file: path, "parameter count does not match the model")
        }
        let selected = file.tensor("selected.parameters")?.values
        guard selected.map({ $0.count == parameters.count }) ?? true else {
            throw DataError(file: path, "selected.parameters does not match the model")
        }
        self.parameters = parameters
        selectedParameters = selected
        optimizer.restore(first: first, second: second, steps: Int(steps))
        history = try JSONDecoder().decode([EpochRecord].self, from: Data(historyJSON.utf8))
        return Int(done)
    }
}
