import XCTest

@testable import RNNTrain

/// A multi-label model's figures, against the same figures counted directly from their definitions.
final class MultiLabelMetricsTests: XCTestCase {
    let labels = ["a", "b", "c"]
    /// Probabilities per text and each text's true labels: one text with none, one with all.
    let rows: [([Float], Set<Int>)] = [
        ([0.9, 0.2, 0.6], [0, 2]), ([0.3, 0.8, 0.1], [1]), ([0.55, 0.45, 0.05], [0, 1]),
        ([0.1, 0.1, 0.1], []), ([0.7, 0.65, 0.9], [0, 1, 2]), ([0.2, 0.9, 0.4], [2]),
    ]

    func counts() -> MultiLabelCounts {
        var counts = MultiLabelCounts(classes: 3)
        for (p, truth) in rows { counts.add(p[...], truth: truth) }
        return counts
    }

    /// F1 per class and pooled, exact matches and precision@1, written out for one threshold.
    func direct(_ threshold: Float) -> (macro: Double, micro: Double, exact: Double, top: Double) {
        var perClass: [(tp: Int, fp: Int, fn: Int)] = Array(repeating: (0, 0, 0), count: 3)
        var exact = 0, top = 0
        for (p, truth) in rows {
            let predicted = Set((0..<3).filter { p[$0] >= threshold })
            if predicted == truth { exact += 1 }
            if truth.contains(p.indices.max { p[$0] < p[$1] }!) { top += 1 }
            for c in 0..<3 {
                if predicted.contains(c) && truth.contains(c) { perClass[c].tp += 1 }
                if predicted.contains(c) && !truth.contains(c) { perClass[c].fp += 1 }
                if !predicted.contains(c) && truth.contains(c) { perClass[c].fn += 1 }
            }
        }
        func f1(_ tp: Int, _ fp: Int, _ fn: Int) -> Double {
            2 * tp + fp + fn == 0 ? 0 : Double(2 * tp) / Double(2 * tp + fp + fn)
        }
        let macro = perClass.map { f1($0.tp, $0.fp, $0.fn) }.reduce(0, +) / 3
        let pooled = perClass.reduce((0, 0, 0)) { ($0.0 + $1.tp, $0.1 + $1.fp, $0.2 + $1.fn) }
        return (macro, f1(pooled.0, pooled.1, pooled.2), Double(exact) / 6, Double(top) / 6)
    }

    func testFiguresAtEveryThresholdEqualTheirDefinitions() {
        let counts = counts()
        for (t, threshold) in MultiLabelCounts.thresholds.enumerated() {
            let metrics = Metrics(labels: labels, counts: counts, threshold: t, lossSum: 3)
            let expected = direct(threshold)
            XCTAssertEqual(metrics.macroF1, expected.macro, accuracy: 1e-12, "threshold \(threshold)")
            XCTAssertEqual(metrics.microF1!, expected.micro, accuracy: 1e-12, "threshold \(threshold)")
            XCTAssertEqual(metrics.accuracy, expected.exact, accuracy: 1e-12, "threshold \(threshold)")
            XCTAssertEqual(metrics.precisionAt1!, expected.top, accuracy: 1e-12)
            XCTAssertEqual(metrics.threshold, threshold)
            XCTAssertEqual(metrics.loss, 0.5)
            XCTAssertEqual(metrics.perClass.map(\.support), [3, 3, 3])
            XCTAssertEqual(metrics.confusion, [])
        }
    }

    func testTheChosenThresholdHasTheBestMicroF1AndCountsAddUp() {
        let counts = counts()
        let best = counts.bestThreshold
        let micro = MultiLabelCounts.thresholds.map { direct($0).micro }
        XCTAssertEqual(micro[best], micro.max()!)
        XCTAssertEqual(best, micro.firstIndex(of: micro.max()!), "the lowest of equals")
        XCTAssertNotEqual(MultiLabelCounts.thresholds[best], 0.5, "the rows are built so that 0.5 is not the best")
        var halves = MultiLabelCounts(classes: 3)
        for (p, truth) in rows.prefix(2) { halves.add(p[...], truth: truth) }
        var rest = MultiLabelCounts(classes: 3)
        for (p, truth) in rows.dropFirst(2) { rest.add(p[...], truth: truth) }
        halves.add(MultiLabelCounts(classes: 3, values: rest.values))
        XCTAssertEqual(halves, counts)
        XCTAssertEqual(MultiLabelCounts.index(nearest: 0.34), MultiLabelCounts.thresholds.firstIndex(of: 0.35))
        XCTAssertTrue(
            Metrics(labels: labels, counts: counts, threshold: best, lossSum: 0).table.contains("precision@1"))
    }
}
