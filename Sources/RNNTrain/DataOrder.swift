import RNNData
import RNNModel
import RNNText

/// Labeled examples read by position, a window at a time: a split's shards
/// (through the sequence policy), or sequences already in memory.
public struct ExampleSet: Sendable {
    public let count: Int
    /// The examples at `positions` (ascending), in that order.
    let read: @Sendable ([Int]) throws -> LabeledSequences

    public init(count: Int, read: @escaping @Sendable ([Int]) throws -> LabeledSequences) {
        self.count = count
        self.read = read
    }

    public init(_ data: LabeledSequences) {
        self.init(count: data.count) { positions in
            data.subset(positions)
        }
    }

    /// The split's examples at `indices` (ascending): position p is example indices[p].
    public init(_ reader: SplitReader, indices: [Int], policy: SequencePolicy, special: SpecialIDs) {
        self.init(count: indices.count) { positions in
            LabeledSequences(shard: try reader.read(positions.map { indices[$0] }), policy: policy, special: special)
        }
    }
}

/// The order in which an epoch's examples reach the gradient, defined by the
/// number of slices S a batch is cut into (processes × threads) and nothing
/// else, so that S slices give the same batches however they are spread over
/// processes and threads:
/// - the examples are cut into blocks of `blockSize` consecutive positions, and
///   stream s (of S) owns the s-th contiguous run of blocks — a process reads
///   only its streams' examples;
/// - each epoch a stream visits its blocks in a seeded random order, holding at
///   most `window` examples at a time (a corpus need not fit in memory), and cuts
///   each window into slices: shuffled, then pools of 50 slices' worth each sorted
///   by length and cut (little idle work in packing), each pool's slices taken in
///   an order all streams share — so a step's slices have similar lengths and
///   no thread or process waits long for another;
/// - step i's batch is the i-th slice of every stream, in stream order.
/// Slice sizes follow from counts alone, so every process knows every batch's
/// size. Everything depends on (seed, epoch, stream), so a resumed run sees the same batches.
public struct DataOrder: Sendable {
    public static let blockSize = 256
    public let count: Int
    public let streams: Int
    public let batchSize: Int
    public let window: Int
    public let seed: UInt64

    public init(count: Int, streams: Int, batchSize: Int, window: Int, seed: UInt64) {
        precondition(streams >= 1 && batchSize >= streams && window >= 1)
        self.count = count
        self.streams = streams
        self.batchSize = batchSize
        self.window = window
        self.seed = seed
    }

    /// Stream s's share of a batch.
    public func sliceSize(_ s: Int) -> Int { batchSize / streams + (s < batchSize % streams ? 1 : 0) }

    /// The positions of stream s's blocks, in storage order.
    func blocks(of s: Int) -> [Range<Int>] {
        let blocks = (count + Self.blockSize - 1) / Self.blockSize
        return (blocks * s / streams..<blocks * (s + 1) / streams).map {
            $0 * Self.blockSize..<min(count, ($0 + 1) * Self.blockSize)
        }
    }

    /// Stream s's generator; negative s: the orders streams share.
    func generator(stream s: Int, epoch: Int) -> SplitMix64 {
        SplitMix64(
            seed: seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(epoch + 1) ^ 0x9E37_79B9_7F4A_7C15
                &* UInt64(bitPattern: Int64(s + 1)))
    }

    /// Stream s's windows in epoch `epoch`: positions, ascending within a window
    /// (the order they are read in), and the generator that cuts them.
    func windows(stream s: Int, epoch: Int) -> ([[Int]], SplitMix64) {
        var rng = generator(stream: s, epoch: epoch)
        var blocks = blocks(of: s)
        blocks.shuffle(using: &rng)
        var windows: [[Range<Int>]] = []
        var held = 0
        for block in blocks {
            if windows.isEmpty || held + block.count > window {
                windows.append([])
                held = 0
            }
            windows[windows.count - 1].append(block)
            held += block.count
        }
        return (windows.map { $0.sorted { $0.lowerBound < $1.lowerBound }.flatMap { Array($0) } }, rng)
    }

    /// A window's slices (indices into the window), as described above; `pools`
    /// counts the stream's pools so far this epoch, which keys the shared orders.
    func slices(lengths: [Int], size: Int, rng: inout SplitMix64, pools: inout Int, epoch: Int) -> [[Int]] {
        var order = Array(lengths.indices)
        order.shuffle(using: &rng)
        var slices: [[Int]] = []
        let pool = size * 50
        var start = 0
        while start < order.count {
            let sorted = order[start..<min(order.count, start + pool)].sorted { lengths[$0] > lengths[$1] }
            var cut = stride(from: 0, to: sorted.count, by: size).map {
                Array(sorted[$0..<min(sorted.count, $0 + size)])
            }
            var shared = generator(stream: -1 - pools, epoch: epoch)
            cut.shuffle(using: &shared)
            slices += cut
            pools += 1
            start += pool
        }
        return slices
    }

    /// Stream s's slice sizes in epoch `epoch`, step by step.
    func sliceSizes(stream s: Int, epoch: Int) -> [Int] {
        var (windows, rng) = windows(stream: s, epoch: epoch)
        var pools = 0
        return windows.flatMap { window in
            slices(
                lengths: [Int](repeating: 0, count: window.count), size: sliceSize(s), rng: &rng, pools: &pools,
                epoch: epoch
            ).map(\.count)
        }
    }

    /// The number of examples in each step's batch in epoch `epoch`.
    public func batchSizes(epoch: Int) -> [Int] {
        var sizes: [Int] = []
        for s in 0..<streams {
            for (step, size) in sliceSizes(stream: s, epoch: epoch).enumerated() {
                if step == sizes.count { sizes.append(0) }
                sizes[step] += size
            }
        }
        return sizes
    }

    /// Steps per epoch as the learning-rate schedule counts them (the epochs'
    /// own counts differ by a step or two with the block order).
    public var nominalSteps: Int { (count + batchSize - 1) / batchSize }
}

/// One stream's slices through an epoch, reading a window when the last one is used up.
final class StreamCursor {
    let set: ExampleSet
    let order: DataOrder
    let epoch: Int
    let size: Int
    var windows: [[Int]]
    var rng: SplitMix64
    var pools = 0
    var data = LabeledSequences(sequences: [], labels: [])
    var slices: [[Int]] = []

    init(_ order: DataOrder, stream s: Int, epoch: Int, set: ExampleSet) {
        self.set = set
        self.order = order
        self.epoch = epoch
        size = order.sliceSize(s)
        (windows, rng) = order.windows(stream: s, epoch: epoch)
        windows.reverse()
    }

    /// The next slice, or nil when the stream is done for the epoch.
    func next() throws -> LabeledSequences? {
        if slices.isEmpty {
            guard let window = windows.popLast() else { return nil }
            data = try set.read(window)
            slices = order.slices(
                lengths: data.sequences.map(\.count), size: size, rng: &rng, pools: &pools, epoch: epoch
            ).reversed()
        }
        let slice = slices.removeLast()
        return data.subset(slice)
    }
}
