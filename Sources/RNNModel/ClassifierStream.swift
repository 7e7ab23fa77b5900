import RNNKernels
import RNNText

/// A text classified while it arrives: bytes are fed in any pieces (mid-word,
/// mid-code point), and at any point `probabilities()` equals, bit for bit,
/// `Classifier.probabilities` of everything fed so far. Each piece costs its
/// own tokens: bytes are tokenized once the tokenizer says what follows cannot
/// change them (`Tokenizer.stableLength`), and their tokens advance a saved
/// recurrent state; only the unfinished word and the end marker are run again
/// for each query, from a copy of that state.
public struct ClassifierStream: Sendable {
    /// Why a model cannot be streamed.
    public enum Refusal: Error, CustomStringConvertible {
        case padded(SequencePolicy.Padding)
        case bidirectional
        case keepsTheEnd

        public var description: String {
            switch self {
            case .padded(let padding):
                return
                    "the model pads every text (padding \(padding.rawValue)): the pads' position depends on the whole text's length"
            case .bidirectional:
                return "the model is bidirectional: its reverse direction starts from the text's last token"
            case .keepsTheEnd:
                return
                    "the model truncates from the head, keeping a text's last tokens: which tokens it reads depends on the whole text"
            }
        }
    }

    public let classifier: Classifier
    /// Fed bytes not yet tokenized: the text after its last stable point.
    private var pending: [UInt8] = []
    /// Content tokens read into the state (at most `contentLimit`).
    private var content = 0
    private var state: Network.SequenceState
    private var probe: Network.SequenceState
    private var tokenizerWorkspace = TokenizerWorkspace()
    private var ids: [Int32] = []
    private let workspace = Network.SequenceWorkspace()
    /// Positions of the model's sequence (markers included) and content tokens it can hold;
    /// the whole-text path cuts at the same places (`Classifier.sequence`).
    private let positionLimit: Int
    private let contentLimit: Int
    private let start: Int32?
    private let end: Int32?

    public init(_ classifier: Classifier) throws(Refusal) {
        let policy = classifier.policy
        guard policy.padding == .none else { throw .padded(policy.padding) }
        guard !classifier.architecture.bidirectional else { throw .bidirectional }
        guard policy.truncation == .tail else { throw .keepsTheEnd }
        self.classifier = classifier
        let special = classifier.tokenizer.specialIDs
        start = policy.markers ? special.start : nil
        end = policy.markers ? special.end : nil
        positionLimit = min(policy.maxLength ?? Int.max, Classifier.maxTokens)
        let markerCount = (start == nil ? 0 : 1) + (end == nil ? 0 : 1)
        let budget = policy.maxLength.map { max(0, $0 - markerCount) } ?? Int.max
        contentLimit = max(0, min(budget, positionLimit - (start == nil ? 0 : 1)))
        state = classifier.network.emptySequenceState()
        probe = classifier.network.emptySequenceState()
        reset()
    }

    /// Forgets the text: the stream is as new.
    public mutating func reset() {
        pending.removeAll(keepingCapacity: true)
        content = 0
        state.assign(classifier.network.emptySequenceState())
        if let start { advance(&state, [start][...]) }
    }

    public mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) {
        // Past the content the model reads, more text changes nothing.
        guard content < contentLimit else { return }
        let known = pending.count
        pending.append(contentsOf: bytes)
        let stable = pending.withUnsafeBufferPointer { classifier.tokenizer.stableLength($0, longerThan: known) }
        guard stable > 0 else { return }
        tokenize(pending[..<stable])
        pending.removeFirst(stable)
        let taken = min(ids.count, contentLimit - content)
        advance(&state, ids[..<taken])
        content += taken
        if content == contentLimit { pending.removeAll() }
    }

    /// Class probabilities of the text fed so far.
    public mutating func probabilities() -> [Float] {
        probe.assign(state)
        tokenize(pending[...])
        var tail = ids.prefix(contentLimit - content)
        if let end, probe.length + tail.count < positionLimit { tail.append(end) }
        advance(&probe, tail)
        let network = classifier.network
        var logits = classifier.parameters.withUnsafeBufferPointer {
            network.logits(probe, parameters: $0.baseAddress!, weights: classifier.weights, workspace: workspace)
        }
        network.architecture.output.probabilities(&logits, classes: logits.count)
        return logits
    }

    private mutating func tokenize(_ bytes: ArraySlice<UInt8>) {
        ids.removeAll(keepingCapacity: true)
        bytes.withUnsafeBufferPointer {
            classifier.tokenizer.encode($0, into: &ids, workspace: &tokenizerWorkspace)
        }
    }

    private func advance(_ target: inout Network.SequenceState, _ tokens: ArraySlice<Int32>) {
        let network = classifier.network, weights = classifier.weights, workspace = workspace
        classifier.parameters.withUnsafeBufferPointer {
            network.advance(
                &target, tokens: tokens, parameters: $0.baseAddress!, weights: weights, workspace: workspace)
        }
    }
}
