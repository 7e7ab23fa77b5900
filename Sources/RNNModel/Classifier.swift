import RNNKernels
import RNNText

/// A trained classifier: everything in a model file, checked and ready to run.
/// The trainer's evaluation and the C runtime both classify through this type.
public struct Classifier: Sendable {
    public let network: Network
    public let tokenizer: Tokenizer
    public let tokenizerSpec: TokenizerSpec
    public let policy: SequencePolicy
    public let labels: [String]
    public let parameters: [Float]
    public let file: ModelFile
    /// Packed W_hh and layer 0's per-token input projections, prepared once at load.
    let weights: Network.InferenceWeights

    public var architecture: Architecture { network.architecture }

    public init(architecture: Architecture, tokenizerSpec: TokenizerSpec, vocabulary: Vocabulary, policy: SequencePolicy,
                labels: [String], parameters: [Float], provenance: [(String, ModelFile.Value)] = []) throws(ModelFileError) {
        var file = ModelFile()
        file.set("architecture.cell", .string(architecture.cell.rawValue))
        file.set("architecture.gate_order", .string(architecture.cell.cell.gateOrder))
        if let variant = architecture.cell.cell.variant { file.set(variant.key, .string(variant.value)) }
        file.set("architecture.vocabulary_size", .int(Int64(architecture.vocabularySize)))
        file.set("architecture.embedding", .int(Int64(architecture.embedding)))
        file.set("architecture.hidden", .int(Int64(architecture.hidden)))
        file.set("architecture.layers", .int(Int64(architecture.layers)))
        file.set("architecture.bidirectional", .bool(architecture.bidirectional))
        file.set("architecture.classes", .int(Int64(architecture.classes)))
        file.set("architecture.padding_id", .int(Int64(architecture.paddingID)))
        file.set("tokenizer.kind", .string(tokenizerSpec.kind.rawValue))
        if let wordPiece = tokenizerSpec.wordPiece {
            file.set("tokenizer.lowercase", .bool(wordPiece.lowercase))
            file.set("tokenizer.strip_accents", .bool(wordPiece.stripAccents))
            file.set("tokenizer.max_chars_per_word", .int(Int64(wordPiece.maxCharactersPerWord)))
            file.set("tokenizer.continuation_prefix", .string(wordPiece.continuationPrefix))
            file.set("tokenizer.unknown_token", .string(wordPiece.unknownToken))
            file.set("tokenizer.classify_token", .string(wordPiece.classifyToken))
            file.set("tokenizer.separator_token", .string(wordPiece.separatorToken))
            file.set("tokenizer.padding_token", .string(wordPiece.paddingToken))
        }
        file.set("tokenizer.vocabulary", .strings(vocabulary.tokens))
        file.set("sequence.max_length", .int(Int64(policy.maxLength ?? 0)))
        file.set("sequence.padding", .string(policy.padding.rawValue))
        file.set("sequence.truncation", .string(policy.truncation.rawValue))
        file.set("sequence.markers", .bool(policy.markers))
        file.set("labels", .strings(labels))
        for (key, value) in provenance { file.set(key, value) }
        let layout = ParameterLayout(architecture)
        guard parameters.count == layout.count else { throw .invalid("\(parameters.count) parameters for a layout of \(layout.count)") }
        file.tensors = layout.tensors.map { ModelFile.Tensor(name: $0.name, shape: $0.shape, values: Array(parameters[$0.offset..<$0.offset + $0.count])) }
        try self.init(file: file)
    }

    /// Validates a parsed model file: required keys, sizes that agree, every tensor present with its shape.
    public init(file: ModelFile) throws(ModelFileError) {
        func int(_ key: String) throws(ModelFileError) -> Int {
            guard case .int(let v)? = file[key], v >= 0, v < 1 << 31 else { throw .invalid("missing or bad \"\(key)\"") }
            return Int(v)
        }
        func string(_ key: String) throws(ModelFileError) -> String {
            guard case .string(let v)? = file[key] else { throw .invalid("missing \"\(key)\"") }
            return v
        }
        func bool(_ key: String) throws(ModelFileError) -> Bool {
            guard case .bool(let v)? = file[key] else { throw .invalid("missing \"\(key)\"") }
            return v
        }
        func strings(_ key: String) throws(ModelFileError) -> [String] {
            guard case .strings(let v)? = file[key] else { throw .invalid("missing \"\(key)\"") }
            return v
        }
        guard let cell = CellKind(rawValue: try string("architecture.cell")) else { throw .invalid("unknown cell \"\(try string("architecture.cell"))\"") }
        let architecture = Architecture(cell: cell, vocabularySize: try int("architecture.vocabulary_size"), embedding: try int("architecture.embedding"),
                                        hidden: try int("architecture.hidden"), layers: try int("architecture.layers"),
                                        bidirectional: try bool("architecture.bidirectional"), classes: try int("architecture.classes"),
                                        paddingID: Int32(try int("architecture.padding_id")))
        if let problem = architecture.problem { throw .invalid(problem) }
        guard let kind = TokenizerSpec.Kind(rawValue: try string("tokenizer.kind")) else { throw .invalid("unknown tokenizer \"\(try string("tokenizer.kind"))\"") }
        var spec = TokenizerSpec(kind: kind)
        if kind == .wordpiece {
            var options = WordPieceTokenizer.Options()
            options.lowercase = try bool("tokenizer.lowercase")
            options.stripAccents = try bool("tokenizer.strip_accents")
            options.maxCharactersPerWord = try int("tokenizer.max_chars_per_word")
            options.continuationPrefix = try string("tokenizer.continuation_prefix")
            options.unknownToken = try string("tokenizer.unknown_token")
            options.classifyToken = try string("tokenizer.classify_token")
            options.separatorToken = try string("tokenizer.separator_token")
            options.paddingToken = try string("tokenizer.padding_token")
            spec.wordPiece = options
        }
        let vocabularyTokens = try strings("tokenizer.vocabulary")
        guard vocabularyTokens.count == architecture.vocabularySize else {
            throw .invalid("vocabulary has \(vocabularyTokens.count) tokens, the architecture \(architecture.vocabularySize)")
        }
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(spec: spec, vocabulary: Vocabulary(tokens: vocabularyTokens)) }
        catch { throw .invalid("tokenizer: \(error)") }
        guard let padding = SequencePolicy.Padding(rawValue: try string("sequence.padding")),
              let truncation = SequencePolicy.Truncation(rawValue: try string("sequence.truncation")) else {
            throw .invalid("unknown sequence padding or truncation")
        }
        let maxLength = try int("sequence.max_length")
        let policy = SequencePolicy(maxLength: maxLength == 0 ? nil : maxLength, padding: padding, truncation: truncation, markers: try bool("sequence.markers"))
        if let problem = policy.problem { throw .invalid(problem) }
        let labels = try strings("labels")
        guard labels.count == architecture.classes else { throw .invalid("\(labels.count) labels for \(architecture.classes) classes") }
        let layout = ParameterLayout(architecture)
        // Shapes first: the sizes the header claims are only believed once the
        // file has shown the tensors, so a corrupt header cannot make us allocate.
        for expected in layout.tensors {
            guard let tensor = file.tensor(expected.name) else { throw .invalid("missing tensor \(expected.name)") }
            guard tensor.shape == expected.shape else { throw .invalid("tensor \(expected.name) has shape \(tensor.shape), expected \(expected.shape)") }
            guard tensor.values.allSatisfy(\.isFinite) else { throw .invalid("tensor \(expected.name) holds NaN or infinity") }
        }
        var parameters = [Float](repeating: 0, count: layout.count)
        for expected in layout.tensors {
            parameters.replaceSubrange(expected.offset..<expected.offset + expected.count, with: file.tensor(expected.name)!.values)
        }
        let network = Network(architecture)
        self.network = network
        self.tokenizer = tokenizer
        tokenizerSpec = spec
        self.policy = policy
        self.labels = labels
        self.parameters = parameters
        self.file = file
        // The per-token tables trade memory for speed; past 64 Mi floats per
        // direction (256 MiB) the input GEMM is used instead.
        let tableSize = architecture.vocabularySize * architecture.gateWidth
        weights = parameters.withUnsafeBufferPointer { network.inferenceWeights($0.baseAddress!, tokenTables: tableSize <= 1 << 26) }
    }

    /// The ids the network reads for `text`.
    public func sequence(_ text: UnsafeBufferPointer<UInt8>, workspace: inout TokenizerWorkspace) -> [Int32] {
        var content: [Int32] = []
        tokenizer.encode(text, into: &content, workspace: &workspace)
        return policy.apply(content, special: tokenizer.specialIDs)
    }

    /// Class probabilities (row per sequence) for model-ready sequences.
    public func probabilities(_ sequences: [ArraySlice<Int32>], workspace: Network.Workspace) -> [Float] {
        let C = architecture.classes
        let (batch, order) = PackedBatch.packing(sequences)
        parameters.withUnsafeBufferPointer {
            network.forwardInference($0.baseAddress!, batch, weights: weights, workspace: workspace)
        }
        var probabilities = workspace.logits
        softmaxRows(&probabilities, classes: C)
        var out = [Float](repeating: 0, count: sequences.count * C)
        for (packed, original) in order.enumerated() {
            for c in 0..<C { out[original * C + c] = probabilities[packed * C + c] }
        }
        return out
    }
}
