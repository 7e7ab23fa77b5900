import Foundation
import RNNData
import RNNKernels
import RNNModel

#if canImport(Glibc)
import Glibc
#endif

/// Softmax cross-entropy of a classifier on a set of sequences (against hard labels, or
/// soft ones), and its gradient: the training mode of the forward pass, then backpropagation.
public struct Objective {
    public let network: Network
    let backward: Backward
    /// Each class's weight in the loss (`--class-weights`), in label order; nil: all 1.
    public let classWeights: [Float]?
    /// `--freeze-embedding`: no gradient for the embedding (nor the layer-0 input gradient it needs).
    public let freezesEmbedding: Bool
    public let distillation: Distillation

    public init(
        network: Network, classWeights: [Float]? = nil, freezesEmbedding: Bool = false,
        distillation: Distillation = Distillation()
    ) {
        self.network = network
        backward = Backward(network: network)
        self.classWeights = classWeights
        self.freezesEmbedding = freezesEmbedding
        self.distillation = distillation
    }

    /// One thread's buffers: the forward pass's and backpropagation's.
    public final class Workspace {
        public let forward = Network.Workspace()
        let backward = Backward.Workspace()
        public init() {}
    }

    public struct Result {
        /// Summed (not averaged) cross-entropy.
        public var loss: Double
        /// argmax class of each input, in input order.
        public var predictions: [Int32]
        /// Softmax probabilities, row per input in input order (only when asked for).
        public var probabilities: [Float]
    }

    /// Loss of `sequences` against `labels`, with dropout masks drawn from `dropout`;
    /// when `gradient` is given, adds `gradientScale` × d(summed loss)/d(parameters) to it.
    public func evaluate(
        _ parameters: UnsafePointer<Float>, sequences: [ArraySlice<Int32>], labels: [Int32], targets: [[Target]] = [],
        gradient: UnsafeMutablePointer<Float>?, gradientScale: Float = 1, dropout: Network.Dropout? = nil,
        keepProbabilities: Bool = false, workspace: Workspace
    ) -> Result {
        let (batch, order) = PackedBatch.packing(sequences)
        network.forwardTraining(parameters, batch, dropout: dropout, workspace: workspace.forward)
        let (result, dLogits) = crossEntropy(
            logits: workspace.forward.logits, order: order, labels: labels, targets: targets,
            distillation: distillation, output: network.architecture.output,
            classes: network.architecture.classes, classWeights: classWeights,
            gradientScale: gradientScale, keepProbabilities: keepProbabilities)
        if let gradient {
            backward.run(
                parameters, batch, forward: workspace.forward, dLogits: dLogits, gradient: gradient,
                embeddingGradient: !freezesEmbedding, workspace: workspace.backward)
        }
        return result
    }
}

/// How soft labels are learned (`--distill-temperature`, `--hard-label-weight`).
public struct Distillation: Sendable {
    public var temperature: Float
    public var hardLabelWeight: Float

    public init(temperature: Float = 1, hardLabelWeight: Float = 0) {
        self.temperature = temperature
        self.hardLabelWeight = hardLabelWeight
    }
}

/// Softmax cross-entropy of `logits` ([B, C], packed order; `order[i]` is the
/// input index of packed row i) against `labels` (input order), each example's
/// weighted by its label's class weight: the summed loss, predictions and
/// probabilities in input order, and dL/dlogits × `gradientScale`.
/// With `targets` (soft labels p, input order) the loss is T² · H(p_T, softmax(z/T)) +
/// w · H(label, softmax(z)), p_T ∝ p^(1/T) being p softened as the teacher's logits divided by T:
/// the T² keeps the gradient's scale independent of T (Hinton et al. 2015).
/// A sigmoid output (`--loss ova`) takes each class on its own: binary cross-entropy against
/// 1 for the example's labels (its targets' weights, when it has targets) and 0 for the others.
func crossEntropy(
    logits: [Float], order: [Int], labels: [Int32], targets: [[Target]] = [],
    distillation: Distillation = Distillation(), output: Output = .softmax, classes C: Int,
    classWeights: [Float]? = nil, gradientScale: Float, keepProbabilities: Bool
) -> (Objective.Result, dLogits: [Float]) {
    if output == .sigmoid {
        return binaryCrossEntropy(
            logits: logits, order: order, labels: labels, targets: targets, classes: C, gradientScale: gradientScale,
            keepProbabilities: keepProbabilities)
    }
    var probabilities = logits
    softmaxRows(&probabilities, classes: C)
    var loss = 0.0
    var predictions = [Int32](repeating: 0, count: order.count)
    var dLogits = [Float](repeating: 0, count: logits.count)
    var outputProbabilities = keepProbabilities ? [Float](repeating: 0, count: logits.count) : []
    let T = distillation.temperature
    var softened = [Float](repeating: 0, count: C), teacher = [Float](repeating: 0, count: C)
    for (packed, original) in order.enumerated() {
        let row = packed * C
        let label = Int(labels[original])
        let weight = classWeights?[label] ?? 1
        predictions[original] = Int32(argmax(probabilities[row..<row + C]))
        if keepProbabilities {
            for c in 0..<C { outputProbabilities[original * C + c] = probabilities[row + c] }
        }
        if targets.isEmpty {
            loss += Double(weight) * negativeLogSoftmax(logits[row..<row + C], at: label, temperature: 1)
            for c in 0..<C {
                dLogits[row + c] = (probabilities[row + c] - (c == label ? 1 : 0)) * weight * gradientScale
            }
            continue
        }
        for c in 0..<C { softened[c] = logits[row + c] / T }
        softmaxRows(&softened, classes: C)
        for c in 0..<C { teacher[c] = 0 }
        for target in targets[original] where target.weight > 0 {
            teacher[Int(target.label)] = T == 1 ? target.weight : Float(exp(log(Double(target.weight)) / Double(T)))
        }
        let total = teacher.reduce(0, +)
        var softLoss = 0.0
        for c in 0..<C where teacher[c] > 0 {
            teacher[c] /= total
            softLoss += Double(teacher[c]) * negativeLogSoftmax(logits[row..<row + C], at: c, temperature: T)
        }
        let w = distillation.hardLabelWeight
        loss += Double(weight) * (Double(T * T) * softLoss)
        if w > 0 { loss += Double(weight * w) * negativeLogSoftmax(logits[row..<row + C], at: label, temperature: 1) }
        for c in 0..<C {
            let hard = w > 0 ? w * (probabilities[row + c] - (c == label ? 1 : 0)) : 0
            dLogits[row + c] = (T * (softened[c] - teacher[c]) + hard) * weight * gradientScale
        }
    }
    return (Objective.Result(loss: loss, predictions: predictions, probabilities: outputProbabilities), dLogits)
}

/// One-vs-all: Σ_c softplus(z_c) − y_c z_c per example, the form that stays finite for any logit.
private func binaryCrossEntropy(
    logits: [Float], order: [Int], labels: [Int32], targets: [[Target]], classes C: Int, gradientScale: Float,
    keepProbabilities: Bool
) -> (Objective.Result, dLogits: [Float]) {
    var loss = 0.0
    var predictions = [Int32](repeating: 0, count: order.count)
    var dLogits = [Float](repeating: 0, count: logits.count)
    var outputProbabilities = keepProbabilities ? [Float](repeating: 0, count: logits.count) : []
    var truth = [Float](repeating: 0, count: C)
    for (packed, original) in order.enumerated() {
        let row = packed * C
        for c in 0..<C { truth[c] = 0 }
        if targets.isEmpty {
            truth[Int(labels[original])] = 1
        } else {
            for target in targets[original] { truth[Int(target.label)] = target.weight }
        }
        for c in 0..<C {
            let z = logits[row + c], p = logistic(z)
            loss += Double(max(z, 0)) + log1p(exp(-Double(abs(z)))) - Double(truth[c]) * Double(z)
            dLogits[row + c] = (p - truth[c]) * gradientScale
            if keepProbabilities { outputProbabilities[original * C + c] = p }
        }
        predictions[original] = Int32(argmax(logits[row..<row + C]))
    }
    return (Objective.Result(loss: loss, predictions: predictions, probabilities: outputProbabilities), dLogits)
}

/// −log softmax(z/T)[k], from log-sum-exp so that it stays finite for confident mistakes.
private func negativeLogSoftmax(_ z: ArraySlice<Float>, at k: Int, temperature T: Float) -> Double {
    let largest = z.max()! / T
    var sum = 0.0
    for value in z { sum += Double(Baseline.exp(Baseline.Vector(repeating: value / T - largest))[0]) }
    return Double(largest) + log(sum) - Double(z[z.startIndex + k] / T)
}

/// Metrics and probabilities of fixed weights on labeled sequences, through the
/// inference mode of the forward pass, split across threads. The trainer
/// evaluates each epoch with it, and `train eval` a saved model.
public struct Evaluator {
    public let network: Network
    public let labels: [String]

    public init(network: Network, labels: [String]) {
        self.network = network
        self.labels = labels
    }

    /// One thread per workspace. Batches of similar lengths, in a fixed order,
    /// each at most 256 sequences and 8,192 tokens so memory stays bounded on long texts (larger
    /// batches were no faster on IMDB and held a hundred megabytes more per thread).
    /// `weights`: a loaded model's (token tables, int8 W_hh), to evaluate what the runtime runs;
    /// by default the parameters' own, as training evaluates.
    /// `threshold`: a multi-label model's (its file's); nil: the best on `data`.
    public func run(
        _ parameters: [Float], on data: LabeledSequences, workspaces: [Network.Workspace],
        weights: Network.InferenceWeights? = nil, threshold: Float? = nil
    ) -> (metrics: Metrics, probabilities: [Float]) {
        let result = evaluate(parameters, on: data, workspaces: workspaces, weights: weights)
        guard network.architecture.output == .sigmoid else {
            return (
                Metrics(labels: labels, truth: data.labels, predictions: result.predictions, lossSum: result.lossSum),
                result.probabilities
            )
        }
        let counts = multiLabelCounts(data, probabilities: result.probabilities)
        return (
            Metrics(
                labels: labels, counts: counts,
                threshold: threshold.map(MultiLabelCounts.index(nearest:)) ?? counts.bestThreshold,
                lossSum: result.lossSum),
            result.probabilities
        )
    }

    /// A multi-label model's counts on `data`: each text's labels are its targets of weight ≥ ½ (a
    /// label set's are 1), or its label when it has none.
    func multiLabelCounts(_ data: LabeledSequences, probabilities: [Float]) -> MultiLabelCounts {
        let C = labels.count
        var counts = MultiLabelCounts(classes: C)
        for i in 0..<data.count {
            let truth =
                data.targets.isEmpty
                ? [Int(data.labels[i])] : data.targets[i].filter { $0.weight >= 0.5 }.map { Int($0.label) }
            counts.add(probabilities[i * C..<(i + 1) * C], truth: Set(truth))
        }
        return counts
    }

    /// The summed loss (over the batches in their fixed order, whatever the
    /// thread count), predictions and probabilities, row per example.
    public func evaluate(
        _ parameters: [Float], on data: LabeledSequences, workspaces: [Network.Workspace],
        weights: Network.InferenceWeights? = nil
    ) -> (lossSum: Double, predictions: [Int32], probabilities: [Float]) {
        let C = labels.count, threads = workspaces.count
        let weights =
            weights
            ?? parameters.withUnsafeBufferPointer { network.inferenceWeights($0.baseAddress!, tokenTables: false) }
        let order = data.sequences.indices.sorted { data.sequences[$0].count > data.sequences[$1].count }
        var chunks: [[Int]] = [[]]
        var tokens = 0
        for index in order {
            let length = data.sequences[index].count
            if !chunks[chunks.count - 1].isEmpty && (chunks[chunks.count - 1].count == 256 || tokens + length > 8_192) {
                chunks.append([])
                tokens = 0
            }
            chunks[chunks.count - 1].append(index)
            tokens += length
        }
        var losses = [Double](repeating: 0, count: chunks.count)
        var predictions = [Int32](repeating: 0, count: data.count)
        var probabilities = [Float](repeating: 0, count: data.count * C)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for c in stride(from: t, to: chunks.count, by: threads) {
                let indices = chunks[c]
                let (batch, packedOrder) = PackedBatch.packing(indices.map { data.sequences[$0][...] })
                parameters.withUnsafeBufferPointer {
                    network.forwardInference($0.baseAddress!, batch, weights: weights, workspace: workspaces[t])
                }
                // A sigmoid output is scored against the texts' label sets; soft labels are training targets only.
                let output = network.architecture.output
                let (result, _) = crossEntropy(
                    logits: workspaces[t].logits, order: packedOrder, labels: indices.map { data.labels[$0] },
                    targets: output == .sigmoid && !data.targets.isEmpty ? indices.map { data.targets[$0] } : [],
                    output: output, classes: C, gradientScale: 1, keepProbabilities: true)
                lock.lock()
                losses[c] = result.loss
                for (k, index) in indices.enumerated() {
                    predictions[index] = result.predictions[k]
                    for j in 0..<C { probabilities[index * C + j] = result.probabilities[k * C + j] }
                }
                lock.unlock()
            }
        }
        return (losses.reduce(0, +), predictions, probabilities)
    }
}
