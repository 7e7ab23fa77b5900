import Foundation
import RNNData
import RNNModel
import RNNText

/// What travels beside exported weights: the tokenizer (`tokenizer.json` for
/// WordPiece, which Hugging Face reads; our `vocab.txt` for word-level models,
/// whose splitting rules Hugging Face's pre-tokenizers do not express exactly)
/// and `classifier.json` (labels and sequence settings).
public struct CompanionFiles {
    public var files: [(name: String, bytes: [UInt8])]

    public init(_ classifier: Classifier) throws {
        let settings = ClassifierSettings(
            labels: classifier.labels, policy: classifier.policy, pooling: classifier.architecture.pooling,
            output: classifier.architecture.output, threshold: classifier.threshold)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        files = [("classifier.json", Array(try encoder.encode(settings)) + [0x0A])]
        switch classifier.tokenizer {
        case .wordPiece(let wordPiece):
            files.append(
                (
                    "tokenizer.json",
                    HuggingFaceTokenizer.json(wordPiece)
                ))
        case .word(let word):
            files.append(("vocab.txt", word.vocabulary.fileBytes()))
        }
    }
}

extension PyTorchWeights {
    /// The state dict of the classifier in `Tools/pytorch-reference.py` (the
    /// notebooks' shape): `embedding.weight`, `<cell>.weight_ih_l0`, …, `attention.query` (attention
    /// pooling), `fc.weight`, `fc.bias`.
    public static func stateDict(_ classifier: Classifier) -> [(name: String, shape: [Int], values: [Float])] {
        let module = classifier.architecture.cell.rawValue + "."
        return ParameterLayout(classifier.architecture).tensors.map { tensor in
            let values = Array(classifier.parameters[tensor.offset..<tensor.offset + tensor.count])
            let name: String
            switch tensor.name {
            case "embedding": name = "embedding.weight"
            case "head.weight": name = "fc.weight"
            case "head.bias": name = "fc.bias"
            case "attention.query": name = "attention.query"
            default: name = module + recurrentKey(tensor.name)
            }
            return (name, tensor.shape, values)
        }
    }
}
