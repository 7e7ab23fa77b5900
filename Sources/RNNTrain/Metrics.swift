import Foundation
import RNNModel

/// Classification figures for one split: loss, accuracy, per-class
/// precision / recall / F1, macro-F1 and the confusion matrix. A multi-label
/// model (`--loss ova`) has no confusion matrix: its accuracy is the share of
/// texts whose predicted label set is exactly the true one, its per-class
/// figures are each class's yes/no decisions, and it adds micro-F1,
/// precision@1 and the threshold its sets were cut at.
public struct Metrics: Codable, Equatable, Sendable {
    public struct ClassFigures: Codable, Equatable, Sendable {
        public var label: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    public var loss: Double
    public var accuracy: Double
    public var macroF1: Double
    public var perClass: [ClassFigures]
    /// confusion[true][predicted]
    public var confusion: [[Int]]
    public var examples: Int
    /// Multi-label only: F1 of all (text, class) decisions pooled.
    public var microF1: Double?
    /// Multi-label only: the share of texts whose most probable class is one of theirs.
    public var precisionAt1: Double?
    /// Multi-label only: a class is predicted when its probability is at least this.
    public var threshold: Float?

    public init(labels: [String], truth: [Int32], predictions: [Int32], lossSum: Double) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for (t, p) in zip(truth, predictions) { confusion[Int(t)][Int(p)] += 1 }
        self.init(labels: labels, confusion: confusion, lossSum: lossSum)
    }

    /// From the counts: confusion[true][predicted], and the summed loss.
    public init(labels: [String], confusion: [[Int]], lossSum: Double) {
        let C = labels.count
        let n = confusion.joined().reduce(0, +)
        let correct = (0..<C).reduce(0) { $0 + confusion[$1][$1] }
        perClass = (0..<C).map { c in
            let truePositive = Double(confusion[c][c])
            let predicted = Double((0..<C).reduce(0) { $0 + confusion[$1][c] })
            let actual = Double(confusion[c].reduce(0, +))
            let precision = predicted > 0 ? truePositive / predicted : 0
            let recall = actual > 0 ? truePositive / actual : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassFigures(label: labels[c], precision: precision, recall: recall, f1: f1, support: Int(actual))
        }
        self.confusion = confusion
        loss = n > 0 ? lossSum / Double(n) : 0
        accuracy = n > 0 ? Double(correct) / Double(n) : 0
        macroF1 = C > 0 ? perClass.reduce(0) { $0 + $1.f1 } / Double(C) : 0
        examples = n
    }

    /// A multi-label model's figures at `counts.thresholds[threshold]`.
    init(labels: [String], counts: MultiLabelCounts, threshold: Int, lossSum: Double) {
        let C = labels.count
        perClass = (0..<C).map { c in
            let (truePositive, falsePositive, falseNegative) = counts.decisions(threshold: threshold, label: c)
            return ClassFigures(
                label: labels[c], precision: ratio(truePositive, truePositive + falsePositive),
                recall: ratio(truePositive, truePositive + falseNegative),
                f1: ratio(2 * truePositive, 2 * truePositive + falsePositive + falseNegative),
                support: truePositive + falseNegative)
        }
        confusion = []
        examples = counts.examples
        loss = examples > 0 ? lossSum / Double(examples) : 0
        accuracy = ratio(counts.exactMatches(threshold: threshold), examples)
        macroF1 = C > 0 ? perClass.reduce(0) { $0 + $1.f1 } / Double(C) : 0
        microF1 = counts.microF1(threshold: threshold)
        precisionAt1 = ratio(counts.topHits, examples)
        self.threshold = MultiLabelCounts.thresholds[threshold]
    }

    /// The per-class table and confusion matrix, as printed after each epoch.
    public var table: String {
        let width = max(9, perClass.map(\.label.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func right(_ s: String, _ n: Int) -> String {
            s.count >= n ? s : String(repeating: " ", count: n - s.count) + s
        }
        var lines = [pad("class", width) + "  precision  recall      F1  support"]
        for c in perClass {
            lines.append(
                pad(c.label, width) + right(String(format: "%.3f", c.precision), 11)
                    + right(String(format: "%.3f", c.recall), 8)
                    + right(String(format: "%.3f", c.f1), 8) + right("\(c.support)", 9))
        }
        lines.append(
            pad("macro", width) + right("", 11) + right("", 8) + right(String(format: "%.3f", macroF1), 8)
                + right("\(examples)", 9))
        if let microF1, let precisionAt1, let threshold {
            lines.append(pad("micro", width) + right("", 11) + right("", 8) + right(String(format: "%.3f", microF1), 8))
            lines.append(
                String(
                    format: "precision@1 %.3f · exact label sets %.3f · threshold %.2f (chosen on validation)",
                    precisionAt1, accuracy, threshold))
            return lines.joined(separator: "\n")
        }
        let cell = max(7, perClass.map(\.label.count).max() ?? 0) + 1
        lines.append("confusion (rows: true, columns: predicted)")
        lines.append(pad("", width) + perClass.map { right($0.label, cell) }.joined())
        for (c, row) in confusion.enumerated() {
            lines.append(pad(perClass[c].label, width) + row.map { right("\($0)", cell) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

private func ratio(_ numerator: Int, _ denominator: Int) -> Double {
    denominator > 0 ? Double(numerator) / Double(denominator) : 0
}

/// What a multi-label model's figures follow from, at each candidate threshold: per class, true
/// positives, false positives and false negatives; exact set matches; top-1 hits. Counts add
/// across batches, threads and processes, so the threshold is chosen once on all of a split.
public struct MultiLabelCounts: Equatable, Sendable {
    /// Candidate thresholds: 0.05, 0.10, …, 0.95.
    public static let thresholds: [Float] = (1...19).map { Float($0) / 20 }
    public let classes: Int
    /// [threshold][class][true positive, false positive, false negative], then exact matches per
    /// threshold, then top-1 hits and examples.
    public private(set) var values: [Int64]

    public init(classes: Int) {
        self.classes = classes
        values = [Int64](repeating: 0, count: Self.thresholds.count * (3 * classes + 1) + 2)
    }

    /// Counts gathered elsewhere (another process's `values`).
    public init(classes: Int, values: [Int64]) {
        self.init(classes: classes)
        precondition(values.count == self.values.count, "counts of another shape")
        self.values = values
    }

    private var exactAt: Int { Self.thresholds.count * 3 * classes }
    public var topHits: Int { Int(values[values.count - 2]) }
    public var examples: Int { Int(values[values.count - 1]) }

    /// One text: its probabilities per class and its true labels.
    public mutating func add(_ probabilities: ArraySlice<Float>, truth: Set<Int>) {
        let base = probabilities.startIndex
        for (t, threshold) in Self.thresholds.enumerated() {
            var exact = true
            for c in 0..<classes {
                let predicted = probabilities[base + c] >= threshold, actual = truth.contains(c)
                let at = (t * classes + c) * 3
                if predicted && actual { values[at] += 1 }
                if predicted && !actual { values[at + 1] += 1 }
                if !predicted && actual { values[at + 2] += 1 }
                if predicted != actual { exact = false }
            }
            if exact { values[exactAt + t] += 1 }
        }
        if truth.contains(argmax(probabilities)) { values[values.count - 2] += 1 }
        values[values.count - 1] += 1
    }

    public mutating func add(_ other: MultiLabelCounts) {
        for i in values.indices { values[i] += other.values[i] }
    }

    func decisions(threshold t: Int, label c: Int) -> (Int, Int, Int) {
        let at = (t * classes + c) * 3
        return (Int(values[at]), Int(values[at + 1]), Int(values[at + 2]))
    }

    func exactMatches(threshold t: Int) -> Int { Int(values[exactAt + t]) }

    func microF1(threshold t: Int) -> Double {
        var truePositive = 0, wrong = 0
        for c in 0..<classes {
            let (tp, fp, fn) = decisions(threshold: t, label: c)
            truePositive += tp
            wrong += fp + fn
        }
        return ratio(2 * truePositive, 2 * truePositive + wrong)
    }

    /// The candidate with the best micro-F1 (the lower one on ties).
    public var bestThreshold: Int {
        Self.thresholds.indices.max {
            microF1(threshold: $0) < microF1(threshold: $1)
                || (microF1(threshold: $0) == microF1(threshold: $1) && $0 > $1)
        }!
    }

    /// The candidate nearest `threshold` (a model's recorded one).
    public static func index(nearest threshold: Float) -> Int {
        thresholds.indices.min { abs(thresholds[$0] - threshold) < abs(thresholds[$1] - threshold) }!
    }
}

/// One epoch's record, as appended to `metrics.jsonl` (`"kind": "epoch"`).
public struct EpochRecord: Codable, Equatable, Sendable {
    public var kind = "epoch"
    public var epoch: Int
    /// The split `evaluation` is on: `validation`, or the test split when there is no validation.
    public var learningRate: Float
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var split: String
    public var evaluation: Metrics
    public var seconds: Double
    public var samplesPerSecond: Double
    /// Token positions the training pass computed: the training sequences' lengths as fed,
    /// padding included (what packing saves). Absent in files of earlier versions.
    public var tokens: Int? = nil
}

/// The test split evaluated once, for the selected epoch: the last line of
/// `metrics.jsonl` (`"kind": "test"`) when there is a validation split.
public struct TestRecord: Codable, Equatable, Sendable {
    public var kind = "test"
    /// The selected epoch, 1-based.
    public var epoch: Int
    public var selectedBy: TrainConfig.Selection
    public var split: String
    public var evaluation: Metrics

    public init(epoch: Int, selectedBy: TrainConfig.Selection, split: String, evaluation: Metrics) {
        self.epoch = epoch
        self.selectedBy = selectedBy
        self.split = split
        self.evaluation = evaluation
    }
}

/// A learning-curve plot: loss and accuracy per epoch, train and evaluation.
public func learningCurveSVG(_ records: [EpochRecord], title: String) -> String {
    let width = 720.0, height = 300.0, margin = 48.0
    let panelWidth = (width - 3 * margin) / 2, panelHeight = height - 2 * margin
    let epochs = Double(max(records.count, 1))
    func panel(_ x0: Double, _ name: String, _ series: [(String, String, [Double])], lower: Double, upper: Double)
        -> String
    {
        var svg =
            "<g><rect x=\"\(x0)\" y=\"\(margin)\" width=\"\(panelWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#999\"/>"
        svg += "<text x=\"\(x0)\" y=\"\(margin - 8)\" font-size=\"13\">\(name)</text>"
        svg +=
            "<text x=\"\(x0 - 4)\" y=\"\(margin + 10)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.2f", upper))</text>"
        svg +=
            "<text x=\"\(x0 - 4)\" y=\"\(margin + panelHeight)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.2f", lower))</text>"
        svg +=
            "<text x=\"\(x0 + panelWidth / 2)\" y=\"\(height - 14)\" font-size=\"11\" text-anchor=\"middle\">epoch (1–\(records.count))</text>"
        for (index, (label, color, values)) in series.enumerated() {
            let points = values.enumerated().map { i, v -> String in
                let x = x0 + (epochs > 1 ? Double(i) / (epochs - 1) : 0.5) * panelWidth
                let y = margin + panelHeight * (1 - (v - lower) / max(upper - lower, 1e-9))
                return String(format: "%.1f,%.1f", x, y)
            }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
            for point in points {
                svg +=
                    "<circle cx=\"\(point.split(separator: ",")[0])\" cy=\"\(point.split(separator: ",")[1])\" r=\"3\" fill=\"\(color)\"/>"
            }
            svg +=
                "<text x=\"\(x0 + panelWidth - 4)\" y=\"\(margin + 16 + 14 * Double(index))\" font-size=\"11\" text-anchor=\"end\" fill=\"\(color)\">\(label)</text>"
        }
        return svg + "</g>"
    }
    let split = records.first?.split ?? "evaluation"
    let losses = records.flatMap { [$0.trainLoss, $0.evaluation.loss] }
    let accuracies = records.flatMap { [$0.trainAccuracy, $0.evaluation.accuracy] }
    var svg =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\">"
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    svg += "<text x=\"\(width / 2)\" y=\"18\" font-size=\"14\" text-anchor=\"middle\">\(title)</text>"
    svg += panel(
        margin, "loss",
        [("train", "#1f77b4", records.map(\.trainLoss)), (split, "#d62728", records.map(\.evaluation.loss))],
        lower: 0, upper: (losses.max() ?? 1) * 1.05)
    svg += panel(
        2 * margin + panelWidth, "accuracy",
        [("train", "#1f77b4", records.map(\.trainAccuracy)), (split, "#d62728", records.map(\.evaluation.accuracy))],
        lower: max(0, (accuracies.min() ?? 0) - 0.02), upper: min(1, (accuracies.max() ?? 1) + 0.02))
    return svg + "</svg>\n"
}
