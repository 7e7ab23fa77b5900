import RNNData
import RNNKernels
import RNNText
import TestSupport
import XCTest

@testable import RNNModel
@testable import RNNTrain

/// Every mode of the forward pass and every gradient against `ReferenceNetwork`
/// (Double, one sequence at a time), on random small models: every cell, one
/// and two layers, one and two directions, packed and padded batches.
final class ReferenceNetworkTests: XCTestCase {
    /// Packed: ragged lengths, one empty sequence. Padded: equal lengths with pad (id 0) tokens.
    let packed: [[Int32]] = [[3, 1, 4, 1, 5], [2, 6], [], [5, 3, 5], [6]]
    let padded: [[Int32]] = [[0, 0, 3, 1, 4], [0, 0, 0, 2, 6], [5, 3, 5, 6, 1]]

    struct Case: CustomStringConvertible {
        var cell: CellKind, layers: Int, bidirectional: Bool, sequences: [[Int32]], pooling = Pooling.last
        var output = Output.softmax
        var description: String {
            "\(cell) layers \(layers)\(bidirectional ? " bidirectional" : "") \(sequences.count == 5 ? "packed" : "padded")"
                + (pooling == .last ? "" : " \(pooling) pooling") + (output == .softmax ? "" : " sigmoid")
        }
        var architecture: Architecture {
            Architecture(
                cell: cell, vocabularySize: 7, embedding: 3, hidden: 5, layers: layers, bidirectional: bidirectional,
                classes: 3, pooling: pooling, output: output)
        }
        var labels: [Int32] { sequences.indices.map { Int32($0 % 3) } }
        /// Larger than the initialization's weights, so the gates reach their nonlinear range; an attention
        /// query that is not zero (its initial value), so the weights differ from the mean's.
        var parameters: [Float] { ParameterLayout(architecture).testValues(seed: 11, scale: 1.5) }
    }

    /// Every cell, depth, direction and batch form read at its last state; each pooling with every
    /// cell, one bidirectional layer of packed sequences and two layers of padded ones.
    var cases: [Case] {
        CellKind.allCases.flatMap { cell in
            [1, 2].flatMap { layers in
                [false, true].flatMap { bidirectional in
                    [packed, padded].map {
                        Case(cell: cell, layers: layers, bidirectional: bidirectional, sequences: $0)
                    }
                }
            }
                + [Pooling.max, .mean, .attention].flatMap { pooling in
                    [
                        Case(cell: cell, layers: 1, bidirectional: true, sequences: packed, pooling: pooling),
                        Case(cell: cell, layers: 2, bidirectional: false, sequences: padded, pooling: pooling),
                    ]
                }
        }
    }

    func assertClose(
        _ actual: [Float], _ expected: [Double], tolerance: Double, _ what: String, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssert(worst <= tolerance, "\(what): off by \(worst)", file: file, line: line)
    }

    /// The large products by either provider: our kernels (inference's), OpenBLAS (the trainer's).
    let providers: [(name: String, products: MatrixProducts?)] = [("ours", nil), ("OpenBLAS", .openBLAS)]

    func testEveryForwardModeMatchesTheReferenceNetwork() throws {
        for c in cases {
            try forwardModes(c)
        }
    }

    func forwardModes(_ c: Case) throws {
        for (name, products) in providers {
            let parameters = c.parameters
            let reference = ReferenceNetwork(c.architecture, parameters: parameters)
            let expected = c.sequences.flatMap { reference.probabilities($0) }
            let network = Network(c.architecture, products: products)
            let data = LabeledSequences(sequences: c.sequences, labels: c.labels)

            // Training mode (one input row per distinct token).
            let training = parameters.withUnsafeBufferPointer {
                Objective(network: network).evaluate(
                    $0.baseAddress!, sequences: c.sequences.map { $0[...] }, labels: c.labels, gradient: nil,
                    keepProbabilities: true, workspace: Objective.Workspace())
            }
            assertClose(training.probabilities, expected, tolerance: 1e-6, "\(c), \(name): training mode")
            XCTAssertEqual(training.loss, reference.loss(c.sequences, labels: c.labels), accuracy: 1e-5, "\(c): loss")

            // Inference mode without token tables, as the trainer evaluates.
            let evaluated = Evaluator(network: network, labels: ["a", "b", "c"]).run(
                parameters, on: data, workspaces: [Network.Workspace()])
            assertClose(evaluated.probabilities, expected, tolerance: 1e-6, "\(c): inference mode")

            // Inference mode with token tables, as the runtime classifies.
            let vocabulary = try Vocabulary(tokens: WordLevelTokenizer.specialTokens + ["d", "e", "f", "g"])
            let classifier = try Classifier(
                architecture: c.architecture, tokenizerSpec: TokenizerSpec(kind: .word), vocabulary: vocabulary,
                policy: SequencePolicy(), labels: ["a", "b", "c"], parameters: parameters)
            XCTAssertNotNil(classifier.weights.tokenProjections)
            let runtime = classifier.probabilities(c.sequences.map { $0[...] }, workspace: Network.Workspace())
            assertClose(runtime, expected, tolerance: 1e-6, "\(c): inference mode with token tables")
            // The runtime classifies as the trainer does, to rounding.
            assertClose(
                runtime, training.probabilities.map(Double.init), tolerance: 1e-6, "\(c): runtime against trainer")
        }
    }

    func testEveryGradientMatchesTheReferenceNetwork() {
        for c in cases {
            let parameters = c.parameters
            let reference = ReferenceNetwork(c.architecture, parameters: parameters).gradient(
                c.sequences, labels: c.labels)
            for (name, products) in providers {
                let gradient = analyticGradient(c, parameters: parameters, dropout: nil, products: products)
                compareGradients(gradient, reference, c.architecture, "\(c), \(name)")
            }
        }
    }

    /// `--class-weights`: each example's loss and gradient times its label's weight, as the reference computes.
    func testClassWeightedLossAndGradientMatchTheWeightedReference() {
        let weights: [Float] = [0.25, 3, 1.5]
        for c in cases where c.layers == 1 && c.pooling != .max {
            let parameters = c.parameters
            let reference = ReferenceNetwork(c.architecture, parameters: parameters)
            let objective = Objective(network: Network(c.architecture), classWeights: weights)
            var gradient = [Float](repeating: 0, count: parameters.count)
            let result = parameters.withUnsafeBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { g in
                    objective.evaluate(
                        p.baseAddress!, sequences: c.sequences.map { $0[...] }, labels: c.labels,
                        gradient: g.baseAddress!, workspace: Objective.Workspace())
                }
            }
            let doubles = weights.map(Double.init)
            let expected = reference.loss(c.sequences, labels: c.labels, classWeights: doubles)
            XCTAssertEqual(result.loss, expected, accuracy: 1e-5, "\(c): weighted loss")
            XCTAssertNotEqual(
                result.loss, reference.loss(c.sequences, labels: c.labels), accuracy: 1e-3, "\(c): weights matter")
            compareGradients(
                gradient, reference.gradient(c.sequences, labels: c.labels, classWeights: doubles), c.architecture,
                "\(c) with class weights")
        }
    }

    /// Soft labels at several temperatures, with and without the hard label's term and class
    /// weights: the loss and its gradient equal the reference's, computed from the definition.
    func testSoftLabelLossAndGradientMatchTheReference() {
        let settings: [(temperature: Float, hardLabelWeight: Float, classWeights: [Float]?)] = [
            (1, 0, nil), (2, 0.5, nil), (4, 0, [0.5, 2, 1]),
        ]
        for c in cases where c.layers == 1 && c.pooling == .last && c.sequences == packed {
            let parameters = c.parameters
            let reference = ReferenceNetwork(c.architecture, parameters: parameters)
            // A teacher's probabilities, one class at 0 for the first example (a zero weight is no term).
            let softLabels: [[Double]] = c.sequences.indices.map { i in
                i == 0 ? [0.7, 0, 0.3] : [0.2 + 0.1 * Double(i % 3), 0.5, 0.3 - 0.1 * Double(i % 3)]
            }
            let targets = softLabels.map { row in
                row.enumerated().map { Target(label: Int32($0.offset), weight: Float($0.element)) }
            }
            for setting in settings {
                let objective = Objective(
                    network: Network(c.architecture), classWeights: setting.classWeights,
                    distillation: Distillation(
                        temperature: setting.temperature, hardLabelWeight: setting.hardLabelWeight))
                var gradient = [Float](repeating: 0, count: parameters.count)
                let result = parameters.withUnsafeBufferPointer { p in
                    gradient.withUnsafeMutableBufferPointer { g in
                        objective.evaluate(
                            p.baseAddress!, sequences: c.sequences.map { $0[...] }, labels: c.labels,
                            targets: targets, gradient: g.baseAddress!, workspace: Objective.Workspace())
                    }
                }
                let distillation = ReferenceNetwork.Distillation(
                    softLabels: softLabels, temperature: Double(setting.temperature),
                    hardLabelWeight: Double(setting.hardLabelWeight))
                let weights = setting.classWeights?.map(Double.init)
                let what = "\(c), T \(setting.temperature), hard \(setting.hardLabelWeight)"
                XCTAssertEqual(
                    result.loss,
                    reference.loss(c.sequences, labels: c.labels, classWeights: weights, distillation: distillation),
                    accuracy: 1e-5, "\(what): loss")
                XCTAssertNotEqual(
                    result.loss, reference.loss(c.sequences, labels: c.labels), accuracy: 1e-3,
                    "\(what): soft labels matter")
                compareGradients(
                    gradient,
                    reference.gradient(
                        c.sequences, labels: c.labels, classWeights: weights, distillation: distillation),
                    c.architecture, what)
            }
        }
    }

    /// `--loss ova`: each class's binary cross-entropy against label sets (none, one, several), and
    /// against the label alone for data without sets; probabilities in every forward mode.
    func testOneVsAllLossGradientAndProbabilitiesMatchTheReference() throws {
        for base in cases where base.layers == 1 && base.sequences == packed && base.pooling != .max {
            var c = base
            c.output = .sigmoid
            let parameters = c.parameters
            let reference = ReferenceNetwork(c.architecture, parameters: parameters)
            let labelSets: [[Int]] = [[0, 2], [1], [], [0, 1, 2], [2]]
            let targets = labelSets.map { $0.map { Target(label: Int32($0), weight: 1) } }
            let objective = Objective(network: Network(c.architecture))
            for (sets, given) in [(labelSets, targets), (nil, [])] as [([[Int]]?, [[Target]])] {
                var gradient = [Float](repeating: 0, count: parameters.count)
                let result = parameters.withUnsafeBufferPointer { p in
                    gradient.withUnsafeMutableBufferPointer { g in
                        objective.evaluate(
                            p.baseAddress!, sequences: c.sequences.map { $0[...] }, labels: c.labels,
                            targets: given, gradient: g.baseAddress!, keepProbabilities: true,
                            workspace: Objective.Workspace())
                    }
                }
                let what = "\(c) one-vs-all\(sets == nil ? " without label sets" : "")"
                XCTAssertEqual(
                    result.loss, reference.loss(c.sequences, labels: c.labels, labelSets: sets), accuracy: 1e-5,
                    "\(what): loss")
                compareGradients(
                    gradient, reference.gradient(c.sequences, labels: c.labels, labelSets: sets), c.architecture,
                    what)
                assertClose(
                    result.probabilities, c.sequences.flatMap { reference.probabilities($0) }, tolerance: 1e-6,
                    "\(what): probabilities")
            }
            try forwardModes(c)
        }
    }

    func testBalancedWeightsGiveEachClassAnEvenShare() throws {
        let weights = try ClassWeights.resolve(
            "balanced", labels: ["a", "b", "c", "d"], trainLabels: [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
        XCTAssertEqual(weights, [0.5, 1.5, 0.75, 1])  // 12 / (4 × 6), 12 / (4 × 2), 12 / (4 × 4); d never seen
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func refusal(_ json: String) -> String {
            try? Data(json.utf8).write(to: scratch)
            do {
                _ = try ClassWeights.resolve(scratch.path, labels: ["neg", "pos"], trainLabels: [0, 1])
                return "accepted"
            } catch { return "\(error)" }
        }
        try Data(#"{"neg": 1, "pos": 4.5}"#.utf8).write(to: scratch)
        XCTAssertEqual(try ClassWeights.resolve(scratch.path, labels: ["neg", "pos"], trainLabels: [0, 1]), [1, 4.5])
        XCTAssertTrue(refusal(#"{"neg": 1}"#).contains("no weight for the label \"pos\""))
        XCTAssertTrue(refusal(#"{"neg": 1, "pos": 2, "neutral": 1}"#).contains("\"neutral\" is not a label"))
        XCTAssertTrue(refusal(#"{"neg": 1, "pos": -2}"#).contains("must be a positive number"))
        XCTAssertTrue(refusal(#"{"neg": 1, "pos": true}"#).contains("expected a JSON object"))
        XCTAssertTrue(refusal("[1, 2]").contains("expected a JSON object"))
        XCTAssertTrue(
            (try? ClassWeights.resolve("/nonexistent.json", labels: ["a"], trainLabels: []))
                == nil)
    }

    /// Dropout masks drawn by the training mode, given to the reference: the
    /// same logits, and the same gradient with the masks held fixed.
    func testTrainingModeWithDropoutMatchesTheReferenceWithItsMasks() {
        for c in cases {
            let parameters = c.parameters
            let network = Network(c.architecture)
            let dropout = Network.Dropout(rate: 0.3, rng: SplitMix64(seed: 5))
            let (batch, order) = PackedBatch.packing(c.sequences.map { $0[...] })
            let workspace = Network.Workspace()
            parameters.withUnsafeBufferPointer {
                network.forwardTraining($0.baseAddress!, batch, dropout: dropout, workspace: workspace)
            }
            let masks = referenceMasks(batch, order: order, workspace: workspace, c.architecture)
            let reference = ReferenceNetwork(c.architecture, parameters: parameters)
            var expected = [Double](repeating: 0, count: workspace.logits.count)
            for (packedIndex, original) in order.enumerated() {
                let logits = reference.logits(c.sequences[original], masks: masks[original])
                for k in 0..<3 { expected[packedIndex * 3 + k] = logits[k] }
            }
            assertClose(workspace.logits, expected, tolerance: 1e-5, "\(c): logits with dropout")
            let gradient = analyticGradient(c, parameters: parameters, dropout: dropout)
            compareGradients(
                gradient, reference.gradient(c.sequences, labels: c.labels, masks: masks), c.architecture,
                "\(c) with dropout")
        }
    }

    func analyticGradient(
        _ c: Case, parameters: [Float], dropout: Network.Dropout?, products: MatrixProducts? = nil
    ) -> [Float] {
        var gradient = [Float](repeating: 0, count: parameters.count)
        parameters.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                _ = Objective(network: Network(c.architecture, products: products)).evaluate(
                    p.baseAddress!, sequences: c.sequences.map { $0[...] }, labels: c.labels,
                    gradient: g.baseAddress!, dropout: dropout, workspace: Objective.Workspace())
            }
        }
        return gradient
    }

    /// The padding embedding row gets no gradient (it is `padding_idx`); everything else matches the reference.
    func compareGradients(
        _ gradient: [Float], _ reference: [Double], _ architecture: Architecture, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let layout = ParameterLayout(architecture)
        let paddingRow =
            Int(architecture.paddingID) * architecture.embedding..<(Int(architecture.paddingID) + 1)
            * architecture.embedding
        for i in gradient.indices {
            let name = layout.tensors.last { $0.offset <= i }!.name
            if paddingRow.contains(i) {
                XCTAssertEqual(gradient[i], 0, "\(what): padding row", file: file, line: line)
                continue
            }
            let error = abs(Double(gradient[i]) - reference[i]) / max(1, abs(reference[i]))
            if error > 1e-4 {
                XCTFail(
                    "\(what): \(name)[\(i - layout.offset(name))] analytic \(gradient[i]), reference \(reference[i])",
                    file: file, line: line)
                return
            }
        }
        XCTAssertGreaterThan(
            gradient.map { abs($0) }.max()!, 1e-3, "\(what): the gradient should not vanish", file: file, line: line)
    }

    /// The workspace's masks (packed rows) as each sequence's (steps).
    func referenceMasks(_ batch: PackedBatch, order: [Int], workspace w: Network.Workspace, _ a: Architecture)
        -> [ReferenceNetwork.Masks]
    {
        var masks = [ReferenceNetwork.Masks](
            repeating: ReferenceNetwork.Masks(layerInputs: [], features: []), count: order.count)
        for (b, original) in order.enumerated() {
            let layerInputs = (0..<a.layers).map { layer in
                let width = a.inputWidth(layer: layer)
                return (0..<batch.lengths[b]).map { t in
                    let row = batch.row(sequence: b, step: t)
                    return (0..<width).map { Double(w.inputMasks[layer]!.baseAddress[row * width + $0]) }
                }
            }
            let features = (0..<a.featureWidth).map { Double(w.featureMask!.baseAddress[b * a.featureWidth + $0]) }
            masks[original] = ReferenceNetwork.Masks(layerInputs: layerInputs, features: features)
        }
        return masks
    }
}
