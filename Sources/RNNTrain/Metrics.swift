import Foundation

/// Classification figures for one split: loss, accuracy, per-class
/// precision / recall / F1, macro-F1 and the confusion matrix.
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
        let cell = max(7, perClass.map(\.label.count).max() ?? 0) + 1
        lines.append("confusion (rows: true, columns: predicted)")
        lines.append(pad("", width) + perClass.map { right($0.label, cell) }.joined())
        for (c, row) in confusion.enumerated() {
            lines.append(pad(perClass[c].label, width) + row.map { right("\($0)", cell) }.joined())
        }
        return lines.joined(separator: "\n")
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
