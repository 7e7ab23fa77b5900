import RNNBinary
import RNNKernels

#if canImport(Glibc)
import Glibc
#endif

/// The recurrent cell. Gate order and equations follow PyTorch (and cuDNN),
/// so weights are interchangeable with `torch.nn.RNN/LSTM/GRU`.
public enum CellKind: String, Codable, Sendable, CaseIterable {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    case rnn
    /// gates i, f, g, o; c' = f c + i g; h' = o tanh(c')
    case lstm
    /// gates r, z, n; n = tanh(x_n + r (W_hn h + b_hn)) ("linear before reset"); h' = (1 - z) n + z h
    case gru

    /// The cell's equations and kernels (RNNKernels/Cells): the one place a kind becomes a cell.
    public var cell: any RecurrentCell.Type {
        switch self {
        case .rnn: RNNCell.self
        case .lstm: LSTMCell.self
        case .gru: GRUCell.self
        }
    }

    public var gateCount: Int { cell.gates }
}

/// What the head reads of the top layer's states (`Pooling.swift` has the arithmetic).
public enum Pooling: String, Codable, Sendable, CaseIterable {
    /// The final state: the forward direction at the last token, the reverse one at the first.
    case last
    /// The largest value of each unit over the text's tokens.
    case max
    /// The mean of each unit over the text's tokens.
    case mean
    /// A weighted mean: weights from a softmax over the tokens of q · state, q learned
    /// (the word-level attention of Yang et al. 2016, scoring the states themselves).
    case attention
}

/// How the head's outputs become probabilities, and so what training minimizes.
public enum Output: String, Codable, Sendable, CaseIterable {
    /// One label per text: a distribution over the classes (cross-entropy; `--loss softmax`).
    case softmax
    /// Any set of labels per text: each class's probability on its own (one-vs-all binary
    /// cross-entropy; `--loss ova`), the set being the classes above a threshold.
    case sigmoid
}

public struct Architecture: Codable, Equatable, Sendable {
    public var cell: CellKind
    public var vocabularySize: Int
    public var embedding: Int
    public var hidden: Int
    public var layers: Int
    public var bidirectional: Bool
    public var classes: Int
    /// The embedding row that stays zero and gets no gradient (`padding_idx`).
    public var paddingID: Int32
    public var pooling: Pooling
    public var output: Output

    public init(
        cell: CellKind, vocabularySize: Int, embedding: Int, hidden: Int, layers: Int = 1,
        bidirectional: Bool = false, classes: Int, paddingID: Int32 = 0, pooling: Pooling = .last,
        output: Output = .softmax
    ) {
        self.output = output
        self.cell = cell
        self.vocabularySize = vocabularySize
        self.embedding = embedding
        self.hidden = hidden
        self.layers = layers
        self.bidirectional = bidirectional
        self.classes = classes
        self.paddingID = paddingID
        self.pooling = pooling
    }

    public var directions: Int { bidirectional ? 2 : 1 }
    public var gateWidth: Int { cell.gateCount * hidden }
    /// Width of what the head reads: the top layer's pooled state, both directions.
    public var featureWidth: Int { hidden * directions }
    public func inputWidth(layer: Int) -> Int { layer == 0 ? embedding : hidden * directions }

    /// Why the architecture is unusable, or nil. The upper bounds keep every
    /// size product far from overflow, whatever a (possibly corrupt) file claims.
    public var problem: String? {
        if vocabularySize < 1 || vocabularySize > 1 << 24 { return "vocabulary size must be 1…16,777,216" }
        if embedding > 1 << 16 || hidden > 1 << 16 { return "embedding and hidden sizes must be at most 65,536" }
        if layers > 64 { return "at most 64 layers" }
        if classes > 1 << 20 { return "at most 1,048,576 classes" }
        if embedding < 1 || hidden < 1 { return "embedding and hidden sizes must be at least 1" }
        if layers < 1 { return "layers must be at least 1" }
        if classes < 2 { return "a classifier needs at least 2 classes" }
        if paddingID < 0 || Int(paddingID) >= vocabularySize {
            return "padding id \(paddingID) is outside the vocabulary"
        }
        return nil
    }
}

extension Architecture {
    /// Its keys in a model file (Artifacts/model-format.md), the cell's gate order among them.
    public func write(to file: inout ModelFile) {
        file.set("architecture.cell", .string(cell.rawValue))
        file.set("architecture.gate_order", .string(cell.cell.gateOrder))
        if let variant = cell.cell.variant { file.set(variant.key, .string(variant.value)) }
        file.set("architecture.vocabulary_size", .int(Int64(vocabularySize)))
        file.set("architecture.embedding", .int(Int64(embedding)))
        file.set("architecture.hidden", .int(Int64(hidden)))
        file.set("architecture.layers", .int(Int64(layers)))
        file.set("architecture.bidirectional", .bool(bidirectional))
        file.set("architecture.classes", .int(Int64(classes)))
        file.set("architecture.padding_id", .int(Int64(paddingID)))
        // A 1.x reader would run any model as `last`: a pooled one is a file only newer readers take.
        if pooling != .last {
            file.set("architecture.pooling", .string(pooling.rawValue))
            file.require("pooling")
        }
        if output != .softmax {
            file.set("architecture.output", .string(output.rawValue))
            file.require("multi-label")
        }
    }

    /// A key that only files requiring `feature` may hold, read as one of `Value`'s cases; nil when absent.
    private static func featureValue<Value: RawRepresentable<String> & CaseIterable>(
        _ file: ModelFile, key: String, feature: String
    ) throws(ModelFileError) -> Value? {
        guard file[key] != nil else { return nil }
        guard file.requiredFeatures.contains(feature) else {
            throw .invalid("\(key) is set, but format.requires does not list \"\(feature)\"")
        }
        let name = try file.string(key)
        guard let value = Value(rawValue: name) else {
            throw .invalid(
                "unknown \(key) \"\(name)\" (expected \(Value.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return value
    }

    /// Reads and checks what `write` wrote: every key present, sizes within `problem`'s bounds.
    public init(file: ModelFile) throws(ModelFileError) {
        let name = try file.string("architecture.cell")
        guard let cell = CellKind(rawValue: name) else { throw .invalid("unknown cell \"\(name)\"") }
        // Another gate order or formulation would be misread silently: this reader runs exactly one of each.
        let order = try file.string("architecture.gate_order")
        guard order == cell.cell.gateOrder else {
            throw .invalid(
                "architecture.gate_order is \"\(order)\"; a \(cell) model must have \"\(cell.cell.gateOrder)\"")
        }
        for other in CellKind.allCases.compactMap({ $0.cell.variant }) where other.key != cell.cell.variant?.key {
            guard file[other.key] == nil else { throw .invalid("\(other.key) is set, but the cell is \(cell)") }
        }
        if let variant = cell.cell.variant {
            let value = try file.string(variant.key)
            guard value == variant.value else {
                throw .invalid("\(variant.key) is \"\(value)\"; this reader runs only \"\(variant.value)\"")
            }
        }
        self.init(
            cell: cell, vocabularySize: try file.int("architecture.vocabulary_size"),
            embedding: try file.int("architecture.embedding"),
            hidden: try file.int("architecture.hidden"), layers: try file.int("architecture.layers"),
            bidirectional: try file.bool("architecture.bidirectional"), classes: try file.int("architecture.classes"),
            paddingID: Int32(try file.int("architecture.padding_id")))
        pooling = try Self.featureValue(file, key: "architecture.pooling", feature: "pooling") ?? .last
        output = try Self.featureValue(file, key: "architecture.output", feature: "multi-label") ?? .softmax
        if let problem { throw .invalid(problem) }
    }
}

/// Where each weight tensor sits in one flat parameter vector. One vector
/// keeps the optimizer, gradient summation across threads or processes, and
/// checkpoints to a single loop each.
public struct ParameterLayout: Equatable, Sendable {
    public struct Tensor: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let architecture: Architecture
    public private(set) var tensors: [Tensor] = []
    public private(set) var count = 0

    public init(_ architecture: Architecture) {
        self.architecture = architecture
        let a = architecture
        add("embedding", [a.vocabularySize, a.embedding])
        for layer in 0..<a.layers {
            for direction in 0..<a.directions {
                let prefix = Self.prefix(layer: layer, direction: direction)
                add(prefix + "w_ih", [a.gateWidth, a.inputWidth(layer: layer)])
                add(prefix + "w_hh", [a.gateWidth, a.hidden])
                add(prefix + "b_ih", [a.gateWidth])
                add(prefix + "b_hh", [a.gateWidth])
            }
        }
        if a.pooling == .attention { add("attention.query", [a.featureWidth]) }
        add("head.weight", [a.classes, a.featureWidth])
        add("head.bias", [a.classes])
    }

    /// PyTorch's names: layer 0 forward is `l0.`, backward `l0_reverse.`.
    public static func prefix(layer: Int, direction: Int) -> String {
        "l\(layer)\(direction == 1 ? "_reverse" : "")."
    }

    private mutating func add(_ name: String, _ shape: [Int]) {
        tensors.append(Tensor(name: name, shape: shape, offset: count))
        count += shape.reduce(1, *)
    }

    public func tensor(_ name: String) -> Tensor {
        guard let tensor = tensors.first(where: { $0.name == name }) else { preconditionFailure("no tensor \(name)") }
        return tensor
    }

    public func offset(_ name: String) -> Int { tensor(name).offset }
}

public enum Initialization: String, Codable, Sendable {
    /// PyTorch's defaults: recurrent weights and biases uniform ±1/√hidden,
    /// embedding N(0, 1), head uniform ±1/√in.
    case pytorch
    /// As `pytorch`, with orthogonal recurrent matrices (one per gate).
    case orthogonal
}

extension ParameterLayout {
    public func initialValues(seed: UInt64, scheme: Initialization = .pytorch) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var values = [Float](repeating: 0, count: count)
        let a = architecture
        let bound = 1 / Float(a.hidden).squareRoot()
        for tensor in tensors {
            let range = tensor.offset..<tensor.offset + tensor.count
            switch tensor.name {
            case "embedding":
                for i in range { values[i] = rng.nextGaussian() }
                let pad = tensor.offset + Int(a.paddingID) * a.embedding
                for i in pad..<pad + a.embedding { values[i] = 0 }
            case "attention.query":
                // Zero: attention starts as the mean, and learns where to look.
                break
            case "head.weight", "head.bias":
                let headBound = 1 / Float(a.featureWidth).squareRoot()
                for i in range { values[i] = rng.nextUniform(-headBound, headBound) }
            default:
                for i in range { values[i] = rng.nextUniform(-bound, bound) }
                if scheme == .orthogonal && tensor.name.hasSuffix("w_hh") {
                    for gate in 0..<a.cell.gateCount {
                        let block = orthogonalMatrix(a.hidden, rng: &rng)
                        for i in 0..<a.hidden * a.hidden {
                            values[tensor.offset + gate * a.hidden * a.hidden + i] = block[i]
                        }
                    }
                }
            }
        }
        return values
    }
}

/// A random n×n orthogonal matrix: Gram-Schmidt on Gaussian rows.
func orthogonalMatrix(_ n: Int, rng: inout SplitMix64) -> [Float] {
    var m = (0..<n * n).map { _ in Double(rng.nextGaussian()) }
    for row in 0..<n {
        for previous in 0..<row {
            var dot = 0.0
            for k in 0..<n { dot += m[row * n + k] * m[previous * n + k] }
            for k in 0..<n { m[row * n + k] -= dot * m[previous * n + k] }
        }
        var norm = 0.0
        for k in 0..<n { norm += m[row * n + k] * m[row * n + k] }
        norm = norm.squareRoot()
        for k in 0..<n { m[row * n + k] /= norm }
    }
    return m.map(Float.init)
}

/// A small, fast, seedable generator: the same seed gives the same run on any machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    public mutating func nextUniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUnit() }

    public mutating func nextGaussian() -> Float {
        // Box-Muller; 1 - u keeps the logarithm finite.
        let u1 = 1 - Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
