import Foundation
import RNNSupport

/// The loss weight of each class (`--class-weights`), resolved once the training examples are known.
public enum ClassWeights {
    /// `balanced`: n / (C × n_c) over the examples trained on (scikit-learn's rule: a class's examples
    /// weigh in total what an even share would; the mean weight per example stays 1, so the learning
    /// rate keeps its meaning); a class with no training example weighs 1. Otherwise a JSON file
    /// mapping every label to a positive weight.
    public static func resolve(_ source: String, labels: [String], trainLabels: [Int32]) throws -> [Float] {
        if source == "balanced" {
            var counts = [Int](repeating: 0, count: labels.count)
            for label in trainLabels { counts[Int(label)] += 1 }
            return counts.map { count in
                count == 0 ? 1 : Float(Double(trainLabels.count) / (Double(labels.count) * Double(count)))
            }
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: source)) } catch {
            throw DataError(
                file: source,
                "cannot read the class weights (give balanced, or a JSON file such as {\"neg\": 1, \"pos\": 4})")
        }
        guard let object = try? JSONDecoder().decode([String: Double].self, from: data) else {
            throw DataError(file: source, "expected a JSON object mapping each label to its weight, a number")
        }
        if let unknown = object.keys.sorted().first(where: { !labels.contains($0) }) {
            throw DataError(
                file: source, "\"\(unknown)\" is not a label of the dataset (\(labels.joined(separator: ", ")))")
        }
        return try labels.map { label in
            guard let weight = object[label] else {
                throw DataError(file: source, "no weight for the label \"\(label)\"")
            }
            guard weight.isFinite, weight > 0 else {
                throw DataError(file: source, place: label, "the weight must be a positive number (got \(weight))")
            }
            return Float(weight)
        }
    }
}
