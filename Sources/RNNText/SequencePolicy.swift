import RNNBinary

/// How content ids become the sequence a model reads: markers, truncation and
/// padding. Prep stores content only; the trainer and the runtime both apply
/// this one policy, so inference sees exactly what training saw.
public struct SequencePolicy: Codable, Equatable, Sendable {
    public enum Padding: String, Codable, Sendable, CaseIterable {
        /// Packed sequences: no padding is stored or computed.
        case none
        /// Pads before the text (Keras' default), to `maxLength`.
        case pre
        /// Pads after the text, to `maxLength`.
        case post
    }

    public enum Truncation: String, Codable, Sendable, CaseIterable {
        /// Drop tokens from the start, keep the end.
        case head
        /// Drop tokens from the end, keep the start.
        case tail
    }

    /// Longest sequence, markers included; nil = no limit (packing only).
    public var maxLength: Int?
    public var padding: Padding
    public var truncation: Truncation
    /// Whether `<start>` (word-level) or `[CLS]` … `[SEP]` (WordPiece) are added.
    public var markers: Bool

    public init(maxLength: Int? = nil, padding: Padding = .none, truncation: Truncation = .tail, markers: Bool = true) {
        self.maxLength = maxLength
        self.padding = padding
        self.truncation = truncation
        self.markers = markers
    }

    /// Why the policy is unusable, or nil.
    public var problem: String? {
        if let maxLength, maxLength < 1 { return "max length must be at least 1" }
        if padding != .none && maxLength == nil { return "padding \(padding.rawValue) needs a max length" }
        return nil
    }

    /// The model's input for `content` (ids without markers).
    public func apply<C: Collection>(_ content: C, special: SpecialIDs) -> [Int32]
    where C.Element == Int32, C.Index == Int {
        let start: [Int32] = markers ? [special.start] : []
        let end: [Int32] = markers ? (special.end.map { [$0] } ?? []) : []
        var kept = content[...]
        if let maxLength {
            let budget = max(0, maxLength - start.count - end.count)
            if kept.count > budget {
                kept = truncation == .tail ? kept.prefix(budget) : kept.suffix(budget)
            }
        }
        var sequence = start + kept + end
        if let maxLength, sequence.count > maxLength { sequence = Array(sequence.prefix(maxLength)) }
        if let maxLength, padding != .none, sequence.count < maxLength {
            let pads = [Int32](repeating: special.padding, count: maxLength - sequence.count)
            sequence = padding == .post ? sequence + pads : pads + sequence
        }
        return sequence
    }
}

extension SequencePolicy {
    /// Its keys in a model file (Artifacts/model-format.md).
    public func write(to file: inout ModelFile) {
        file.set("sequence.max_length", .int(Int64(maxLength ?? 0)))
        file.set("sequence.padding", .string(padding.rawValue))
        file.set("sequence.truncation", .string(truncation.rawValue))
        file.set("sequence.markers", .bool(markers))
    }

    /// Reads and checks what `write` wrote.
    public init(file: ModelFile) throws(ModelFileError) {
        guard let padding = Padding(rawValue: try file.string("sequence.padding")),
            let truncation = Truncation(rawValue: try file.string("sequence.truncation"))
        else {
            throw .invalid("unknown sequence padding or truncation")
        }
        let maxLength = try file.int("sequence.max_length")
        self.init(
            maxLength: maxLength == 0 ? nil : maxLength, padding: padding, truncation: truncation,
            markers: try file.bool("sequence.markers"))
        if let problem { throw .invalid(problem) }
    }
}
