import Foundation
import RNNKernels
import RNNModel

/// The classifier written for clarity only, in Double: one sequence at a time,
/// every step of every token (padding included, as the real network computes
/// what it is given), no packing, no kernels, no tables. The cells' equations
/// are their `reference` in RNNKernels/Cells. The fast network is held to it.
public struct ReferenceNetwork {
    public let architecture: Architecture
    let layout: ParameterLayout
    public var parameters: [Double]

    public init(_ architecture: Architecture, parameters: [Float]) {
        self.architecture = architecture
        layout = ParameterLayout(architecture)
        self.parameters = parameters.map(Double.init)
    }

    /// Dropout multipliers of one sequence: per layer, [T][input width]; the features', [H·D].
    public struct Masks {
        public var layerInputs: [[[Double]]]
        public var features: [Double]
        public init(layerInputs: [[[Double]]], features: [Double]) {
            self.layerInputs = layerInputs
            self.features = features
        }
    }

    /// A tensor as rows.
    func matrix(_ name: String) -> [[Double]] {
        let tensor = layout.tensor(name)
        return (0..<tensor.shape[0]).map {
            Array(parameters[tensor.offset + $0 * tensor.shape[1]..<tensor.offset + ($0 + 1) * tensor.shape[1]])
        }
    }

    func vector(_ name: String) -> [Double] {
        let tensor = layout.tensor(name)
        return Array(parameters[tensor.offset..<tensor.offset + tensor.count])
    }

    public func logits(_ tokens: [Int32], masks: Masks? = nil) -> [Double] {
        let a = architecture, H = a.hidden, cell = a.cell.cell
        // x: [T][width], the current layer's input
        let embedding = matrix("embedding")
        var x = tokens.map { embedding[Int($0)] }
        for layer in 0..<a.layers {
            if let masks { x = zip(x, masks.layerInputs[layer]).map { zip($0, $1).map(*) } }
            var output = [[Double]](repeating: [Double](repeating: 0, count: H * a.directions), count: tokens.count)
            for direction in 0..<a.directions {
                let prefix = ParameterLayout.prefix(layer: layer, direction: direction)
                let wih = matrix(prefix + "w_ih"), whh = matrix(prefix + "w_hh"), bih = vector(prefix + "b_ih"),
                    bhh = vector(prefix + "b_hh")
                var h = [Double](repeating: 0, count: H), c = h
                for t in direction == 0 ? Array(tokens.indices) : tokens.indices.reversed() {
                    var newH = h, newC = c
                    for j in 0..<H {
                        var input = [Double](), recurrent = [Double]()
                        for gate in 0..<cell.gates {
                            let row = gate * H + j
                            input.append(bih[row] + x[t].indices.reduce(0) { $0 + wih[row][$1] * x[t][$1] })
                            recurrent.append(bhh[row] + (0..<H).reduce(0) { $0 + whh[row][$1] * h[$1] })
                        }
                        (newH[j], newC[j], _) = cell.reference(
                            input: input, recurrent: recurrent, previous: h[j], previousCell: c[j])
                    }
                    (h, c) = (newH, newC)
                    for j in 0..<H { output[t][direction * H + j] = h[j] }
                }
            }
            x = output
        }
        var features = [Double](repeating: 0, count: a.featureWidth)
        // Pooled over the positions that hold a token, not padding.
        let states = tokens.indices.filter { tokens[$0] != a.paddingID }.map { x[$0] }
        switch a.pooling {
        case .last:
            // the forward direction's state after the last token, the reverse direction's after the first
            if let last = x.last, let first = x.first {
                for j in 0..<H { features[j] = last[j] }
                if a.bidirectional { for j in 0..<H { features[H + j] = first[H + j] } }
            }
        case .max:
            if !states.isEmpty { features = features.indices.map { j in states.map { $0[j] }.max()! } }
        case .mean:
            if !states.isEmpty {
                features = features.indices.map { j in states.reduce(0) { $0 + $1[j] } / Double(states.count) }
            }
        case .attention:
            let query = vector("attention.query")
            let scores = states.map { state in zip(query, state).reduce(0) { $0 + $1.0 * $1.1 } }
            if let largest = scores.max() {
                let e = scores.map { Foundation.exp($0 - largest) }, sum = e.reduce(0, +)
                features = features.indices.map { j in states.indices.reduce(0) { $0 + e[$1] / sum * states[$1][j] } }
            }
        }
        if let masks { features = zip(features, masks.features).map(*) }
        let headWeight = matrix("head.weight"), headBias = vector("head.bias")
        return (0..<a.classes).map { c in
            headBias[c] + features.indices.reduce(0) { $0 + headWeight[c][$1] * features[$1] }
        }
    }

    public func probabilities(_ tokens: [Int32], masks: Masks? = nil) -> [Double] {
        let z = logits(tokens, masks: masks), largest = z.max()!
        if architecture.output == .sigmoid { return z.map { 1 / (1 + Foundation.exp(-$0)) } }
        let e = z.map { Foundation.exp($0 - largest) }, sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Soft labels (a teacher's probabilities per example) and how they are learned, written
    /// from the definition: T² · H(p^(1/T) normalized, softmax(z/T)) + w · H(label, softmax(z)).
    public struct Distillation {
        public var softLabels: [[Double]]
        public var temperature: Double
        public var hardLabelWeight: Double

        public init(softLabels: [[Double]], temperature: Double, hardLabelWeight: Double) {
            self.softLabels = softLabels
            self.temperature = temperature
            self.hardLabelWeight = hardLabelWeight
        }
    }

    /// Summed cross-entropy, each example's times its label's weight (1 without `classWeights`).
    /// A sigmoid output's is each class's binary cross-entropy against `labelSets[i]` (its label without).
    public func loss(
        _ sequences: [[Int32]], labels: [Int32], masks: [Masks]? = nil, classWeights: [Double]? = nil,
        distillation: Distillation? = nil, labelSets: [[Int]]? = nil
    ) -> Double {
        sequences.indices.reduce(0) { total, i in
            let label = Int(labels[i])
            let z = logits(sequences[i], masks: masks?[i])
            if architecture.output == .sigmoid {
                let truth = Set(labelSets?[i] ?? [label])
                return total
                    + z.indices.reduce(0) { sum, c in
                        let p = 1 / (1 + Foundation.exp(-z[c]))
                        return sum - (truth.contains(c) ? Foundation.log(p) : Foundation.log(1 - p))
                    }
            }
            func logSoftmax(_ scale: Double) -> [Double] {
                let scaled = z.map { $0 / scale }, largest = scaled.max()!
                let logSum = largest + Foundation.log(scaled.reduce(0) { $0 + Foundation.exp($1 - largest) })
                return scaled.map { $0 - logSum }
            }
            var example = -logSoftmax(1)[label]
            if let d = distillation {
                let T = d.temperature
                let softened = d.softLabels[i].map { Foundation.pow($0, 1 / T) }
                let sum = softened.reduce(0, +)
                let soft = zip(softened, logSoftmax(T)).reduce(0) { $0 - $1.0 / sum * $1.1 }
                example = T * T * soft + d.hardLabelWeight * example
            }
            return total + (classWeights?[label] ?? 1) * example
        }
    }

    /// d(summed loss)/d(parameters) by central differences, which Double makes
    /// accurate to about 1e-9 here.
    public func gradient(
        _ sequences: [[Int32]], labels: [Int32], masks: [Masks]? = nil, classWeights: [Double]? = nil,
        distillation: Distillation? = nil, labelSets: [[Int]]? = nil
    ) -> [Double] {
        var copy = self
        return parameters.indices.map { i in
            let step = 1e-5 * max(1, abs(parameters[i]))
            copy.parameters[i] = parameters[i] + step
            let plus = copy.loss(
                sequences, labels: labels, masks: masks, classWeights: classWeights, distillation: distillation,
                labelSets: labelSets)
            copy.parameters[i] = parameters[i] - step
            let minus = copy.loss(
                sequences, labels: labels, masks: masks, classWeights: classWeights, distillation: distillation,
                labelSets: labelSets)
            copy.parameters[i] = parameters[i]
            return (plus - minus) / (2 * step)
        }
    }
}

extension ParameterLayout {
    /// Initial values × `scale` (weights large enough for the gates' nonlinear range) and, for attention
    /// pooling, a query that is not the initial zero, whose weights would be the mean's.
    public func testValues(seed: UInt64, scale: Float) -> [Float] {
        var values = initialValues(seed: seed).map { $0 * scale }
        if architecture.pooling == .attention {
            var rng = SplitMix64(seed: seed ^ 0xA77E)
            let query = tensor("attention.query")
            for i in query.offset..<query.offset + query.count { values[i] = rng.nextUniform(-2, 2) }
        }
        return values
    }
}
