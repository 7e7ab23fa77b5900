#if canImport(Glibc)
import Glibc
#endif
import RNNKernels
import RNNModel

/// Softmax cross-entropy of a classifier on a set of sequences, and its gradient.
public struct Objective {
    public let network: Network
    let backward: Backward

    public init(network: Network) {
        self.network = network
        backward = Backward(network: network)
    }

    /// Per-thread buffers.
    public final class Scratch {
        let workspace = Network.Workspace()
        let buffers = Backward.Buffers()
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

    /// Loss of `sequences` against `labels`; when `gradient` is given, adds
    /// `gradientScale` × d(summed loss)/d(parameters) to it.
    public func evaluate(_ parameters: UnsafePointer<Float>, sequences: [ArraySlice<Int32>], labels: [Int32],
                         gradient: UnsafeMutablePointer<Float>?, gradientScale: Float = 1, dropout: Network.Dropout? = nil,
                         keepProbabilities: Bool = false, scratch: Scratch) -> Result {
        let C = network.architecture.classes
        let (batch, order) = PackedBatch.packing(sequences)
        var dropout = dropout
        network.forward(parameters, batch, workspace: scratch.workspace, dropout: &dropout, recordGates: gradient != nil)
        var probabilities = scratch.workspace.logits
        let logits = scratch.workspace.logits
        softmaxRows(&probabilities, classes: C)
        var loss = 0.0
        var predictions = [Int32](repeating: 0, count: sequences.count)
        var dLogits = [Float](repeating: 0, count: logits.count)
        var outputProbabilities = keepProbabilities ? [Float](repeating: 0, count: logits.count) : []
        for (packed, original) in order.enumerated() {
            let row = packed * C
            let label = Int(labels[original])
            // log-sum-exp from the logits keeps the loss finite for confident mistakes.
            var largest = -Float.infinity
            for c in 0..<C { largest = max(largest, logits[row + c]) }
            var sum = 0.0
            for c in 0..<C { sum += Double(Baseline.exp(Vector(repeating: logits[row + c] - largest))[0]) }
            loss += Double(largest) + log(sum) - Double(logits[row + label])
            var best = 0
            for c in 1..<C where probabilities[row + c] > probabilities[row + best] { best = c }
            predictions[original] = Int32(best)
            for c in 0..<C {
                dLogits[row + c] = (probabilities[row + c] - (c == label ? 1 : 0)) * gradientScale
                if keepProbabilities { outputProbabilities[original * C + c] = probabilities[row + c] }
            }
        }
        if let gradient {
            backward.run(parameters, batch, workspace: scratch.workspace, dLogits: dLogits, gradient: gradient, buffers: scratch.buffers)
        }
        return Result(loss: loss, predictions: predictions, probabilities: outputProbabilities)
    }
}
