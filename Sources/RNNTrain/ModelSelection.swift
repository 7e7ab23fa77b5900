import RNNModel

/// Choosing a model without looking at the test split: a validation slice of
/// the training examples, and the epoch whose validation figure is best.
public enum ModelSelection {
    /// The training examples to hold out: per label, round(fraction × count) of
    /// them drawn by a seeded shuffle, so every class keeps its share and the
    /// same seed holds out the same examples. Sorted positions into `labels`.
    public static func validationIndices(labels: [Int32], fraction: Double, seed: UInt64) -> [Int] {
        guard fraction > 0 else { return [] }
        var byLabel: [Int32: [Int]] = [:]
        for (index, label) in labels.enumerated() { byLabel[label, default: []].append(index) }
        var rng = SplitMix64(seed: seed ^ 0x7661_6C69_6461_7465)  // "validate": apart from the other seeded streams
        var held: [Int] = []
        for label in byLabel.keys.sorted() {
            let members = byLabel[label]!
            let count = Int((fraction * Double(members.count)).rounded())
            held += members.shuffled(using: &rng).prefix(count)
        }
        return held.sorted()
    }

    /// The validation figure of `metrics`, made larger-is-better (loss is negated).
    static func score(_ metrics: Metrics, by selection: TrainConfig.Selection) -> Double {
        switch selection {
        case .accuracy: metrics.accuracy
        case .macroF1: metrics.macroF1
        case .loss: -metrics.loss
        }
    }

    /// The position of the best epoch's record (the earliest on ties): later
    /// epochs must improve to be chosen.
    public static func bestEpoch(_ records: [EpochRecord], by selection: TrainConfig.Selection) -> Int {
        var best = 0
        for index in records.indices.dropFirst()
        where score(records[index].evaluation, by: selection) > score(records[best].evaluation, by: selection) {
            best = index
        }
        return best
    }

    /// Whether `patience` epochs have passed since the best one.
    public static func shouldStop(_ records: [EpochRecord], by selection: TrainConfig.Selection, patience: Int?) -> Bool
    {
        guard let patience, !records.isEmpty else { return false }
        return records.count - 1 - bestEpoch(records, by: selection) >= patience
    }
}
