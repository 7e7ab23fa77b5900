import Foundation
import RNNKernels
import XCTest

@testable import RNNModel
@testable import RNNText
@testable import RNNTrain

/// A task that needs memory across the sequence: is token 3 seen more often than token 4?
/// Other tokens (5…11) are noise; lengths vary from 3 to 30.
func syntheticTask(count: Int, seed: UInt64) -> LabeledSequences {
    var rng = SplitMix64(seed: seed)
    var sequences: [[Int32]] = [], labels: [Int32] = []
    while sequences.count < count {
        let length = 3 + Int(rng.next() % 28)
        let sequence = (0..<length).map { _ in Int32(3 + rng.next() % 9) }
        let threes = sequence.filter { $0 == 3 }.count, fours = sequence.filter { $0 == 4 }.count
        if threes == fours { continue }
        sequences.append([1] + sequence)
        labels.append(threes > fours ? 1 : 0)
    }
    return LabeledSequences(sequences: sequences, labels: labels)
}

final class TrainingTests: XCTestCase {
    func config(_ cell: CellKind, epochs: Int = 4, threads: Int = 2) -> TrainConfig {
        var c = TrainConfig()
        c.cell = cell
        c.embedding = 8
        c.hidden = 16
        c.optimizer = .adam
        c.learningRate = 0.01
        c.epochs = epochs
        c.batchSize = 32
        c.clipNorm = 5
        c.threads = threads
        c.seed = 7
        return c
    }

    func architecture(_ c: TrainConfig) -> Architecture {
        Architecture(
            cell: c.cell, vocabularySize: 12, embedding: c.embedding, hidden: c.hidden, layers: c.layers,
            bidirectional: c.bidirectional, classes: 2)
    }

    func train(
        _ c: TrainConfig, _ train: LabeledSequences, _ test: LabeledSequences, epochs: Range<Int>? = nil,
        trainer: Trainer? = nil
    ) throws -> Trainer {
        let trainer = trainer ?? Trainer(config: c, architecture: architecture(c), labels: ["no", "yes"])
        for epoch in epochs ?? 0..<c.epochs {
            trainer.record(
                try trainer.runEpoch(
                    epoch, train: ExampleSet(train), evaluation: ExampleSet(test), split: "test", progress: nil))
        }
        return trainer
    }

    func testEveryCellLearnsTheSyntheticTask() throws {
        let trainSet = syntheticTask(count: 2_000, seed: 1), testSet = syntheticTask(count: 500, seed: 2)
        for cell in CellKind.allCases {
            var c = config(cell, epochs: cell == .rnn ? 8 : 6)
            if cell == .rnn { c.learningRate = 0.005 }
            let trainer = try train(c, trainSet, testSet)
            let accuracy = trainer.history.last!.evaluation.accuracy
            XCTAssertGreaterThanOrEqual(accuracy, cell == .rnn ? 0.80 : 0.90, "\(cell) reached \(accuracy)")
            XCTAssertTrue(trainer.history.allSatisfy { $0.trainLoss.isFinite })
        }
    }

    func testBidirectionalStackedWithDropoutLearnsToo() throws {
        var c = config(.gru, epochs: 6)
        c.layers = 2
        c.bidirectional = true
        c.dropout = 0.1
        let trainer = try train(c, syntheticTask(count: 2_000, seed: 1), syntheticTask(count: 500, seed: 2))
        XCTAssertGreaterThanOrEqual(trainer.history.last!.evaluation.accuracy, 0.90)
    }

    func testSameSeedAndThreadsGiveIdenticalRuns() throws {
        let trainSet = syntheticTask(count: 600, seed: 1), testSet = syntheticTask(count: 200, seed: 2)
        var c = config(.lstm, epochs: 2)
        c.dropout = 0.2
        let a = try train(c, trainSet, testSet), b = try train(c, trainSet, testSet)
        XCTAssertEqual(a.parameters, b.parameters)
        XCTAssertEqual(a.history.map(\.evaluation), b.history.map(\.evaluation))
        c.seed = 8
        XCTAssertNotEqual(try train(c, trainSet, testSet).parameters, a.parameters)
    }

    func testResumeFromACheckpointEndsExactlyAsAnUninterruptedRun() throws {
        let trainSet = syntheticTask(count: 600, seed: 1), testSet = syntheticTask(count: 200, seed: 2)
        var c = config(.gru, epochs: 3)
        c.dropout = 0.2
        c.schedule = .linear
        let uninterrupted = try train(c, trainSet, testSet)
        let first = try train(c, trainSet, testSet, epochs: 0..<1)
        let checkpoint = try first.checkpoint(epochsDone: 1, dataFingerprint: "data")
        let resumed = Trainer(config: c, architecture: architecture(c), labels: ["no", "yes"])
        XCTAssertEqual(try resumed.restore(checkpoint, file: "ckpt", dataFingerprint: "data"), 1)
        _ = try train(c, trainSet, testSet, epochs: 1..<3, trainer: resumed)
        XCTAssertEqual(resumed.parameters, uninterrupted.parameters)
        XCTAssertEqual(resumed.history.map(\.evaluation), uninterrupted.history.map(\.evaluation))
        XCTAssertEqual(resumed.history.map(\.trainLoss), uninterrupted.history.map(\.trainLoss))

        var other = c
        other.hidden = 17
        XCTAssertThrowsError(
            try Trainer(config: other, architecture: architecture(other), labels: ["no", "yes"])
                .restore(checkpoint, file: "ckpt", dataFingerprint: "data"))
        XCTAssertThrowsError(
            try Trainer(config: c, architecture: architecture(c), labels: ["no", "yes"])
                .restore(checkpoint, file: "ckpt", dataFingerprint: "other data"))
    }

    func testOptimizerStepsMatchTheirFormulas() {
        var c = TrainConfig()
        c.weightDecay = 0.1
        c.momentum = 0.9
        let g: [Float] = [0.5, -1.0]
        // SGD with momentum and L2: v = μv + g + λθ; θ -= lr v.
        c.optimizer = .sgd
        var sgd = Optimizer(config: c, count: 2)
        var p: [Float] = [1, 2]
        sgd.step(&p, gradient: g, learningRate: 0.1)
        sgd.step(&p, gradient: g, learningRate: 0.1)
        let v1: [Float] = [0.5 + 0.1, -1 + 0.2], p1 = [1 - 0.1 * v1[0], 2 - 0.1 * v1[1]]
        let v2 = [0.9 * v1[0] + 0.5 + 0.1 * p1[0], 0.9 * v1[1] - 1 + 0.1 * p1[1]]
        XCTAssertEqual(p[0], p1[0] - 0.1 * v2[0], accuracy: 1e-6)
        XCTAssertEqual(p[1], p1[1] - 0.1 * v2[1], accuracy: 1e-6)
        // Adam's first step moves each weight by lr·sign(g) (plus coupled decay in g).
        c.optimizer = .adam
        c.weightDecay = 0
        var adam = Optimizer(config: c, count: 2)
        p = [1, 2]
        adam.step(&p, gradient: g, learningRate: 0.01)
        XCTAssertEqual(p[0], 0.99, accuracy: 1e-5)
        XCTAssertEqual(p[1], 2.01, accuracy: 1e-5)
        // AdamW shrinks the weights by lr·λ first.
        c.optimizer = .adamw
        c.weightDecay = 0.5
        var adamw = Optimizer(config: c, count: 2)
        p = [1, 2]
        adamw.step(&p, gradient: g, learningRate: 0.01)
        XCTAssertEqual(p[0], 1 * (1 - 0.005) - 0.01, accuracy: 1e-5)
        XCTAssertEqual(p[1], 2 * (1 - 0.005) + 0.01, accuracy: 1e-5)
        // Clipping scales the gradient down to the limit, never up.
        XCTAssertEqual(Optimizer.clipFactor(norm: 5, limit: 1), 0.2, accuracy: 1e-7)
        XCTAssertEqual(Optimizer.clipFactor(norm: 0.5, limit: 1), 1)
        XCTAssertEqual(Optimizer.clipFactor(norm: 5, limit: nil), 1)
        // The step applies that factor to the gradient: AdamW's decay stays unscaled.
        var scaled = Optimizer(config: c, count: 2), halved = Optimizer(config: c, count: 2),
            unscaled = Optimizer(config: c, count: 2)
        var scaledParameters: [Float] = [1, 2], halvedParameters: [Float] = [1, 2],
            unscaledParameters: [Float] = [1, 2]
        for _ in 0..<3 {
            scaled.step(&scaledParameters, gradient: g, gradientScale: 0.5, learningRate: 0.01)
            halved.step(&halvedParameters, gradient: g.map { $0 * 0.5 }, learningRate: 0.01)
            unscaled.step(&unscaledParameters, gradient: g, learningRate: 0.01)
        }
        XCTAssertEqual(scaledParameters, halvedParameters)
        XCTAssertEqual(scaled.second, halved.second)
        XCTAssertNotEqual(scaled.second, unscaled.second)
    }

    /// The slices' gradients are summed where they can be nonzero, and left zero there for the next step;
    /// the norm's pieces and the threads' groups of pieces cover the regions in order.
    func testGradientSumCoversItsRegionsAndResetsTheParts() {
        let regions = [3..<10, 12..<13, 20..<40_000, 40_002..<40_003]
        let pieces = GradientSum.pieces(of: regions)
        XCTAssertEqual(pieces.flatMap { Array($0) }, regions.flatMap { Array($0) }, "pieces cover the regions in order")
        XCTAssertTrue(pieces.allSatisfy { $0.count <= GradientSum.pieceSize })
        for parts in 1...5 {
            let groups = GradientSum.groups(of: pieces, parts: parts)
            XCTAssertEqual(groups.flatMap { Array($0) }, Array(pieces.indices), "\(parts) groups cover the pieces")
            XCTAssertLessThanOrEqual(groups.count, parts)
        }
        var rng = SplitMix64(seed: 5)
        let count = 70_000
        let wide = [0..<5, 100..<40_100, 50_000..<70_000]
        let inside = (0..<count).map { i in wide.contains { $0.contains(i) } }
        let parts = (0..<3).map { _ in AlignedFloats(count: count) }
        for part in parts { for i in 0..<count { part.baseAddress[i] = Float(rng.nextUnit()) - 0.5 } }
        let before = parts.map { Array($0.buffer) }
        let squares = GradientSum.run(parts.map(\.baseAddress), regions: wide, threads: 2)
        var expectedSquares = 0.0
        for i in 0..<count where inside[i] {
            let sum = before[0][i] + before[1][i] + before[2][i]
            expectedSquares += Double(sum) * Double(sum)
        }
        let after = parts.map { Array($0.buffer) }
        XCTAssertEqual(
            (0..<count).filter { inside[$0] && after[0][$0] != before[0][$0] + before[1][$0] + before[2][$0] }, [],
            "sums")
        XCTAssertEqual(
            (0..<count).filter { inside[$0] && (after[1][$0] != 0 || after[2][$0] != 0) }, [], "parts left zero")
        XCTAssertEqual(
            (0..<count).filter { i in !inside[i] && (0..<3).contains { after[$0][i] != before[$0][i] } }, [],
            "untouched outside")
        XCTAssertEqual(squares, expectedSquares, accuracy: expectedSquares * 1e-5)
    }

    /// The embedding rows are updated lazily (replayed when next read); the
    /// result must be the dense update's, bit for bit — for every rule, with
    /// and without decay, across a save and restore.
    func testLazyRowsEndExactlyAsTheDenseUpdate() {
        let rows = 9, width = 20, count = rows * width + 37
        for (rule, decay) in [
            (TrainConfig.OptimizerKind.sgd, Float(0)), (.sgd, 0.01), (.adam, 0), (.adam, 0.01), (.adamw, 0),
            (.adamw, 0.1),
        ] {
            var c = TrainConfig()
            c.optimizer = rule
            c.weightDecay = decay
            c.momentum = 0.9
            c.threads = 2
            var rng = SplitMix64(seed: 11)
            let initial = (0..<count).map { _ in Float(rng.nextUnit()) - 0.5 }
            var dense = Optimizer(config: c, count: count),
                lazy = Optimizer(config: c, count: count, lazyRows: rows, rowWidth: width)
            var denseParameters = initial, lazyParameters = initial
            for step in 0..<40 {
                // Rows 7 and 8 are never read; the others now and then.
                let touched = (0..<7).filter { _ in rng.next() % 3 == 0 }
                var gradient = [Float](repeating: 0, count: count)
                for row in touched {
                    for i in row * width..<(row + 1) * width { gradient[i] = Float(rng.nextUnit()) - 0.5 }
                }
                for i in rows * width..<count { gradient[i] = Float(rng.nextUnit()) - 0.5 }
                let lr = 0.01 * Float(40 - step) / 40
                lazy.catchUp(&lazyParameters, rows: touched)
                for row in touched {
                    XCTAssertEqual(
                        lazyParameters[row * width..<(row + 1) * width],
                        denseParameters[row * width..<(row + 1) * width],
                        "\(rule) decay \(decay): row \(row) caught up before step \(step + 1)")
                }
                dense.step(&denseParameters, gradient: gradient, learningRate: lr)
                // The trainer's form: the step clears what it read, ready for the next sum.
                var consumed = gradient
                lazy.step(&lazyParameters, consuming: &consumed, learningRate: lr, rows: touched)
                XCTAssertEqual(
                    consumed, [Float](repeating: 0, count: count), "\(rule) decay \(decay): gradient left zero")
                if step == 25 {
                    lazy.settle(&lazyParameters)
                    var restored = Optimizer(config: c, count: count, lazyRows: rows, rowWidth: width)
                    restored.restore(first: lazy.first, second: lazy.second, steps: lazy.steps)
                    lazy = restored
                }
            }
            lazy.settle(&lazyParameters)
            XCTAssertEqual(lazyParameters, denseParameters, "\(rule) decay \(decay): parameters")
            XCTAssertEqual(lazy.first, dense.first, "\(rule) decay \(decay): first moments")
            XCTAssertEqual(lazy.second, dense.second, "\(rule) decay \(decay): second moments")
            XCTAssertNotEqual(lazyParameters, initial)
        }
    }

    func testLearningRateSchedules() {
        var c = TrainConfig()
        c.learningRate = 1
        c.warmupSteps = 10
        c.schedule = .linear
        XCTAssertEqual(c.learningRate(step: 0, total: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(step: 9, total: 110), 1, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(step: 60, total: 110), 0.5, accuracy: 1e-6)
        c.schedule = .cosine
        XCTAssertEqual(c.learningRate(step: 60, total: 110), 0.5, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(step: 35, total: 110), 0.5 * (1 + cos(Float.pi / 4)), accuracy: 1e-6)
        c.schedule = .constant
        XCTAssertEqual(c.learningRate(step: 100, total: 110), 1)
    }
}

final class DataOrderTests: XCTestCase {
    /// Every example once per epoch, each stream reading only its own blocks, a window at a time,
    /// and the batch sizes every process computes from counts equal to the slices the streams cut.
    func testStreamsCoverTheDataOnceAndAgreeOnBatchSizes() throws {
        let data = syntheticTask(count: 1_900, seed: 3)
        for (streams, window) in [(1, 100_000), (3, 300), (4, 1)] {
            let order = DataOrder(count: data.count, streams: streams, batchSize: 40, window: window, seed: 9)
            var seen: [Int] = []
            for s in 0..<streams {
                let owned = Set(order.blocks(of: s).flatMap { Array($0) })
                let (windows, _) = order.windows(stream: s, epoch: 2)
                for positions in windows {
                    XCTAssertTrue(positions.count <= max(window, DataOrder.blockSize))
                    XCTAssertTrue(positions.allSatisfy(owned.contains), "stream \(s) reads only its blocks")
                    seen += positions
                }
                // What the stream cuts from the real lengths has the sizes computed without them.
                let cursor = StreamCursor(order, stream: s, epoch: 2, set: ExampleSet(data))
                var sizes: [Int] = []
                while let slice = try cursor.next() { sizes.append(slice.count) }
                XCTAssertEqual(sizes, order.sliceSizes(stream: s, epoch: 2))
                XCTAssertTrue(sizes.allSatisfy { $0 <= order.sliceSize(s) })
            }
            XCTAssertEqual(seen.sorted(), Array(0..<data.count), "\(streams) streams")
            XCTAssertEqual(order.batchSizes(epoch: 2).reduce(0, +), data.count)
        }
    }
}
