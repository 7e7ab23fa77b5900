import Foundation
import RNNBinary
import RNNData
import RNNModel
import RNNSupport
import RNNText

/// A whole training run, as `train fit` starts it: load and sample the shards,
/// train epoch by epoch (or resume), write metrics, learning curve and a
/// checkpoint after every epoch, then the model file — each atomically.
public struct TrainingRun {
    public var dataset: PreparedDataset
    public var config: TrainConfig
    public var output: URL
    /// Continue from the checkpoint in `output`.
    public var resume = false
    /// Train on a seeded sample of this many training examples.
    public var trainLimit: Int?
    public var quiet = false
    /// Where the run's lines go (stdout for the command).
    public var report: (String) -> Void = { print($0) }

    public init(dataset: PreparedDataset, config: TrainConfig, output: URL) {
        self.dataset = dataset
        self.config = config
        self.output = output
    }

    public func run() throws {
        let manifest = dataset.manifest
        let special = dataset.tokenizer.specialIDs
        var trainShard = try dataset.load(split: "train")
        if let limit = trainLimit, limit < trainShard.count {
            // A seeded sample, not the first rows: shards keep the source's order,
            // which is often sorted by label (IMDB is).
            var rng = SplitMix64(seed: config.seed)
            let chosen = Array(0..<trainShard.count).shuffled(using: &rng).prefix(limit).sorted()
            var limited = Shard()
            for i in chosen {
                limited.append(
                    tokens: trainShard.tokens(of: i), label: trainShard.labels[i], source: trainShard.sources[i],
                    rating: trainShard.ratings[i])
            }
            trainShard = limited
        }
        guard trainShard.isLabeled, trainShard.count > 0 else {
            throw DataError(file: dataset.directory.path, "the train split has no labeled examples")
        }
        let evaluationShard = try dataset.load(split: config.evaluationSplit)
        guard evaluationShard.isLabeled else {
            throw DataError(file: dataset.directory.path, "the \(config.evaluationSplit) split is unlabeled")
        }
        let train = LabeledSequences(shard: trainShard, policy: config.policy, special: special)
        let evaluation = LabeledSequences(shard: evaluationShard, policy: config.policy, special: special)
        let architecture = Architecture(
            cell: config.cell, vocabularySize: manifest.tokenizer.vocabularySize, embedding: config.embedding,
            hidden: config.hidden, layers: config.layers, bidirectional: config.bidirectional,
            classes: manifest.labels.count, paddingID: special.padding)
        if let problem = architecture.problem { throw DataError(file: dataset.directory.path, problem) }

        do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw DataError(file: output.path, "cannot create directory: \(error.localizedDescription)")
        }
        let checkpointURL = output.appendingPathComponent("checkpoint.rnnk")
        let fingerprint =
            ([manifest.tokenizer.vocabularyCRC32]
            + ["train", config.evaluationSplit].flatMap { manifest.split($0)?.shards.map(\.crc32) ?? [] }
            + ["limit \(trainLimit.map(String.init) ?? "none")"]).joined(separator: " ")

        let trainer = Trainer(config: config, architecture: architecture, labels: manifest.labels)
        var firstEpoch = 0
        if resume {
            guard let bytes = FileManager.default.contents(atPath: checkpointURL.path) else {
                throw DataError(file: checkpointURL.path, "no checkpoint to resume from")
            }
            firstEpoch = try trainer.restore(Array(bytes), file: checkpointURL.path, dataFingerprint: fingerprint)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        report(
            "train \(manifest.dataset): \(train.count) training examples, \(evaluation.count) \(config.evaluationSplit) examples, "
                + "\(ParameterLayout(architecture).count) parameters")
        report("configuration: " + String(decoding: try encoder.encode(config), as: UTF8.self))
        if firstEpoch > 0 { report("resuming after epoch \(firstEpoch) from \(checkpointURL.path)") }

        for epoch in firstEpoch..<config.epochs {
            let progress =
                quiet
                ? nil
                : ProgressReporter(
                    title: "epoch \(epoch + 1)/\(config.epochs)", total: Double(train.count), unit: .items, quiet: false
                )
            let record = trainer.runEpoch(epoch, train: train, evaluation: evaluation, progress: progress)
            guard record.trainLoss.isFinite, record.evaluation.loss.isFinite, trainer.parameters.allSatisfy(\.isFinite)
            else {
                throw DataError(
                    file: dataset.directory.path,
                    "training diverged in epoch \(epoch + 1) (loss is not finite); lower --lr or set --clip")
            }
            trainer.record(record)
            report(
                String(
                    format:
                        "epoch %d/%d  lr %.2e  train loss %.4f acc %.2f%%  %@ loss %.4f acc %.2f%% macro-F1 %.4f  (%.1f s, %.0f samples/s)",
                    record.epoch, config.epochs, record.learningRate, record.trainLoss, 100 * record.trainAccuracy,
                    config.evaluationSplit,
                    record.evaluation.loss, 100 * record.evaluation.accuracy, record.evaluation.macroF1, record.seconds,
                    record.samplesPerSecond))
            report(record.evaluation.table)
            let lineEncoder = JSONEncoder()
            lineEncoder.outputFormatting = [.sortedKeys]
            let lines =
                try trainer.history.map { String(decoding: try lineEncoder.encode($0), as: UTF8.self) }.joined(
                    separator: "\n") + "\n"
            try writeAtomically(Array(lines.utf8), to: output.appendingPathComponent("metrics.jsonl"))
            try writeAtomically(
                Array(learningCurveSVG(trainer.history, title: "\(manifest.dataset) \(config.cell.rawValue)").utf8),
                to: output.appendingPathComponent("learning-curve.svg"))
            try writeAtomically(
                try trainer.checkpoint(epochsDone: epoch + 1, dataFingerprint: fingerprint), to: checkpointURL)
        }

        let lineEncoder = JSONEncoder()
        lineEncoder.outputFormatting = [.sortedKeys]
        let classifier: Classifier
        do {
            classifier = try Classifier(
                architecture: architecture, tokenizerSpec: manifest.tokenizer.spec,
                vocabulary: dataset.tokenizer.vocabulary, policy: config.policy,
                labels: manifest.labels, parameters: trainer.parameters,
                provenance: [
                    ("training.recipe", .string(config.recipe ?? "")),
                    ("training.config", .string(String(decoding: try lineEncoder.encode(config), as: UTF8.self))),
                    ("training.data", .string(manifest.dataset + " " + fingerprint)),
                    (
                        "training.metrics",
                        .string(String(decoding: try lineEncoder.encode(trainer.history.last), as: UTF8.self))
                    ),
                    ("training.tool", .string("rnnkit train \(rnnkitVersion)")),
                    ("training.created", .string(ISO8601DateFormatter().string(from: Date()))),
                ])
        } catch {
            throw DataError(file: output.path, "cannot build the model file: \(error)")
        }
        let modelURL = output.appendingPathComponent("model.rnnk")
        try writeAtomically(classifier.file.encoded(), to: modelURL)
        report("model: \(modelURL.path)")
    }
}
