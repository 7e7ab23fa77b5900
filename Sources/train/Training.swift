import Foundation
import RNNData
import RNNModel
import RNNText
import RNNTrain

enum Training {
    static func run(_ command: TrainCommand, dataset: PreparedDataset) throws {
        let config = try command.configuration(dataset: dataset)
        let manifest = dataset.manifest
        let special = dataset.tokenizer.specialIDs
        var trainShard = try dataset.load(split: "train")
        if let limit = command.trainLimit, limit < trainShard.count {
            // A seeded sample, not the first rows: shards keep the source's order,
            // which is often sorted by label (IMDB is).
            var rng = SplitMix64(seed: config.seed)
            let chosen = Array(0..<trainShard.count).shuffled(using: &rng).prefix(limit).sorted()
            var limited = Shard()
            for i in chosen { limited.append(tokens: trainShard.tokens(of: i), label: trainShard.labels[i], source: trainShard.sources[i], rating: trainShard.ratings[i]) }
            trainShard = limited
        }
        guard trainShard.isLabeled, trainShard.count > 0 else { throw DataError(file: dataset.directory.path, "the train split has no labeled examples") }
        let evaluationShard = try dataset.load(split: config.evaluationSplit)
        guard evaluationShard.isLabeled else { throw DataError(file: dataset.directory.path, "the \(config.evaluationSplit) split is unlabeled") }
        let train = LabeledSequences(shard: trainShard, policy: config.policy, special: special)
        let evaluation = LabeledSequences(shard: evaluationShard, policy: config.policy, special: special)
        let architecture = Architecture(cell: config.cell, vocabularySize: manifest.tokenizer.vocabularySize, embedding: config.embedding,
                                        hidden: config.hidden, layers: config.layers, bidirectional: config.bidirectional,
                                        classes: manifest.labels.count, paddingID: special.padding)
        if let problem = architecture.problem { throw DataError(file: dataset.directory.path, problem) }

        let output = URL(fileURLWithPath: command.out ?? "runs/\(manifest.dataset)", isDirectory: true)
        do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) }
        catch { throw DataError(file: output.path, "cannot create directory: \(error.localizedDescription)") }
        let checkpointURL = output.appendingPathComponent("checkpoint.rnnk")
        let fingerprint = ([manifest.tokenizer.vocabularyCRC32] + ["train", config.evaluationSplit].flatMap { manifest.split($0)?.shards.map(\.crc32) ?? [] }
                           + ["limit \(command.trainLimit.map(String.init) ?? "none")"]).joined(separator: " ")

        let trainer = Trainer(config: config, architecture: architecture, labels: manifest.labels)
        var firstEpoch = 0
        if command.resume {
            guard let bytes = FileManager.default.contents(atPath: checkpointURL.path) else {
                throw DataError(file: checkpointURL.path, "no checkpoint to resume from")
            }
            firstEpoch = try trainer.restore(Array(bytes), file: checkpointURL.path, dataFingerprint: fingerprint)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print("train \(manifest.dataset): \(train.count) training examples, \(evaluation.count) \(config.evaluationSplit) examples, "
              + "\(ParameterLayout(architecture).count) parameters")
        print("configuration: " + String(decoding: try encoder.encode(config), as: UTF8.self))
        if firstEpoch > 0 { print("resuming after epoch \(firstEpoch) from \(checkpointURL.path)") }

        for epoch in firstEpoch..<config.epochs {
            let progress = command.quiet ? nil : ProgressReporter(title: "epoch \(epoch + 1)/\(config.epochs)", total: Double(train.count), unit: .items, quiet: false)
            let record = trainer.runEpoch(epoch, train: train, evaluation: evaluation, progress: progress)
            guard record.trainLoss.isFinite, record.evaluation.loss.isFinite, trainer.parameters.allSatisfy(\.isFinite) else {
                throw DataError(file: dataset.directory.path, "training diverged in epoch \(epoch + 1) (loss is not finite); lower --lr or set --clip")
            }
            trainer.record(record)
            print(String(format: "epoch %d/%d  lr %.2e  train loss %.4f acc %.2f%%  %@ loss %.4f acc %.2f%% macro-F1 %.4f  (%.1f s, %.0f samples/s)",
                         record.epoch, config.epochs, record.learningRate, record.trainLoss, 100 * record.trainAccuracy, config.evaluationSplit,
                         record.evaluation.loss, 100 * record.evaluation.accuracy, record.evaluation.macroF1, record.seconds, record.samplesPerSecond))
            print(record.evaluation.table)
            let lineEncoder = JSONEncoder()
            lineEncoder.outputFormatting = [.sortedKeys]
            let lines = try trainer.history.map { String(decoding: try lineEncoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
            try writeAtomically(Array(lines.utf8), to: output.appendingPathComponent("metrics.jsonl"))
            try writeAtomically(Array(learningCurveSVG(trainer.history, title: "\(manifest.dataset) \(config.cell.rawValue)").utf8),
                                to: output.appendingPathComponent("learning-curve.svg"))
            try writeAtomically(try trainer.checkpoint(epochsDone: epoch + 1, dataFingerprint: fingerprint), to: checkpointURL)
        }

        let lineEncoder = JSONEncoder()
        lineEncoder.outputFormatting = [.sortedKeys]
        let classifier: Classifier
        do {
            classifier = try Classifier(
                architecture: architecture, tokenizerSpec: manifest.tokenizer.spec, vocabulary: dataset.tokenizer.vocabulary, policy: config.policy,
                labels: manifest.labels, parameters: trainer.parameters,
                provenance: [("training.recipe", .string(config.recipe ?? "")),
                             ("training.config", .string(String(decoding: try lineEncoder.encode(config), as: UTF8.self))),
                             ("training.data", .string(manifest.dataset + " " + fingerprint)),
                             ("training.metrics", .string(String(decoding: try lineEncoder.encode(trainer.history.last), as: UTF8.self))),
                             ("training.tool", .string("rnnkit train \(rnnkitVersion)")),
                             ("training.created", .string(ISO8601DateFormatter().string(from: Date())))])
        } catch {
            throw DataError(file: output.path, "cannot build the model file: \(error)")
        }
        let modelURL = output.appendingPathComponent("model.rnnk")
        try writeAtomically(classifier.file.encoded(), to: modelURL)
        print("model: \(modelURL.path)")
    }
}

enum Evaluate {
    static func run(model path: String, dataset: PreparedDataset, split: String, threads: Int, predictions: String?) throws {
        let classifier = try loadClassifier(path)
        let manifest = dataset.manifest
        guard classifier.labels == manifest.labels else {
            throw DataError(file: path, "its labels (\(classifier.labels.joined(separator: ", "))) differ from the dataset's (\(manifest.labels.joined(separator: ", ")))")
        }
        guard classifier.tokenizer.vocabulary.tokens == dataset.tokenizer.vocabulary.tokens else {
            throw DataError(file: path, "was trained with a different vocabulary than \(dataset.directory.path)")
        }
        let shard = try dataset.load(split: split)
        let data = LabeledSequences(shard: shard, policy: classifier.policy, special: classifier.tokenizer.specialIDs)
        useSingleThreadedBLAS()
        let (metrics, probabilities) = evaluate(classifier, data, threads: threads)
        if let predictions {
            let C = classifier.labels.count
            var tsv = "source\tlabel\tpredicted\t" + classifier.labels.map { "p_\($0)" }.joined(separator: "\t") + "\n"
            for i in 0..<data.count {
                let row = probabilities[i * C..<(i + 1) * C]
                let predicted = row.indices.max { row[$0] < row[$1] }! - i * C
                tsv += "\(shard.sources[i])\t\(shard.labels[i])\t\(predicted)\t" + row.map { String(format: "%.9g", $0) }.joined(separator: "\t") + "\n"
            }
            try writeAtomically(Array(tsv.utf8), to: URL(fileURLWithPath: predictions))
        }
        print(String(format: "%@ on %@ %@: loss %.4f accuracy %.2f%% macro-F1 %.4f (%d examples)", path, manifest.dataset, split,
                     metrics.loss, 100 * metrics.accuracy, metrics.macroF1, metrics.examples))
        print(metrics.table)
    }

    static func loadClassifier(_ path: String) throws -> Classifier {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "not found") }
        do {
            let file = try Array(data).withUnsafeBytes { try ModelFile(bytes: $0) }
            return try Classifier(file: file)
        } catch {
            throw DataError(file: path, "\(error)")
        }
    }

    static func evaluate(_ classifier: Classifier, _ data: LabeledSequences, threads: Int) -> (metrics: Metrics, probabilities: [Float]) {
        Evaluator(network: classifier.network, labels: classifier.labels)
            .run(classifier.parameters, on: data, workspaces: (0..<threads).map { _ in Network.Workspace() })
    }
}

enum Inspect {
    static func run(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "not found") }
        let file: ModelFile
        do { file = try Array(data).withUnsafeBytes { try ModelFile(bytes: $0) } }
        catch { throw DataError(file: path, "\(error)") }
        print("\(path): rnnkit model format \(file.version.major).\(file.version.minor), \(data.count) bytes, checksum ok")
        print("metadata:")
        for (key, value) in file.metadata {
            let shown: String
            switch value {
            case .int(let v): shown = "\(v)"
            case .double(let v): shown = "\(v)"
            case .bool(let v): shown = "\(v)"
            case .string(let v): shown = v.count > 300 ? String(v.prefix(300)) + "…" : v
            case .strings(let v): shown = "[\(v.count)] " + v.prefix(8).joined(separator: " ") + (v.count > 8 ? " …" : "")
            }
            print("  \(key) = \(shown)")
        }
        print("tensors:")
        for tensor in file.tensors { print("  \(tensor.name)  f32 \(tensor.shape)  \(tensor.values.count) values") }
        do { _ = try Classifier(file: file); print("valid: yes") }
        catch { print("valid: no — \(error)") }
    }
}
