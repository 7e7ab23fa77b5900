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
    /// Each example's soft labels (a teacher's probabilities); empty when the examples have none.
    public var targets: [[Target]]

    public init(shard: Shard, policy: SequencePolicy, special: SpecialIDs) {
        sequences = (0..<shard.count).map { policy.apply(shard.tokens(of: $0), special: special) }
        labels = shard.labels
        targets = shard.hasTargets ? (0..<shard.count).map { shard.targets(of: $0)! } : []
    }

    public init(sequences: [[Int32]], labels: [Int32], targets: [[Target]] = []) {
        precondition(targets.isEmpty || targets.count == labels.count, "one target list per example")
        self.sequences = sequences
        self.labels = labels
        self.targets = targets
    }

    public var count: Int { labels.count }

    /// The examples at `positions`, in that order.
    public func subset(_ positions: [Int]) -> LabeledSequences {
        LabeledSequences(
            sequences: positions.map { sequences[$0] }, labels: positions.map { labels[$0] },
            targets: targets.isEmpty ? [] : positions.map { targets[$0] })
    }
}

/// Runs epochs: batches in `DataOrder`, each cut into slices computed by
/// this process's threads (and the other processes' of `group`), gradients
/// summed in slice order before one optimizer step; evaluation, checkpoints.
/// Training stopped on request before batch `batch` of epoch `epoch` (1-based); the checkpoint
/// holds the last finished epoch, from which a resumed run trains exactly as an uninterrupted one.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public var epoch: Int
    public var batch: Int
    public var description: String { "interrupted in epoch \(epoch) before batch \(batch + 1)" }
}

public final class Trainer {
    public let config: TrainConfig
    public let architecture: Architecture
    public let objective: Objective
    public let group: ProcessGroup
    public var parameters: [Float]
    public var optimizer: Optimizer
    public private(set) var history: [EpochRecord] = []
    /// The weights of the epoch selected on validation so far (nil without validation).
    public var selectedParameters: [Float]?
    /// Asked before every batch: true ends the epoch with `TrainingInterrupted` (a host's Ctrl-C).
    public var shouldStop: () -> Bool = { false }
    let labels: [String]
    let workspaces: [Objective.Workspace]
    /// Per thread, zero between steps; the first holds their sum during a step.
    let gradients: [AlignedFloats]
    let gradientExchange = GradientExchange()
    /// All false between steps (see `embeddingRows`).
    var tokenSeen: [Bool]
    /// This process's exchanges with the others in the last epoch.
    public private(set) var communication = Communication()

    /// What one process spent on exchanges with the others in an epoch's steps.
    public struct Communication {
        public var steps = 0
        /// In the steps' exchanges.
        public var bytesSent = 0
        /// In the whole epoch: the steps, then the rows sent to every process at its end.
        public var epochBytesSent = 0
        /// Wall time in the exchanges, waiting for slower processes included.
        public var seconds = 0.0
        /// Wall time of the steps.
        public var stepSeconds = 0.0
    }

    public init(
        config: TrainConfig, architecture: Architecture, labels: [String], group: ProcessGroup = SingleProcess()
    ) {
        precondition(config.processes == group.size, "the configuration counts the group's processes")
        self.config = config
        self.architecture = architecture
        self.labels = labels
        self.group = group
        let network = Network(architecture, products: .training)
        objective = Objective(
            network: network, classWeights: config.classWeights, freezesEmbedding: config.freezeEmbedding,
            distillation: Distillation(temperature: config.distillTemperature, hardLabelWeight: config.hardLabelWeight))
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

    /// The order of `set`'s examples: one stream per slice, processes × threads of them.
    public func order(_ set: ExampleSet) -> DataOrder {
        DataOrder(
            count: set.count, streams: config.processes * config.threads, batchSize: config.batchSize,
            window: config.window, seed: config.seed)
    }

    /// The whole job's figures for an epoch's training pass.
    public struct EpochTotals {
        public var lossSum = 0.0
        public var correct = 0
        public var examples = 0
        public var tokens = 0
    }

    /// One optimizer step on this process's `slices` (one per thread, in stream
    /// order) of a batch of `batchSize` examples; appends each slice's loss to `losses`.
    func step(
        _ slices: [LabeledSequences], batchSize: Int, epoch: Int, batchIndex: Int, totalSteps: Int,
        losses: inout [Double], totals: inout EpochTotals
    ) throws {
        let scale = 1 / Float(batchSize)
        var results = [Objective.Result?](repeating: nil, count: slices.count)
        let started = DispatchTime.now().uptimeNanoseconds, sentBefore = group.bytesSent
        var exchanging: UInt64 = 0
        func exchange<R>(_ body: () throws -> R) rethrows -> R {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { exchanging += DispatchTime.now().uptimeNanoseconds - start }
            return try body()
        }
        defer {
            communication.steps += 1
            communication.bytesSent += group.bytesSent - sentBefore
            communication.seconds += Double(exchanging) / 1e9
            communication.stepSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        }
        // The embedding rows this process reads, brought up to date first (see Optimizer). Across
        // processes each row has an owner that keeps it (see RowOwners); `rows` are those this process moves.
        var rows = embeddingRows(slices)
        var owners: RowOwners?
        if group.size > 1 {
            let lists = try exchange { try group.allGather(rows.map { Int32($0) }) }
            let rowOwners = RowOwners(
                rows: lists.map { $0.map { Int($0) } }, group: group, width: architecture.embedding,
                threads: config.threads)
            try exchange { try rowOwners.fetch(&parameters, optimizer: &optimizer) }
            rows = rowOwners.owned
            owners = rowOwners
        } else {
            optimizer.catchUp(&parameters, rows: rows)
        }
        let lock = NSLock()
        let firstStream = group.rank * config.threads
        DispatchQueue.concurrentPerform(iterations: slices.count) { t in
            let slice = slices[t]
            guard slice.count > 0 else { return }
            let stream = UInt64(firstStream + t)
            let seed = config.seed ^ (UInt64(epoch) << 40) ^ (UInt64(batchIndex) << 8) ^ stream
            let dropout = config.dropout > 0 ? Network.Dropout(rate: config.dropout, rng: SplitMix64(seed: seed)) : nil
            let result = parameters.withUnsafeBufferPointer { p in
                objective.evaluate(
                    p.baseAddress!, sequences: slice.sequences.map { $0[...] }, labels: slice.labels,
                    targets: slice.targets, gradient: gradients[t].baseAddress, gradientScale: scale, dropout: dropout,
                    workspace: workspaces[t]
                )
            }
            lock.lock()
            results[t] = result
            lock.unlock()
        }
        // Only the embedding rows of this batch's tokens can be nonzero: the
        // passes over the gradient skip the rest of the (large) embedding table.
        let E = architecture.embedding
        let dense = [architecture.vocabularySize * E..<parameters.count]
        let parts = gradients.map(\.baseAddress)
        let squaredNorm: Double
        if let owners {
            squaredNorm = try exchange {
                let rowSquares = try owners.total(try owners.sum(parts))
                return try gradientExchange.run(parts, regions: dense, adding: rowSquares, group: group)
            }
        } else {
            squaredNorm = GradientSum.run(
                parts, regions: rows.map { $0 * E..<($0 + 1) * E } + dense, threads: config.threads)
        }
        for (t, slice) in slices.enumerated() {
            losses.append(results[t]?.loss ?? 0)
            for (k, label) in slice.labels.enumerated() where results[t]!.predictions[k] == label {
                totals.correct += 1
            }
            totals.examples += slice.count
            totals.tokens += slice.sequences.reduce(0) { $0 + $1.count }
        }
        let clip = Optimizer.clipFactor(norm: Float(squaredNorm.squareRoot()), limit: config.clipNorm)
        let lr = config.learningRate(step: optimizer.steps, total: totalSteps)
        optimizer.step(
            &parameters, consuming: gradients[0].baseAddress, gradientScale: clip, learningRate: lr, rows: rows)
    }

    /// Starts the embedding rows the vectors have (before the first step; the padding row stays zero).
    public func startEmbedding(from vectors: PretrainedVectors) {
        let E = architecture.embedding
        for (id, found) in vectors.found.enumerated() where found && id != Int(architecture.paddingID) {
            parameters.replaceSubrange(id * E..<(id + 1) * E, with: vectors.rows[id * E..<(id + 1) * E])
        }
    }

    /// The distinct tokens of the slices, in order: the embedding rows they read and can move.
    /// Marks them in a vocabulary-sized scratch and reads it back in order,
    /// which is cheaper than sorting them.
    func embeddingRows(_ slices: [LabeledSequences]) -> [Int] {
        guard !config.freezeEmbedding else { return [] }
        for slice in slices {
            for sequence in slice.sequences { for token in sequence { tokenSeen[Int(token)] = true } }
        }
        var rows: [Int] = []
        for row in tokenSeen.indices where tokenSeen[row] {
            rows.append(row)
            tokenSeen[row] = false
        }
        return rows
    }

    /// The optimizer steps of epoch `epoch` (0-based), without evaluation.
    @discardableResult
    public func trainEpoch(_ epoch: Int, train: ExampleSet, progress: ProgressReporter? = nil) throws -> EpochTotals {
        let started = Date()
        let order = order(train)
        let batchSizes = order.batchSizes(epoch: epoch)
        let totalSteps = order.nominalSteps * config.epochs
        let cursors = (0..<config.threads).map {
            StreamCursor(order, stream: group.rank * config.threads + $0, epoch: epoch, set: train)
        }
        let empty = LabeledSequences(sequences: [], labels: [])
        communication = Communication()
        let sentBefore = group.bytesSent
        var own = EpochTotals(), losses: [Double] = []
        var done = 0
        for (index, batchSize) in batchSizes.enumerated() {
            if shouldStop() { throw TrainingInterrupted(epoch: epoch + 1, batch: index) }
            let slices = try cursors.map { try $0.next() ?? empty }
            try step(
                slices, batchSize: batchSize, epoch: epoch, batchIndex: index, totalSteps: totalSteps,
                losses: &losses, totals: &own)
            done += batchSize
            let elapsed = Date().timeIntervalSince(started)
            progress?.update(
                Double(done),
                detail: String(
                    format: "loss %.4f · %.0f samples/s", losses.reduce(0, +) / Double(max(own.examples, 1)),
                    Double(done) / max(elapsed, 1e-9)))
        }
        try settle()
        progress?.finish()
        // The job's totals: losses summed step by step in slice order, as one process would.
        let allLosses = try group.allGather(losses)
        let counts = try group.allGather([own.correct, own.examples, own.tokens].map { Int64($0) })
        var totals = EpochTotals()
        for step in batchSizes.indices {
            for part in allLosses {
                for t in 0..<config.threads { totals.lossSum += part[step * config.threads + t] }
            }
        }
        communication.epochBytesSent = group.bytesSent - sentBefore
        for part in counts {
            totals.correct += Int(part[0])
            totals.examples += Int(part[1])
            totals.tokens += Int(part[2])
        }
        return totals
    }

    /// Brings every embedding row up to date (see Optimizer). Across processes, each
    /// settles the rows it owns and sends them (parameters and moments) to all.
    func settle() throws {
        guard group.size > 1 else { return optimizer.settle(&parameters) }
        let V = architecture.vocabularySize, E = architecture.embedding, P = group.size
        let mine = Array(stride(from: group.rank, to: V, by: P))
        optimizer.settle(&parameters, rows: mine)
        // Parameters, first moments and (Adam) second moments, each as rows of this process's, then of each other's.
        var state = [parameters, optimizer.first, optimizer.second].filter { !$0.isEmpty }
        let payload = state.flatMap { array in mine.flatMap { array[$0 * E..<($0 + 1) * E] } }
        for (o, part) in try group.allGather(payload).enumerated() where o != group.rank {
            var k = 0
            for a in state.indices {
                for row in stride(from: o, to: V, by: P) {
                    state[a].replaceSubrange(row * E..<(row + 1) * E, with: part[k..<k + E])
                    k += E
                }
            }
        }
        parameters = state[0]
        optimizer.restore(first: state[1], second: state.count > 2 ? state[2] : [], steps: optimizer.steps)
    }

    /// Trains epoch `epoch` (0-based) and evaluates on `evaluation` (named `split`); returns its record.
    public func runEpoch(
        _ epoch: Int, train: ExampleSet, evaluation: ExampleSet, split: String, progress: ProgressReporter?
    ) throws -> EpochRecord {
        let started = Date()
        let learningRate = config.learningRate(
            step: optimizer.steps, total: order(train).nominalSteps * config.epochs)
        let totals = try trainEpoch(epoch, train: train, progress: progress)
        let trainSeconds = Date().timeIntervalSince(started)
        let metrics = try evaluate(evaluation)
        return EpochRecord(
            epoch: epoch + 1, learningRate: learningRate, trainLoss: totals.lossSum / Double(max(totals.examples, 1)),
            trainAccuracy: Double(totals.correct) / Double(max(totals.examples, 1)), split: split, evaluation: metrics,
            seconds: Date().timeIntervalSince(started), samplesPerSecond: Double(totals.examples) / trainSeconds,
            tokens: totals.tokens)
    }

    public func record(_ record: EpochRecord) { history.append(record) }

    /// Examples per evaluation block: the unit each process evaluates and whose loss is summed in order.
    static let evaluationBlock = 4_096

    /// Metrics on `set`, no dropout: each process evaluates its contiguous share
    /// of blocks with all its threads, holding one block at a time; the counts
    /// and the blocks' losses (in block order) are combined on every process.
    /// A multi-label model's sets are cut at `threshold` (the selected epoch's, for the test split),
    /// or by default at the candidate with the best micro-F1 on `set` (validation's choice).
    public func evaluate(_ set: ExampleSet, parameters: [Float]? = nil, threshold: Float? = nil) throws -> Metrics {
        let parameters = parameters ?? self.parameters
        let C = labels.count
        let evaluator = Evaluator(network: objective.network, labels: labels)
        let weights = parameters.withUnsafeBufferPointer {
            objective.network.inferenceWeights($0.baseAddress!, tokenTables: false)
        }
        let blocks = (set.count + Self.evaluationBlock - 1) / Self.evaluationBlock
        var losses: [Double] = []
        var confusion = [Int64](repeating: 0, count: C * C)
        var counts = MultiLabelCounts(classes: C)
        for block in blocks * group.rank / group.size..<blocks * (group.rank + 1) / group.size {
            let data = try set.read(
                Array(block * Self.evaluationBlock..<min(set.count, (block + 1) * Self.evaluationBlock)))
            let result = evaluator.evaluate(
                parameters, on: data, workspaces: workspaces.map(\.forward), weights: weights)
            losses.append(result.lossSum)
            for (truth, predicted) in zip(data.labels, result.predictions) {
                confusion[Int(truth) * C + Int(predicted)] += 1
            }
            if architecture.output == .sigmoid {
                counts.add(evaluator.multiLabelCounts(data, probabilities: result.probabilities))
            }
        }
        let lossSum = try group.allGather(losses).joined().reduce(0, +)
        if architecture.output == .sigmoid {
            var total = MultiLabelCounts(classes: C)
            for part in try group.allGather(counts.values) { total.add(MultiLabelCounts(classes: C, values: part)) }
            return Metrics(
                labels: labels, counts: total,
                threshold: threshold.map(MultiLabelCounts.index(nearest:)) ?? total.bestThreshold, lossSum: lossSum)
        }
        var total = [[Int]](repeating: [Int](repeating: 0, count: C), count: C)
        for part in try group.allGather(confusion) {
            for i in 0..<C { for j in 0..<C { total[i][j] += Int(part[i * C + j]) } }
        }
        return Metrics(labels: labels, confusion: total, lossSum: lossSum)
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
        var saved: TrainConfig
        do { saved = try JSONDecoder().decode(TrainConfig.self, from: Data(configJSON.utf8)) } catch {
            throw DataError(
                file: path,
                "was written by another version of train (\(describe(decodingError: error))); start the run again without --resume"
            )
        }
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
