import Foundation
import RNNData
import RNNModel
import RNNSupport

/// A saved model scored on prepared examples: `train eval`, `train quantize` and librnnkit's evaluate.
public enum Scoring {
    /// The split's examples as `classifier` reads them, once its labels and vocabulary are the dataset's.
    public static func examples(for classifier: Classifier, path: String, dataset: PreparedDataset, split: String)
        throws -> (
            shard: Shard, data: LabeledSequences
        )
    {
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
        return (
            shard, LabeledSequences(shard: shard, policy: classifier.policy, special: classifier.tokenizer.specialIDs)
        )
    }

    public static func evaluate(_ classifier: Classifier, _ data: LabeledSequences, threads: Int) -> (
        metrics: Metrics, probabilities: [Float]
    ) {
        Evaluator(network: classifier.network, labels: classifier.labels).run(
            classifier.parameters, on: data, workspaces: (0..<threads).map { _ in Network.Workspace() },
            weights: classifier.weights, threshold: classifier.threshold)
    }
}
