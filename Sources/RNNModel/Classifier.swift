import RNNBinary
import RNNKernels
import RNNText

extension ModelFile.Value {
    /// A threshold as the file holds it: the decimal a person reads (0.4, not 0.4000000059604645, the
    /// float's exact value), which reads back as the same float.
    public static func double(threshold: Float) -> ModelFile.Value { .double(Double("\(threshold)")!) }
}

/// A trained classifier: everything in a model file, checked and ready to run.
/// The trainer's evaluation and the C runtime both classify through this type.
public struct Classifier: Sendable {
    public let network: Network
    public let tokenizer: Tokenizer
    public let tokenizerSpec: TokenizerSpec
    public let policy: SequencePolicy
    public let labels: [String]
    /// A multi-label model's (sigmoid output's) labels are those whose probability is at least this
    /// (`output.threshold`, chosen on validation; 0.5 when the file has none); nil for a softmax.
    public let threshold: Float?
    public let parameters: [Float]
    public let file: ModelFile
    /// Packed W_hh and layer 0's per-token input projections, prepared once at load.
    public let weights: Network.InferenceWeights

    public var architecture: Architecture { network.architecture }

    public init(
        architecture: Architecture, tokenizerSpec: TokenizerSpec, vocabulary: Vocabulary, policy: SequencePolicy,
        labels: [String], parameters: [Float], provenance: [(String, ModelFile.Value)] = []
    ) throws(ModelFileError) {
        var file = ModelFile()
        architecture.write(to: &file)
        tokenizerSpec.write(vocabulary: vocabulary, to: &file)
        policy.write(to: &file)
        file.set("labels", .strings(labels))
        for (key, value) in provenance { file.set(key, value) }
        let layout = ParameterLayout(architecture)
        guard parameters.count == layout.count else {
            throw .invalid("\(parameters.count) parameters for a layout of \(layout.count)")
        }
        file.tensors = layout.tensors.map {
            ModelFile.Tensor(
                name: $0.name, shape: $0.shape, values: Array(parameters[$0.offset..<$0.offset + $0.count]))
        }
        try self.init(file: file)
    }

    /// Validates a parsed model file: required keys, sizes that agree, every tensor present with its shape.
    /// Layer 0's per-token tables trade memory for speed; past `tokenTableLimit`
    /// floats per direction (64 Mi: 256 MiB) its input product runs instead.
    public init(file: ModelFile, tokenTableLimit: Int = 1 << 26, kernels: KernelSet = .selected)
        throws(ModelFileError)
    {
        let architecture = try Architecture(file: file)
        let (spec, vocabulary) = try TokenizerSpec.read(from: file)
        guard vocabulary.count == architecture.vocabularySize else {
            throw .invalid("vocabulary has \(vocabulary.count) tokens, the architecture \(architecture.vocabularySize)")
        }
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(spec: spec, vocabulary: vocabulary) } catch {
            throw .invalid("tokenizer: \(error)")
        }
        let policy = try SequencePolicy(file: file)
        let labels = try file.strings("labels")
        var seen = Set<String>()
        if let duplicate = labels.first(where: { !seen.insert($0).inserted }) {
            throw .invalid("label \"\(duplicate)\" appears twice in \"labels\"")
        }
        guard labels.count == architecture.classes else {
            throw .invalid("\(labels.count) labels for \(architecture.classes) classes")
        }
        var threshold: Float?
        if let value = file["output.threshold"] {
            guard architecture.output == .sigmoid else { throw .invalid("output.threshold is set on a softmax model") }
            guard case .double(let t) = value, t > 0, t < 1 else {
                throw .invalid("output.threshold must be a real number between 0 and 1")
            }
            threshold = Float(t)
        } else if architecture.output == .sigmoid {
            threshold = 0.5
        }
        let layout = ParameterLayout(architecture)
        // Shapes first: the sizes the header claims are only believed once the
        // file has shown the tensors, so a corrupt header cannot make us allocate.
        for expected in layout.tensors {
            guard let tensor = file.tensor(expected.name) else { throw .invalid("missing tensor \(expected.name)") }
            guard tensor.shape == expected.shape else {
                throw .invalid("tensor \(expected.name) has shape \(tensor.shape), expected \(expected.shape)")
            }
            guard (tensor.int8?.count ?? tensor.values.count) == expected.count else {
                throw .invalid("tensor \(expected.name) has \(tensor.values.count) values for shape \(expected.shape)")
            }
            guard tensor.values.allSatisfy(\.isFinite) else {
                throw .invalid("tensor \(expected.name) holds NaN or infinity")
            }
            if tensor.int8 != nil {
                guard expected.shape.count == 2 else { throw .invalid("tensor \(expected.name) cannot be int8") }
                let name = expected.name + ".scale"
                let units = Self.quantizationUnits(expected.name, shape: expected.shape)
                guard let scales = file.tensor(name), scales.int8 == nil, scales.shape == [units] else {
                    throw .invalid("int8 tensor \(expected.name) needs f32 scales \(name) [\(units)]")
                }
                guard scales.values.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                    throw .invalid("tensor \(name) holds a negative, NaN or infinite scale")
                }
            }
        }
        var parameters = [Float](repeating: 0, count: layout.count)
        for expected in layout.tensors {
            let tensor = file.tensor(expected.name)!
            guard let int8 = tensor.int8 else {
                parameters.replaceSubrange(expected.offset..<expected.offset + expected.count, with: tensor.values)
                continue
            }
            let scales = file.tensor(expected.name + ".scale")!.values, columns = expected.shape[1]
            let perColumn = Self.scalesColumns(expected.name)
            for (i, value) in int8.enumerated() {
                parameters[expected.offset + i] = Float(value) * scales[perColumn ? i % columns : i / columns]
            }
        }
        let network = Network(architecture, kernels: kernels)
        self.network = network
        self.tokenizer = tokenizer
        tokenizerSpec = spec
        self.policy = policy
        self.labels = labels
        self.threshold = threshold
        self.parameters = parameters
        self.file = file
        let tableSize = architecture.vocabularySize * architecture.gateWidth
        // A model whose W_hh is int8 steps with it as stored, not with its float copy.
        var quantizedRecurrent: [QuantizedRecurrentWeights]? = []
        for slot in 0..<architecture.layers * architecture.directions {
            let prefix = ParameterLayout.prefix(
                layer: slot / architecture.directions, direction: slot % architecture.directions)
            guard let whh = file.tensor(prefix + "w_hh")?.int8, let scales = file.tensor(prefix + "w_hh.scale") else {
                quantizedRecurrent = nil
                break
            }
            quantizedRecurrent?.append(
                QuantizedRecurrentWeights(
                    whh: whh, rowScales: scales.values, bhh: Array(parameters[layout.offset(prefix + "b_hh")...]),
                    hidden: architecture.hidden, gates: architecture.cell.gateCount, lanes: kernels.lanes,
                    layout: kernels.quantizedLayout))
        }
        weights = parameters.withUnsafeBufferPointer {
            network.inferenceWeights(
                $0.baseAddress!, tokenTables: tableSize <= tokenTableLimit, quantizedRecurrent: quantizedRecurrent)
        }
    }

    /// The most ids a text is given to the network (RNN_MAX_TOKENS in rnninfer.h): longer
    /// ones are cut by the model's truncation rule, so any input has a bounded cost.
    public static let maxTokens = 65_536

    /// The ids the network reads for `text`, at most `maxTokens` of them.
    public func sequence(_ text: UnsafeBufferPointer<UInt8>, workspace: inout TokenizerWorkspace) -> [Int32] {
        var content: [Int32] = []
        tokenizer.encode(text, into: &content, workspace: &workspace)
        return sequence(content: content)
    }

    /// The ids the network reads for a text's content ids (markers, truncation, padding, the `maxTokens` cut).
    public func sequence(content: [Int32]) -> [Int32] {
        let sequence = policy.apply(content, special: tokenizer.specialIDs)
        guard sequence.count > Self.maxTokens else { return sequence }
        return policy.truncation == .tail
            ? Array(sequence.prefix(Self.maxTokens)) : Array(sequence.suffix(Self.maxTokens))
    }

    /// The head's outputs before the softmax (a row per sequence) for model-ready sequences.
    public func logits(_ sequences: [ArraySlice<Int32>], workspace: Network.Workspace) -> [Float] {
        let C = architecture.classes
        let (batch, order) = PackedBatch.packing(sequences)
        parameters.withUnsafeBufferPointer {
            network.forwardInference($0.baseAddress!, batch, weights: weights, workspace: workspace)
        }
        var out = [Float](repeating: 0, count: sequences.count * C)
        for (packed, original) in order.enumerated() {
            for c in 0..<C { out[original * C + c] = workspace.logits[packed * C + c] }
        }
        return out
    }

    /// Class probabilities (row per sequence) for model-ready sequences.
    public func probabilities(_ sequences: [ArraySlice<Int32>], workspace: Network.Workspace) -> [Float] {
        var probabilities = logits(sequences, workspace: workspace)
        architecture.output.probabilities(&probabilities, classes: architecture.classes)
        return probabilities
    }
}
