/// Sequences laid out time-major without padding, as PyTorch's PackedSequence:
/// sequences are sorted by length (longest first), so at step t the active
/// ones are the first `batchSizes[t]`, and step t's rows start at `stepOffsets[t]`.
public struct PackedBatch: Sendable {
    /// Length of each sequence, non-increasing.
    public let lengths: [Int]
    public let batchSizes: [Int]
    public let stepOffsets: [Int]
    public let tokens: [Int32]

    public var count: Int { lengths.count }
    public var steps: Int { batchSizes.count }
    public var rows: Int { tokens.count }

    /// `sequences` must be sorted by non-increasing length.
    public init(sortedSequences sequences: [ArraySlice<Int32>]) {
        lengths = sequences.map(\.count)
        precondition(
            zip(lengths, lengths.dropFirst()).allSatisfy { $0 >= $1 },
            "sequences must be sorted by length, longest first")
        let steps = lengths.first ?? 0
        var batchSizes = [Int](repeating: 0, count: steps)
        for length in lengths { for t in 0..<length { batchSizes[t] += 1 } }
        var stepOffsets = [0]
        for size in batchSizes { stepOffsets.append(stepOffsets.last! + size) }
        var tokens = [Int32](repeating: 0, count: stepOffsets.last!)
        for (b, sequence) in sequences.enumerated() {
            for (t, token) in sequence.enumerated() { tokens[stepOffsets[t] + b] = token }
        }
        self.batchSizes = batchSizes
        self.stepOffsets = stepOffsets
        self.tokens = tokens
    }

    /// Packs sequences in any order: `order[i]` is the input index of packed
    /// sequence i (longest first; ties keep input order, so results are reproducible).
    public static func packing(_ sequences: [ArraySlice<Int32>]) -> (batch: PackedBatch, order: [Int]) {
        let order = sequences.indices.sorted {
            sequences[$0].count != sequences[$1].count ? sequences[$0].count > sequences[$1].count : $0 < $1
        }
        return (PackedBatch(sortedSequences: order.map { sequences[$0] }), order)
    }

    /// The packed row of sequence `b` at step `t`.
    @inline(__always) public func row(sequence b: Int, step t: Int) -> Int { stepOffsets[t] + b }
}

/// The steps of one direction in the order the forward pass takes them
/// (backward walks them in reverse): at step t the live rows are the first
/// `rows` sequences, and the first `continuing` of them carry on from the step
/// taken before, whose rows start at `previousStart`; the others start from a
/// zero state. Padded batches are the case where every sequence has every step.
public struct StepOrder: RandomAccessCollection, Sendable {
    public struct Step: Sendable {
        /// Position in the order taken.
        public let index: Int
        public let time: Int
        public let rows: Int
        /// The packed row where this step's rows start.
        public let start: Int
        public let continuing: Int
        public let previousStart: Int
    }

    private let steps: [Step]

    public init(_ batch: PackedBatch, reverse: Bool) {
        let times = reverse ? Array((0..<batch.steps).reversed()) : Array(0..<batch.steps)
        steps = times.enumerated().map { index, t in
            let previous = index == 0 ? nil : times[index - 1]
            return Step(
                index: index, time: t, rows: batch.batchSizes[t], start: batch.stepOffsets[t],
                continuing: previous.map { Swift.min(batch.batchSizes[t], batch.batchSizes[$0]) } ?? 0,
                previousStart: previous.map { batch.stepOffsets[$0] } ?? 0)
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { steps.count }
    public subscript(position: Int) -> Step { steps[position] }
}
