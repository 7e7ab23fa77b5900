import Foundation
import RNNBinary
import RNNData
import RNNKernels
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
    /// The processes training together (an MPI job), or this one alone.
    public var group: ProcessGroup = SingleProcess()
    /// Where the run's lines go (stdout for the command).
    public var report: (String) -> Void = { print($0) }
    /// A host's own display of each epoch's progress (title, done, total, detail); nil: stderr.
    public var progressSink: ((_ title: String, _ done: Double, _ total: Double, _ detail: String) -> Void)?
    /// Asked before every batch; true stops the run with `TrainingInterrupted`, the last epoch's checkpoint kept.
    public var shouldStop: () -> Bool = { false }

    public init(dataset: PreparedDataset, config: TrainConfig, output: URL) {
        self.dataset = dataset
        self.config = config
        self.output = output
    }

    public func run() throws {
        let manifest = dataset.manifest
        let special = dataset.tokenizer.specialIDs
        let lead = group.rank == 0
        // Under MPI every process runs this; one speaks and writes.
        func report(_ line: String) { if lead { self.report(line) } }
        var config = config
        config.processes = group.size
        if let problem = config.problem { throw DataError(file: dataset.directory.path, problem) }
        func labeled(_ reader: SplitReader) throws -> [Int32] {
            let labels = try reader.labels()
            guard !labels.contains(-1) else {
                throw DataError(file: dataset.directory.path, "the \(reader.name) split is unlabeled")
            }
            return labels
        }
        // Only the labels are read here; each process reads its streams' tokens as it trains.
        let trainReader = try dataset.reader(split: "train")
        let trainLabels = try labeled(trainReader)
        var trainIndices = Array(0..<trainReader.count)
        if let limit = trainLimit, limit < trainIndices.count {
            // A seeded sample, not the first rows: shards keep the source's order,
            // which is often sorted by label (IMDB is).
            var rng = SplitMix64(seed: config.seed)
            trainIndices = Array(trainIndices.shuffled(using: &rng).prefix(limit).sorted())
        }
        guard !trainIndices.isEmpty else {
            throw DataError(file: dataset.directory.path, "the train split has no labeled examples")
        }
        // Validation: the dataset's own split, else a stratified, seeded share of train that is never trained on.
        var validation: ExampleSet?
        var validationSource = "the dataset's validation split"
        if manifest.split("validation") != nil {
            let reader = try dataset.reader(split: "validation")
            _ = try labeled(reader)
            validation = ExampleSet(
                reader, indices: Array(0..<reader.count), policy: config.policy, special: special)
        } else if config.validationFraction > 0 {
            let held = ModelSelection.validationIndices(
                labels: trainIndices.map { trainLabels[$0] }, fraction: config.validationFraction, seed: config.seed)
            let heldSet = Set(held)
            validation = ExampleSet(
                trainReader, indices: held.map { trainIndices[$0] }.sorted(), policy: config.policy, special: special)
            trainIndices = trainIndices.indices.filter { !heldSet.contains($0) }.map { trainIndices[$0] }
            validationSource = String(format: "%g%% of train, stratified", 100 * config.validationFraction)
        }
        if let validation {
            guard validation.count > 0, !trainIndices.isEmpty else {
                throw DataError(
                    file: dataset.directory.path,
                    "the validation split (\(validationSource)) has no labeled examples, or leaves none to train on; "
                        + "change --validation (0 turns validation off)")
            }
        } else if config.earlyStopping != nil {
            throw DataError(file: "--early-stopping", "needs a validation split: give --validation a fraction above 0")
        }
        // A dataset without the split (rows a program prepared with no test set) is scored on validation alone.
        var evaluation: ExampleSet?
        if manifest.split(config.evaluationSplit) != nil || validation == nil {
            let evaluationReader = try dataset.reader(split: config.evaluationSplit)
            _ = try labeled(evaluationReader)
            evaluation = ExampleSet(
                evaluationReader, indices: Array(0..<evaluationReader.count), policy: config.policy, special: special)
        }
        let train = ExampleSet(trainReader, indices: trainIndices, policy: config.policy, special: special)
        if let source = config.classWeightSource {
            config.classWeights = try ClassWeights.resolve(
                source, labels: manifest.labels, trainLabels: trainIndices.map { trainLabels[$0] })
        }
        if manifest.multiLabel == true && config.loss == .softmax {
            report(
                "multi-label data with --loss softmax: each text's labels share its probability (--loss ova predicts sets)"
            )
        }
        if manifest.split("train")?.softLabels == true {
            report(
                "soft labels: the train split's teacher probabilities, at temperature \(config.distillTemperature), hard-label weight \(config.hardLabelWeight)"
            )
        } else if config.distillTemperature != 1 || config.hardLabelWeight != 0 {
            throw DataError(
                file: config.distillTemperature != 1 ? "--distill-temperature" : "--hard-label-weight",
                "needs soft labels in the train split (prep csv --soft-label-columns, prep jsonl --soft-label-field)")
        }
        let architecture = Architecture(
            cell: config.cell, vocabularySize: manifest.tokenizer.vocabularySize, embedding: config.embedding,
            hidden: config.hidden, layers: config.layers, bidirectional: config.bidirectional,
            classes: manifest.labels.count, paddingID: special.padding, pooling: config.pooling,
            output: config.loss.output)
        if let problem = architecture.problem { throw DataError(file: dataset.directory.path, problem) }

        // Read before anything is written: a file that does not fit leaves no output behind.
        var vectors: PretrainedVectors?
        var vectorsRecord: String?
        if let path = config.pretrainedVectors {
            let read = try PretrainedVectors(
                path: path, vocabulary: dataset.tokenizer.vocabulary.tokens, dimension: config.embedding,
                skipping: [special.padding])
            let coverage = try VectorCoverage(read, train: train)
            vectorsRecord = coverage.json(file: path, frozen: config.freezeEmbedding)
            report("pretrained vectors: \(path): " + coverage.summary)
            vectors = read
        }
        if lead { try createDirectory(output) }
        let checkpointURL = output.appendingPathComponent("checkpoint.rnnk")
        let fingerprint =
            ([manifest.tokenizer.vocabularyCRC32]
            + ["train", "validation", config.evaluationSplit].flatMap { manifest.split($0)?.shards.map(\.crc32) ?? [] }
            + ["limit \(trainLimit.map(String.init) ?? "none")"]).joined(separator: " ")

        // Every process must train on the same data: the shards may be copies on separate machines.
        let fingerprints = try group.allGather(Array(fingerprint.utf8))
        if let other = fingerprints.firstIndex(where: { $0 != fingerprints[0] }) {
            throw DataError(
                file: dataset.directory.path,
                "process \(other) of \(group.size) sees different shards than process 0 (data fingerprints differ)")
        }
        let trainer = Trainer(config: config, architecture: architecture, labels: manifest.labels, group: group)
        trainer.shouldStop = shouldStop
        var firstEpoch = 0
        if resume {
            // Read by the first process and sent to the others, which need no shared file system.
            var bytes: [UInt8] = []
            if lead {
                guard let contents = FileManager.default.contents(atPath: checkpointURL.path) else {
                    throw DataError(file: checkpointURL.path, "no checkpoint to resume from")
                }
                bytes = Array(contents)
            }
            bytes = try group.broadcast(bytes, from: 0)
            firstEpoch = try trainer.restore(bytes, file: checkpointURL.path, dataFingerprint: fingerprint)
        }
        // A resumed run's embedding is the checkpoint's.
        if let vectors, firstEpoch == 0 { trainer.startEmbedding(from: vectors) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let lineEncoder = JSONEncoder()
        lineEncoder.outputFormatting = [.sortedKeys]
        let selection = config.selection
        // Each epoch is evaluated on validation when there is one (the test split once, at the end),
        // else on the test split: the course setting, where the last epoch's weights are written.
        // One of the two exists: without validation the evaluation split was required above.
        let perEpoch = (validation ?? evaluation)!
        let perEpochSplit = validation == nil ? config.evaluationSplit : "validation"
        if let validation {
            let scored =
                evaluation.map {
                    "\($0.count) \(config.evaluationSplit) examples (evaluated once, for the epoch with the best validation \(selection.rawValue))"
                } ?? "no \(config.evaluationSplit) split (selection on validation only)"
            report(
                "train \(manifest.dataset): \(train.count) training examples, \(validation.count) validation examples "
                    + "(\(validationSource)), \(scored), \(ParameterLayout(architecture).count) parameters"
            )
        } else {
            report(
                "train \(manifest.dataset): \(train.count) training examples, \(perEpoch.count) \(config.evaluationSplit) "
                    + "examples (no validation: every epoch is evaluated on them and the last one is written), "
                    + "\(ParameterLayout(architecture).count) parameters")
        }
        report("configuration: " + String(decoding: try encoder.encode(config), as: UTF8.self))
        report("kernels: rnnkit \(KernelSet.selected.instructionSet); \(OpenBLASCorrection.report)")
        if firstEpoch > 0 { report("resuming after epoch \(firstEpoch) from \(checkpointURL.path)") }

        func metricsLines(_ test: TestRecord?) throws -> [UInt8] {
            var lines = try trainer.history.map { String(decoding: try lineEncoder.encode($0), as: UTF8.self) }
            if let test { lines.append(String(decoding: try lineEncoder.encode(test), as: UTF8.self)) }
            return Array((lines.joined(separator: "\n") + "\n").utf8)
        }
        for epoch in firstEpoch..<config.epochs {
            if ModelSelection.shouldStop(trainer.history, by: selection, patience: config.earlyStopping) { break }
            let progress =
                quiet || !lead
                ? nil
                : ProgressReporter(
                    title: "epoch \(epoch + 1)/\(config.epochs)", total: Double(train.count), unit: .items,
                    quiet: false,
                    sink: progressSink.map { sink in { sink("epoch \(epoch + 1)/\(config.epochs)", $0, $1, $2) } })
            let record = try trainer.runEpoch(
                epoch, train: train, evaluation: perEpoch, split: perEpochSplit, progress: progress)
            guard record.trainLoss.isFinite, record.evaluation.loss.isFinite, trainer.parameters.allSatisfy(\.isFinite)
            else {
                throw DataError(
                    file: dataset.directory.path,
                    "training diverged in epoch \(epoch + 1) (loss is not finite); lower --lr or set --clip")
            }
            trainer.record(record)
            let isBest = validation != nil && ModelSelection.bestEpoch(trainer.history, by: selection) == epoch
            if isBest { trainer.selectedParameters = trainer.parameters }
            report(
                String(
                    format:
                        "epoch %d/%d  lr %.2e  train loss %.4f acc %.2f%%  %@ loss %.4f acc %.2f%% macro-F1 %.4f  (%.1f s, %.0f samples/s)%@",
                    record.epoch, config.epochs, record.learningRate, record.trainLoss, 100 * record.trainAccuracy,
                    perEpochSplit,
                    record.evaluation.loss, 100 * record.evaluation.accuracy, record.evaluation.macroF1, record.seconds,
                    record.samplesPerSecond, isBest ? "  best so far" : ""))
            report(record.evaluation.table)
            if group.size > 1 {
                let c = trainer.communication
                let all = try group.allGather([Double(c.bytesSent), c.seconds, c.stepSeconds, Double(c.epochBytesSent)])
                let steps = Double(max(c.steps, 1)), sent = all.map { $0[0] / steps / 1e6 }
                report(
                    String(
                        format:
                            "%d ranks: %.3f MB sent per rank per step (mean; at most %.3f), %.1f MB per rank this epoch; exchanges took %.2f ms of each %.2f ms step (slowest rank)",
                        group.size, sent.reduce(0, +) / Double(sent.count), sent.max()!,
                        all.map { $0[3] }.reduce(0, +) / Double(all.count) / 1e6,
                        1e3 * all.map { $0[1] }.max()! / steps,
                        1e3 * all.map { $0[2] }.max()! / steps))
            }
            guard lead else { continue }
            try writeAtomically(try metricsLines(nil), to: output.appendingPathComponent("metrics.jsonl"))
            try writeAtomically(
                Array(learningCurveSVG(trainer.history, title: "\(manifest.dataset) \(config.cell.rawValue)").utf8),
                to: output.appendingPathComponent("learning-curve.svg"))
            try writeAtomically(
                try trainer.checkpoint(epochsDone: epoch + 1, dataFingerprint: fingerprint), to: checkpointURL)
        }

        // The weights written: the selected epoch's, evaluated once on the test split; without validation, the last.
        var weights = trainer.parameters
        var test: TestRecord?
        var written = trainer.history.last
        if validation != nil, let selected = trainer.selectedParameters {
            let best = ModelSelection.bestEpoch(trainer.history, by: selection)
            written = trainer.history[best]
            if trainer.history.count < config.epochs, let patience = config.earlyStopping {
                report(
                    "early stopping after epoch \(trainer.history.count): no better validation \(selection.rawValue) in \(patience) epochs"
                )
            }
            let chosen = trainer.history[best].evaluation
            report(
                String(
                    format: "selected epoch %d of %d: validation loss %.4f acc %.2f%% macro-F1 %.4f (best %@)",
                    best + 1,
                    trainer.history.count, chosen.loss, 100 * chosen.accuracy, chosen.macroF1, selection.rawValue))
            weights = selected
            if let evaluation {
                let metrics = try trainer.evaluate(
                    evaluation, parameters: selected, threshold: trainer.history[best].evaluation.threshold)
                test = TestRecord(
                    epoch: best + 1, selectedBy: selection, split: config.evaluationSplit, evaluation: metrics)
                report(
                    String(
                        format: "%@ (evaluated once, epoch %d): loss %.4f acc %.2f%% macro-F1 %.4f",
                        config.evaluationSplit, best + 1, metrics.loss, 100 * metrics.accuracy, metrics.macroF1))
                report(metrics.table)
                if lead {
                    try writeAtomically(try metricsLines(test), to: output.appendingPathComponent("metrics.jsonl"))
                }
            }
        }
        guard lead else { return }
        let finalMetrics = try test.map { try lineEncoder.encode($0) } ?? lineEncoder.encode(written)

        var provenance: [(String, ModelFile.Value)] = [
            ("training.recipe", .string(config.recipe ?? "")),
            ("training.config", .string(String(decoding: try lineEncoder.encode(config), as: UTF8.self))),
            ("training.data", .string(manifest.dataset + " " + fingerprint)),
            ("training.metrics", .string(String(decoding: finalMetrics, as: UTF8.self))),
            ("training.tool", .string("rnnkit train \(rnnkitVersion)")),
            ("training.kernels", .string(KernelSet.selected.instructionSet)),
            ("training.blas", .string(OpenBLASCorrection.report)),
            ("training.created", .string(ISO8601DateFormatter().string(from: Date()))),
        ]
        if let vectorsRecord { provenance.append(("training.pretrained_vectors", .string(vectorsRecord))) }
        // A multi-label model's sets are cut where validation chose (0.5 without validation).
        if architecture.output == .sigmoid {
            provenance.append(("output.threshold", .double(threshold: written?.evaluation.threshold ?? 0.5)))
        }
        let classifier: Classifier
        do {
            classifier = try Classifier(
                architecture: architecture, tokenizerSpec: manifest.tokenizer.spec,
                vocabulary: dataset.tokenizer.vocabulary, policy: config.policy,
                labels: manifest.labels, parameters: weights, provenance: provenance)
        } catch {
            throw DataError(file: output.path, "cannot build the model file: \(error)")
        }
        let modelURL = output.appendingPathComponent("model.rnnk")
        try writeAtomically(classifier.file.encoded(), to: modelURL)
        report("model: \(modelURL.path)" + (test.map { " (epoch \($0.epoch))" } ?? ""))
    }
}

/// How much of the vocabulary and of the training text pretrained vectors cover.
struct VectorCoverage {
    var vocabularyFound: Int
    var vocabularySize: Int
    var tokensFound: Int
    var tokens: Int
    var words: Int

    init(_ vectors: PretrainedVectors, train: ExampleSet) throws {
        vocabularyFound = vectors.foundCount
        vocabularySize = vectors.found.count
        words = vectors.words
        (tokensFound, tokens) = (0, 0)
        for start in stride(from: 0, to: train.count, by: 8192) {
            for sequence in try train.read(Array(start..<min(start + 8192, train.count))).sequences {
                tokens += sequence.count
                for token in sequence where vectors.found[Int(token)] { tokensFound += 1 }
            }
        }
    }

    var vocabularyShare: Double { Double(vocabularyFound) / Double(max(1, vocabularySize)) }
    var tokenShare: Double { Double(tokensFound) / Double(max(1, tokens)) }

    var summary: String {
        String(
            format: "%d of %d vocabulary entries (%.1f%%), %.1f%% of the training tokens (%d words in the file)",
            vocabularyFound, vocabularySize, 100 * vocabularyShare, 100 * tokenShare, words)
    }

    func json(file: String, frozen: Bool) -> String {
        let object: [String: Any] = [
            "file": file, "words": words, "vocabulary_found": vocabularyFound,
            "vocabulary_coverage": vocabularyShare, "token_coverage": tokenShare, "frozen": frozen,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
