import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNModel
import RNNSupport
import RNNText
import RNNTrain

enum Evaluate {
    static func run(model path: String, dataset: PreparedDataset, split: String, threads: Int, predictions: String?)
        throws
    {
        let classifier = try loadClassifier(path)
        let manifest = dataset.manifest
        guard classifier.labels == manifest.labels else {
            throw DataError(
                file: path,
                "its labels (\(classifier.labels.joined(separator: ", "))) differ from the dataset's (\(manifest.labels.joined(separator: ", ")))"
            )
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
                let predicted = argmax(row)
                tsv +=
                    "\(shard.sources[i])\t\(shard.labels[i])\t\(predicted)\t"
                    + row.map { String(format: "%.9g", $0) }.joined(separator: "\t") + "\n"
            }
            try writeAtomically(Array(tsv.utf8), to: URL(fileURLWithPath: predictions))
        }
        print(
            String(
                format: "%@ on %@ %@: loss %.4f accuracy %.2f%% macro-F1 %.4f (%d examples)", path, manifest.dataset,
                split,
                metrics.loss, 100 * metrics.accuracy, metrics.macroF1, metrics.examples))
        print(metrics.table)
    }

    static func evaluate(_ classifier: Classifier, _ data: LabeledSequences, threads: Int) -> (
        metrics: Metrics, probabilities: [Float]
    ) {
        Evaluator(network: classifier.network, labels: classifier.labels)
            .run(classifier.parameters, on: data, workspaces: (0..<threads).map { _ in Network.Workspace() })
    }
}

enum InspectModel {
    static func run(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "not found") }
        let file: ModelFile
        do { file = try Array(data).withUnsafeBytes { try ModelFile(bytes: $0) } } catch {
            throw DataError(file: path, "\(error)")
        }
        print(
            "\(path): rnnkit model format \(file.version.major).\(file.version.minor), \(data.count) bytes, checksum ok"
        )
        print("metadata:")
        for (key, value) in file.metadata {
            let shown: String
            switch value {
            case .int(let v): shown = "\(v)"
            case .double(let v): shown = "\(v)"
            case .bool(let v): shown = "\(v)"
            case .string(let v): shown = v.count > 300 ? String(v.prefix(300)) + "…" : v
            case .strings(let v):
                shown = "[\(v.count)] " + v.prefix(8).joined(separator: " ") + (v.count > 8 ? " …" : "")
            }
            print("  \(key) = \(shown)")
        }
        print("tensors:")
        for tensor in file.tensors { print("  \(tensor.name)  f32 \(tensor.shape)  \(tensor.values.count) values") }
        do { _ = try Classifier(file: file); print("valid: yes") } catch { print("valid: no — \(error)") }
    }
}
