import Foundation

/// The figures a data scientist checks first after prep.
public struct DatasetSummary {
    public struct Lengths {
        public var mean = 0.0, median = 0, p95 = 0
        /// Share of examples longer than 50, 128, 256 and 512.
        public var longerThan: [(limit: Int, share: Double)] = []

        /// From how many examples have each length: exact, in memory bounded by the longest example.
        init(histogram: [Int: Int]) {
            let lengths = histogram.sorted { $0.key < $1.key }
            let count = lengths.reduce(0) { $0 + $1.value }
            guard count > 0 else { return }
            mean = Double(lengths.reduce(0) { $0 + $1.key * $1.value }) / Double(count)
            /// The length at 0-based rank `rank` in sorted order.
            func length(atRank rank: Int) -> Int {
                var seen = 0
                for (length, examples) in lengths {
                    seen += examples
                    if seen > rank { return length }
                }
                return lengths.last!.key
            }
            median = length(atRank: (count - 1) / 2)
            p95 = length(atRank: min(count - 1, Int((Double(count) * 0.95).rounded(.up)) - 1))
            longerThan = [50, 128, 256, 512].map { limit in
                (limit, Double(lengths.lazy.filter { $0.key > limit }.reduce(0) { $0 + $1.value }) / Double(count))
            }
        }
    }

    public struct Split {
        public var name: String
        public var examples: Int
        public var labelCounts: [Int]
        public var words: Lengths
        public var tokens: Lengths
        public var unknownRate: Double
    }

    public var dataset: String
    public var output: String = ""
    public var labels: [String]
    public var splits: [Split]
    public var vocabularySize: Int
    public var tokenizer: String
    public var seconds: Double
    /// Rows readers left out (null texts), per input.
    public var skipped: [(input: String, rows: Int)]
    /// Splits whose examples carry a teacher's probabilities.
    public var softLabeledSplits: [String]
    public var multiLabel: Bool

    init(
        manifest: Manifest, splits: [Split], distinctTrainWords: Int, skipped: [(input: String, rows: Int)],
        seconds: Double, model: String? = nil
    ) {
        self.skipped = skipped
        softLabeledSplits = manifest.splits.filter { $0.softLabels == true }.map(\.name)
        multiLabel = manifest.multiLabel == true
        dataset = manifest.dataset
        labels = manifest.labels
        vocabularySize = manifest.tokenizer.vocabularySize
        switch manifest.tokenizer.spec.kind {
        case .word where model != nil: tokenizer = "word-level, the model's: \(model!)"
        case .word:
            tokenizer =
                "word-level: the \(grouped(vocabularySize - 3)) most frequent of \(grouped(distinctTrainWords)) distinct training words + 3 specials"
        case .wordpiece:
            tokenizer =
                "WordPiece (\(manifest.tokenizer.spec.wordPiece?.lowercase == false ? "cased" : "uncased"))"
                + (model.map { ", the model's: \($0)" } ?? "")
        }
        self.seconds = seconds
        self.splits = splits
    }

    public var text: String {
        var lines: [String] = []
        let header = [
            "split", "examples", "words mean/median/p95", "tokens mean/median/p95", ">50", ">128", ">256", ">512",
            "<unk>",
        ]
        var rows = [header]
        for split in splits {
            func triple(_ l: Lengths) -> String { String(format: "%.1f / %d / %d", l.mean, l.median, l.p95) }
            rows.append(
                [split.name, grouped(split.examples), triple(split.words), triple(split.tokens)]
                    + split.tokens.longerThan.map { String(format: "%.1f%%", $0.share * 100) }
                    + [String(format: "%.2f%%", split.unknownRate * 100)])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            lines.append(
                row.enumerated().map { column, cell in
                    column == 0
                        ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[column] - cell.count) + cell
                }.joined(separator: "  "))
        }
        lines.append("")
        for split in splits where !split.labelCounts.isEmpty {
            let counts = zip(labels, split.labelCounts).map { "\($0) \(grouped($1))" }.joined(separator: " · ")
            lines.append("labels \(split.name): \(counts)")
        }
        if multiLabel {
            lines.append("multi-label: each example has a set of labels, counted above per label (train --loss ova)")
        }
        for split in softLabeledSplits {
            lines.append("soft labels \(split): a teacher's probability for each class (train learns from them)")
        }
        for (input, rows) in skipped {
            lines.append("skipped: \(grouped(rows)) rows of \(input) whose text is null (--strict makes this an error)")
        }
        lines.append("vocabulary: \(grouped(vocabularySize)) tokens (\(tokenizer))")
        lines.append("tokens are content tokens, without <start>/[CLS]/[SEP]")
        lines.append(String(format: "time: %.2f s", seconds) + (output.isEmpty ? "" : " → \(output)"))
        return lines.joined(separator: "\n")
    }
}

func grouped(_ value: Int) -> String {
    let digits = String(value)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return out
}
