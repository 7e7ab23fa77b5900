import RNNModel
import XCTest

@testable import RNNTrain

final class ModelSelectionTests: XCTestCase {
    func testValidationIsAStratifiedSeededShareDisjointFromTraining() {
        // Three classes of 100, 50 and 7 examples, interleaved.
        var labels: [Int32] = []
        for i in 0..<157 { labels.append(i < 100 ? 0 : i < 150 ? 1 : 2) }
        var rng = SplitMix64(seed: 42)
        labels.shuffle(using: &rng)
        let held = ModelSelection.validationIndices(labels: labels, fraction: 0.1, seed: 7)
        XCTAssertEqual(held, held.sorted())
        XCTAssertEqual(Set(held).count, held.count, "no example twice")
        XCTAssertEqual(
            [0, 1, 2].map { c in held.filter { labels[$0] == c }.count }, [10, 5, 1], "each class keeps its share")
        XCTAssertEqual(
            ModelSelection.validationIndices(labels: labels, fraction: 0.1, seed: 7), held, "same seed, same split")
        XCTAssertNotEqual(ModelSelection.validationIndices(labels: labels, fraction: 0.1, seed: 8), held)
        XCTAssertEqual(ModelSelection.validationIndices(labels: labels, fraction: 0, seed: 7), [])
    }

    func record(_ epoch: Int, accuracy: Double, loss: Double) -> EpochRecord {
        var metrics = Metrics(labels: ["a", "b"], truth: [0, 1], predictions: [0, 1], lossSum: 0)
        metrics.accuracy = accuracy
        metrics.macroF1 = accuracy
        metrics.loss = loss
        return EpochRecord(
            epoch: epoch, learningRate: 0.001, trainLoss: 0, trainAccuracy: 0, split: "validation", evaluation: metrics,
            seconds: 0, samplesPerSecond: 0)
    }

    func testTheBestEpochIsTheEarliestBestAndPatienceCountsFromIt() {
        let records = [
            record(1, accuracy: 0.5, loss: 0.9), record(2, accuracy: 0.7, loss: 0.6),
            record(3, accuracy: 0.7, loss: 0.5),
            record(4, accuracy: 0.6, loss: 0.7),
        ]
        XCTAssertEqual(ModelSelection.bestEpoch(records, by: .accuracy), 1, "a tie does not move the choice")
        XCTAssertEqual(ModelSelection.bestEpoch(records, by: .macroF1), 1)
        XCTAssertEqual(ModelSelection.bestEpoch(records, by: .loss), 2, "the lowest loss")
        XCTAssertTrue(ModelSelection.shouldStop(records, by: .accuracy, patience: 2))
        XCTAssertFalse(ModelSelection.shouldStop(records, by: .accuracy, patience: 3))
        XCTAssertFalse(ModelSelection.shouldStop(records, by: .loss, patience: 2))
        XCTAssertFalse(ModelSelection.shouldStop(records, by: .accuracy, patience: nil))
    }
}
