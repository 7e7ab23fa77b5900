import Foundation
import RNNModel
import RNNText

/// What a model needs beside its weights and tokenizer: `classifier.json`, which
/// `convert export` writes and a user writes for a PyTorch model.
public struct ClassifierSettings: Codable, Equatable {
    public var labels: [String]
    /// Longest sequence, markers included; absent or 0: no limit.
    public var maxLength: Int?
    /// `none` (packed: PyTorch's `pack_padded_sequence`), `pre` or `post`.
    public var padding: SequencePolicy.Padding
    public var truncation: SequencePolicy.Truncation
    /// `<start>` (word-level) or `[CLS]` … `[SEP]` (WordPiece) around each text.
    public var markers: Bool
    /// What the head reads of the top layer's states; absent: the last state.
    public var pooling: Pooling?
    /// `sigmoid` for a multi-label model (each label's own probability); absent: a softmax.
    public var output: Output?
    /// A multi-label model's labels are those at or above this probability; absent: 0.5.
    public var threshold: Float?

    enum CodingKeys: String, CodingKey {
        case labels, padding, truncation, markers, pooling, output, threshold, maxLength = "max_length"
    }

    public init(
        labels: [String], policy: SequencePolicy, pooling: Pooling = .last, output: Output = .softmax,
        threshold: Float? = nil
    ) {
        self.labels = labels
        self.pooling = pooling == .last ? nil : pooling
        self.output = output == .softmax ? nil : output
        self.threshold = threshold
        maxLength = policy.maxLength
        padding = policy.padding
        truncation = policy.truncation
        markers = policy.markers
    }

    public var policy: SequencePolicy {
        SequencePolicy(
            maxLength: maxLength == 0 ? nil : maxLength, padding: padding, truncation: truncation, markers: markers)
    }
}

/// A PyTorch classifier's state dict (embedding → `nn.RNN`/`nn.GRU`/`nn.LSTM` →
/// pooling → `nn.Linear`) mapped onto our tensors. PyTorch's recurrent names and
/// gate orders are ours, so the mapping only finds the tensors: the recurrent
/// ones by their suffix, the embedding, head and attention query by shape, unless
/// the user names them. A state dict cannot say how its model pools (max and mean
/// have no weights): the user does, in classifier.json.
public enum PyTorchWeights {
    /// Names of our tensors a user can point at a state-dict entry (`--map embedding=emb.weight`).
    public static let mappable = ["embedding", "head.weight", "head.bias", "attention.query"]

    /// The architecture and flat parameters (in `ParameterLayout` order) of `file`.
    /// `vocabularySize` and `classes` come from the tokenizer and the labels:
    /// they tell the embedding and the head apart when shapes alone do not.
    public static func map(
        _ file: Safetensors, vocabularySize: Int, classes: Int, paddingID: Int32, pooling: Pooling = .last,
        names: [String: String] = [:]
    ) throws(SafetensorsError) -> (architecture: Architecture, parameters: [Float]) {
        if let unknown = names.keys.sorted().first(where: { !mappable.contains($0) }) {
            throw .invalid("--map \(unknown)=…: the names that can be mapped are \(mappable.joined(separator: ", "))")
        }
        for (ours, theirs) in names.sorted(by: { $0.key < $1.key }) where file.tensor(theirs) == nil {
            throw .invalid("--map \(ours)=\(theirs): the file has no tensor \"\(theirs)\"")
        }
        // Recurrent tensors: <prefix>(weight|bias)_(ih|hh)_l<k>[_reverse].
        var recurrent: [String: (prefix: String, key: String, layer: Int?)] = [:]
        for tensor in file.tensors {
            guard let match = recurrentName(tensor.name) else { continue }
            if match.key.hasPrefix("weight_hr") || match.key.hasPrefix("bias_hr") {
                throw .invalid(
                    "tensor \"\(tensor.name)\": LSTM projections (proj_size) are not supported")
            }
            recurrent[tensor.name] = match
        }
        let prefixes = Set(recurrent.values.map(\.prefix))
        guard prefixes.count == 1, let prefix = prefixes.first else {
            throw .invalid(
                prefixes.isEmpty
                    ? "no recurrent weights (weight_ih_l0, weight_hh_l0) in the file"
                    : "recurrent weights under several modules (\(prefixes.sorted().joined(separator: ", "))); one is supported"
            )
        }
        func shape(_ key: String) -> [Int]? { file.tensor(prefix + key)?.shape }
        guard let hh = shape("weight_hh_l0"), hh.count == 2, hh[1] >= 1, let ih = shape("weight_ih_l0"), ih.count == 2
        else { throw .invalid("\(prefix)weight_ih_l0 and \(prefix)weight_hh_l0 must be matrices") }
        let hidden = hh[1]
        let cell: CellKind
        switch hh[0] / hidden {
        case 1 where hh[0] == hidden: cell = .rnn
        case 3 where hh[0] == 3 * hidden: cell = .gru
        case 4 where hh[0] == 4 * hidden: cell = .lstm
        default:
            throw .invalid("\(prefix)weight_hh_l0 has shape \(hh): rows must be 1, 3 or 4 × its \(hidden) columns")
        }
        let deepest = recurrent.values.map { $0.layer ?? Int.max }.max() ?? 0
        guard deepest < 64 else { throw .invalid("recurrent weights name a layer above 63 (at most 64 layers)") }
        let layers = deepest + 1
        let bidirectional = recurrent.values.contains { $0.key.hasSuffix("_reverse") }
        let directions = bidirectional ? 2 : 1

        // The embedding feeds layer 0; the head reads the top layer's state.
        let embedding = try pick(
            "embedding", in: file, named: names["embedding"], excluding: Set(recurrent.keys),
            suffix: "weight", shape: { $0 == [vocabularySize, ih[1]] },
            expected: "[\(vocabularySize), \(ih[1])] (vocabulary × embedding)")
        let headWeight = try pick(
            "head.weight", in: file, named: names["head.weight"], excluding: Set(recurrent.keys + [embedding]),
            suffix: "weight", shape: { $0 == [classes, hidden * directions] },
            expected: "[\(classes), \(hidden * directions)] (classes × hidden·directions)")
        let siblingBias = String(headWeight.dropLast("weight".count)) + "bias"
        let headBias = try pick(
            "head.bias", in: file, named: names["head.bias"] ?? (file.tensor(siblingBias) != nil ? siblingBias : nil),
            excluding: Set(recurrent.keys + [embedding, headWeight]),
            suffix: "bias", shape: { $0 == [classes] }, expected: "[\(classes)]")
        let query =
            pooling == .attention
            ? try pick(
                "attention.query", in: file, named: names["attention.query"],
                excluding: Set(recurrent.keys + [embedding, headWeight, headBias]), suffix: "query",
                shape: { $0 == [hidden * directions] }, expected: "[\(hidden * directions)] (hidden·directions)")
            : nil

        let architecture = Architecture(
            cell: cell, vocabularySize: vocabularySize, embedding: ih[1], hidden: hidden, layers: layers,
            bidirectional: bidirectional, classes: classes, paddingID: paddingID, pooling: pooling)
        if let problem = architecture.problem { throw .invalid(problem) }
        let layout = ParameterLayout(architecture)
        var used: Set<String> = [embedding, headWeight, headBias]
        var parameters = [Float](repeating: 0, count: layout.count)
        for tensor in layout.tensors {
            let source: String
            switch tensor.name {
            case "embedding": source = embedding
            case "head.weight": source = headWeight
            case "head.bias": source = headBias
            case "attention.query": source = query!
            default:
                source = prefix + recurrentKey(tensor.name)
                // PyTorch's bias=False: the biases are zero.
                if tensor.name.hasSuffix(".b_ih") || tensor.name.hasSuffix(".b_hh"), file.tensor(source) == nil {
                    continue
                }
            }
            guard let found = file.tensor(source) else { throw .invalid("missing tensor \"\(source)\"") }
            guard found.shape == tensor.shape else {
                throw .invalid("tensor \"\(source)\" has shape \(found.shape), expected \(tensor.shape)")
            }
            let values = try file.floats(found)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw .invalid("tensor \"\(source)\" holds \(values[bad]) at index \(bad)")
            }
            parameters.replaceSubrange(tensor.offset..<tensor.offset + tensor.count, with: values)
            used.insert(source)
        }
        // A tensor we would not run (an extra layer, a projection) means another model: refuse it by name.
        if let extra = file.tensors.map(\.name).sorted().first(where: { !used.contains($0) }) {
            let pooled = pooling == .last ? "" : " → \(pooling.rawValue) pooling"
            throw .invalid(
                "tensor \"\(extra)\" is not part of an embedding → \(cell.rawValue.uppercased())\(pooled) → linear classifier"
                    + (extra.hasSuffix("query") && pooling != .attention
                        ? " (an attention model? say \"pooling\": \"attention\" in classifier.json)" : ""))
        }
        return (architecture, parameters)
    }

    /// PyTorch's name within the recurrent module for one of our tensors: "l1_reverse.w_ih" → "weight_ih_l1_reverse".
    static func recurrentKey(_ ours: String) -> String {
        let parts = ours.split(separator: ".")
        let reverse = parts[0].hasSuffix("_reverse") ? "_reverse" : ""
        let layer = parts[0].dropFirst().split(separator: "_")[0]
        return (parts[1].hasPrefix("w") ? "weight" : "bias") + "_\(parts[1].dropFirst(2))_l\(layer)\(reverse)"
    }

    /// `<prefix><kind>_l<layer>[_reverse]` split into its prefix, the rest, and the layer
    /// (nil when the number is too long to be a layer: the architecture check refuses it).
    private static func recurrentName(_ name: String) -> (prefix: String, key: String, layer: Int?)? {
        for kind in ["weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l", "weight_hr_l", "bias_hr_l"] {
            guard let range = name.range(of: kind, options: .backwards) else { continue }
            let rest = name[range.upperBound...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, rest.dropFirst(digits.count) == "" || rest.dropFirst(digits.count) == "_reverse"
            else { continue }
            return (
                String(name[..<range.lowerBound]), String(name[range.lowerBound...]),
                digits.count <= 4 ? Int(digits) : nil
            )
        }
        return nil
    }

    /// The state-dict entry for one of our tensors: the one the user named
    /// (its shape checked), or the only unclaimed tensor with that suffix and shape.
    private static func pick(
        _ ours: String, in file: Safetensors, named: String?, excluding: Set<String>, suffix: String,
        shape: ([Int]) -> Bool, expected: String
    ) throws(SafetensorsError) -> String {
        if let named {
            let found = file.tensor(named)?.shape ?? []
            guard shape(found) else {
                throw .invalid("\(named) (the \(ours)) has shape \(found), expected \(expected)")
            }
            return named
        }
        let candidates = file.tensors.filter {
            !excluding.contains($0.name) && $0.name.hasSuffix(suffix) && shape($0.shape)
        }
        .map(\.name)
        guard candidates.count == 1 else {
            if candidates.isEmpty {
                // The usual cause is a count that disagrees: say what the file has instead.
                let others = file.tensors.filter { !excluding.contains($0.name) && $0.name.hasSuffix(suffix) }
                    .map { "\($0.name) \($0.shape)" }
                throw .invalid(
                    "no tensor for the \(ours) (shape \(expected))"
                        + (others.isEmpty ? "" : "; the file has \(others.sorted().joined(separator: ", "))")
                        + "; check the tokenizer and labels, or name it with --map \(ours)=NAME")
            }
            throw .invalid(
                "several tensors could be the \(ours) (\(candidates.sorted().joined(separator: ", "))); name one with --map \(ours)=NAME"
            )
        }
        return candidates[0]
    }
}
