// One time step of a recurrent layer, fused: the recurrent product W_hh·h of
// every row, the gate activations and the new state, in one pass whose
// accumulators never leave registers.
//
// The source is written once and compiled once per instruction set: the
// generic kernels here are `@inlinable`, and each instruction-set module
// (RNNKernelsAVX2, RNNKernelsAVX512) instantiates them with its own
// `InstructionSet` type and tile sizes while being compiled for that CPU.
// Specializations are named after that type, so the linker can never mix a
// wide copy into the baseline path. `RecurrentKernels.selected` (RNNModel)
// picks one at run time from what the CPU reports.

import CHardware

/// What differs between instruction sets inside the kernels.
public protocol InstructionSet {
    /// a·b + c, fused where the CPU has FMA (Swift never contracts on its own).
    static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector
    /// e^x; a default for every instruction set is in VectorMath.
    static func exp(_ x: Vector) -> Vector
}

/// Baseline x86-64 (SSE2): no FMA.
public enum Baseline: InstructionSet {
    @inlinable @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { a * b + c }
}

/// W_hh and b_hh laid out for the step kernels. Hidden units are taken in
/// chunks of 16 (one vector); a chunk's panel holds, for every k, the 16 rows
/// of each gate side by side — [chunk][k][gate][16] — so one tile streams one
/// contiguous panel and finishes its units' gates without a second pass.
/// Units past `hidden` in the last chunk have zero weights.
public struct PackedRecurrentWeights: Sendable {
    public let hidden: Int
    public let gates: Int
    public private(set) var weights: AlignedFloats
    public private(set) var bias: AlignedFloats

    @inlinable public static var lanes: Int { Vector.scalarCount }

    public var chunks: Int { (hidden + Self.lanes - 1) / Self.lanes }

    public init(hidden: Int, gates: Int) {
        self.hidden = hidden
        self.gates = gates
        let chunks = (hidden + Self.lanes - 1) / Self.lanes
        weights = AlignedFloats(count: chunks * hidden * gates * Self.lanes)
        bias = AlignedFloats(count: chunks * gates * Self.lanes)
    }

    /// Packs W_hh (gates·hidden × hidden, row-major, gate blocks in the model's order) and b_hh.
    public init(whh: UnsafePointer<Float>, bhh: UnsafePointer<Float>, hidden: Int, gates: Int) {
        self.init(hidden: hidden, gates: gates)
        pack(whh: whh, bhh: bhh)
    }

    /// Repacks in place (training repacks after every optimizer step; no
    /// allocation unless a copy of this value still shares the buffers).
    public mutating func pack(whh: UnsafePointer<Float>, bhh: UnsafePointer<Float>) {
        if !isKnownUniquelyReferenced(&weights) { weights = weights.copy() }
        if !isKnownUniquelyReferenced(&bias) { bias = bias.copy() }
        let H = hidden, L = Self.lanes, gates = gates, chunks = chunks
        let w = weights.baseAddress, b = bias.baseAddress
        for chunk in 0..<chunks {
            let panel = w + chunk * H * gates * L
            for gate in 0..<gates {
                for lane in 0..<L {
                    let unit = chunk * L + lane
                    guard unit < H else { continue }
                    let source = whh + (gate * H + unit) * H
                    for k in 0..<H { panel[(k * gates + gate) * L + lane] = source[k] }
                    b[(chunk * gates + gate) * L + lane] = bhh[gate * H + unit]
                }
            }
        }
    }
}

/// Everything one step reads and writes. Rows are the step's packed rows;
/// rows below `continuing` carry on from `previous` (and `previousCell`), the
/// others start from a zero state.
public struct StepArguments {
    public var rows: Int
    public var continuing: Int
    public var hidden: Int
    /// W_ih·x + b_ih of each row, stride gates·hidden — or, when `inputTokens`
    /// is set, a per-token table of them (see Network.tokenProjectionTables)
    /// read at each row's token: at inference no row is copied out of it.
    public var input: UnsafePointer<Float>
    public var inputTokens: UnsafePointer<Int32>?
    public var previous: UnsafePointer<Float>
    public var ldPrevious: Int
    public var output: UnsafeMutablePointer<Float>
    public var ldOutput: Int
    /// LSTM cell states (stride `ldCell`); nil for the other cells.
    public var previousCell: UnsafePointer<Float>?
    public var cell: UnsafeMutablePointer<Float>?
    public var ldCell: Int
    /// Post-activation gates for backpropagation, 4·hidden per row (GRU: r z n and
    /// the recurrent n-projection; LSTM: i f g o); nil at inference.
    public var gateCache: UnsafeMutablePointer<Float>?
    /// Sums W_hh·h from the last k to the first. Alternate steps set it: at
    /// batch 1 W_hh (196 KB at hidden 128) streams from L2 every step, and the
    /// part the previous step read last is still in L1 if it comes first.
    public var descending: Bool

    public init(rows: Int, continuing: Int, hidden: Int, input: UnsafePointer<Float>,
                inputTokens: UnsafePointer<Int32>? = nil,
                previous: UnsafePointer<Float>, ldPrevious: Int, output: UnsafeMutablePointer<Float>, ldOutput: Int,
                previousCell: UnsafePointer<Float>? = nil, cell: UnsafeMutablePointer<Float>? = nil, ldCell: Int = 0,
                gateCache: UnsafeMutablePointer<Float>? = nil, descending: Bool = false) {
        self.rows = rows
        self.continuing = continuing
        self.hidden = hidden
        self.input = input
        self.inputTokens = inputTokens
        self.previous = previous
        self.ldPrevious = ldPrevious
        self.output = output
        self.ldOutput = ldOutput
        self.previousCell = previousCell
        self.cell = cell
        self.ldCell = ldCell
        self.gateCache = gateCache
        self.descending = descending
    }
}

extension StepArguments {
    /// Keeps four gate vectors of one chunk for backpropagation, when training.
    @inlinable @inline(__always)
    public func cacheGates(_ g0: Vector, _ g1: Vector, _ g2: Vector, _ g3: Vector, row: Int, unit j: Int, lanes: Int) {
        guard let cache = gateCache else { return }
        let c = cache + row * 4 * hidden + j
        store(g0, c, lanes)
        store(g1, c + hidden, lanes)
        store(g2, c + 2 * hidden, lanes)
        store(g3, c + 3 * hidden, lanes)
    }

    /// Where `row`'s input projection starts, for a cell of `gates` gates.
    @inlinable @inline(__always)
    public func input(row: Int, gates: Int) -> UnsafePointer<Float> {
        let width = gates * hidden
        if let tokens = inputTokens { return input + Int(tokens[row]) * width }
        return input + row * width
    }
}

/// A cell's equations on one chunk of one row, given the recurrent
/// pre-activations W_hh·h + b_hh of its gates.
public protocol RecurrentCell {
    static var gates: Int { get }
    static func finish<ISA: InstructionSet>(_ recurrent: UnsafePointer<Vector>, row: Int, unit j: Int, lanes: Int,
                                            continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type)
}

/// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
public enum RNNCell: RecurrentCell {
    public static var gates: Int { 1 }

    @inlinable @inline(__always)
    public static func finish<ISA: InstructionSet>(_ recurrent: UnsafePointer<Vector>, row: Int, unit j: Int, lanes: Int,
                                                   continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type) {
        let x = a.input(row: row, gates: gates)
        store(ISA.tanh(load(x + j, lanes) + recurrent[0]), a.output + row * a.ldOutput + j, lanes)
    }
}

/// PyTorch's GRU (gate order r, z, n; the reset gate scales the recurrent n-projection).
public enum GRUCell: RecurrentCell {
    public static var gates: Int { 3 }

    @inlinable @inline(__always)
    public static func finish<ISA: InstructionSet>(_ recurrent: UnsafePointer<Vector>, row: Int, unit j: Int, lanes: Int,
                                                   continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type) {
        let H = a.hidden, x = a.input(row: row, gates: gates)
        let r = ISA.sigmoid(load(x + j, lanes) + recurrent[0])
        let z = ISA.sigmoid(load(x + H + j, lanes) + recurrent[1])
        let hn = recurrent[2]
        let n = ISA.tanh(load(x + 2 * H + j, lanes) + r * hn)
        let previous = continues ? load(a.previous + row * a.ldPrevious + j, lanes) : .zero
        store((1 - z) * n + z * previous, a.output + row * a.ldOutput + j, lanes)
        a.cacheGates(r, z, n, hn, row: row, unit: j, lanes: lanes)
    }
}

/// PyTorch's LSTM (gate order i, f, g, o).
public enum LSTMCell: RecurrentCell {
    public static var gates: Int { 4 }

    @inlinable @inline(__always)
    public static func finish<ISA: InstructionSet>(_ recurrent: UnsafePointer<Vector>, row: Int, unit j: Int, lanes: Int,
                                                   continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type) {
        let H = a.hidden, x = a.input(row: row, gates: gates)
        let i = ISA.sigmoid(load(x + j, lanes) + recurrent[0])
        let f = ISA.sigmoid(load(x + H + j, lanes) + recurrent[1])
        let g = ISA.tanh(load(x + 2 * H + j, lanes) + recurrent[2])
        let o = ISA.sigmoid(load(x + 3 * H + j, lanes) + recurrent[3])
        let previous = continues ? load(a.previousCell! + row * a.ldCell + j, lanes) : .zero
        let cell = f * previous + i * g
        store(cell, a.cell! + row * a.ldCell + j, lanes)
        store(o * ISA.tanh(cell), a.output + row * a.ldOutput + j, lanes)
        a.cacheGates(i, f, g, o, row: row, unit: j, lanes: lanes)
    }
}

/// The step kernel for one instruction set and cell. `G` is the cell's gate
/// count; a tile is `Rows` rows × one chunk when there are that many rows,
/// then two rows × two chunks, then one row × `Chunks` chunks — each keeps
/// Rows·G (4·G, Chunks·G) vector accumulators in registers, sized per
/// instruction set to fill its register file while giving the FMA units
/// enough independent chains.
public enum RecurrentStep<ISA: InstructionSet, Cell: RecurrentCell, let G: Int, let Rows: Int, let Chunks: Int> {
    @inlinable @inline(__always)
    public static func run(_ a: StepArguments, _ packed: borrowing PackedRecurrentWeights) {
        precondition(Cell.gates == G && packed.gates == G && packed.hidden == a.hidden, "packed weights do not match the cell")
        let weights = UnsafePointer(packed.weights.baseAddress), bias = UnsafePointer(packed.bias.baseAddress)
        schedule(from: 0, to: a.continuing, k: a.hidden, a, weights, bias, chunks: packed.chunks)
        schedule(from: a.continuing, to: a.rows, k: 0, a, weights, bias, chunks: packed.chunks)
    }

    @inlinable @inline(__always)
    static func schedule(from first: Int, to end: Int, k: Int, _ a: borrowing StepArguments,
                         _ weights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, chunks: Int) {
        let panelSize = a.hidden * G * PackedRecurrentWeights.lanes
        let previous = a.previous, ldPrevious = a.ldPrevious
        var row = first
        let tiledEnd = first + (end - first) / Rows * Rows
        if tiledEnd > first {
            // Chunk-outer: one chunk's panel stays in L1 while every row tile uses it.
            for chunk in 0..<chunks {
                var r = first
                while r < tiledEnd {
                    let rowStart = r
                    tile(InlineArray<Rows, UnsafePointer<Float>> { previous + (rowStart + $0) * ldPrevious }, firstRow: r,
                         [weights + chunk * panelSize] as InlineArray<1, UnsafePointer<Float>>, firstChunk: chunk,
                         k: k, a, bias)
                    r += Rows
                }
            }
            row = tiledEnd
        }
        // Leftover rows in pairs while they last (2 rows × 2 chunks: half the loads
        // per multiply-add of a one-row tile, which waits on its weight loads).
        while Rows > 2 && row + 2 <= end {
            let pair = InlineArray<2, UnsafePointer<Float>> { previous + (row + $0) * ldPrevious }
            var chunk = 0
            while chunk + 2 <= chunks {
                let firstChunk = chunk
                tile(pair, firstRow: row, InlineArray<2, UnsafePointer<Float>> { weights + (firstChunk + $0) * panelSize },
                     firstChunk: chunk, k: k, a, bias)
                chunk += 2
            }
            if chunk < chunks {
                tile(pair, firstRow: row, [weights + chunk * panelSize] as InlineArray<1, UnsafePointer<Float>>, firstChunk: chunk,
                     k: k, a, bias)
            }
            row += 2
        }
        while row < end {
            let rowPointer = [previous + row * ldPrevious] as InlineArray<1, UnsafePointer<Float>>
            var chunk = 0
            while chunk + Chunks <= chunks {
                let firstChunk = chunk
                tile(rowPointer, firstRow: row, InlineArray<Chunks, UnsafePointer<Float>> { weights + (firstChunk + $0) * panelSize },
                     firstChunk: chunk, k: k, a, bias)
                chunk += Chunks
            }
            while chunk < chunks {
                tile(rowPointer, firstRow: row, [weights + chunk * panelSize] as InlineArray<1, UnsafePointer<Float>>,
                     firstChunk: chunk, k: k, a, bias)
                chunk += 1
            }
            row += 1
        }
    }

    /// TR rows × TC chunks: accumulate b_hh + Σ_k h[k]·panel[k], then finish each (row, chunk).
    /// k = 0 is a tile of rows that start from a zero state.
    @inlinable @inline(__always)
    static func tile<let TR: Int, let TC: Int>(_ rowPointers: InlineArray<TR, UnsafePointer<Float>>, firstRow: Int,
                                               _ panels: InlineArray<TC, UnsafePointer<Float>>, firstChunk: Int,
                                               k K: Int, _ a: borrowing StepArguments, _ bias: UnsafePointer<Float>) {
        let L = PackedRecurrentWeights.lanes
        // At inference the input projections are rows of a per-token table too
        // large for L2, read at random tokens: ask for them now, and the k loop
        // below hides the latency (without it, a third of the step waits on them).
        for r in 0..<TR {
            let x = a.input(row: firstRow + r, gates: G)
            for c in 0..<TC { for g in 0..<G { rnnkit_prefetch(x + g * a.hidden + (firstChunk + c) * L) } }
        }
        var accumulators = InlineArray<TR, InlineArray<TC, InlineArray<G, Vector>>>(
            repeating: InlineArray(repeating: InlineArray(repeating: .zero)))
        for c in 0..<TC {
            for g in 0..<G {
                let b = load(bias + ((firstChunk + c) * G + g) * L, L)
                for r in 0..<TR { accumulators[r][c][g] = b }
            }
        }
        let descending = a.descending
        for i in 0..<K {
            let k = descending ? K - 1 - i : i
            for c in 0..<TC {
                let w = panels[c] + k * G * L
                let weights = InlineArray<G, Vector> { load(w + $0 * L, L) }
                for r in 0..<TR {
                    let x = Vector(repeating: rowPointers[r][k])
                    for g in 0..<G { accumulators[r][c][g] = ISA.multiplyAdd(x, weights[g], accumulators[r][c][g]) }
                }
            }
        }
        // The epilogue reads the sums from memory: were it to take the
        // accumulators' address, they would be stored on every k above. The
        // copy is a stack variable: a temporary allocation of over 1 KiB
        // would be a malloc per tile on Linux.
        let arguments = copy a
        var sums = accumulators
        withUnsafeMutablePointer(to: &sums) { tilePointer in
            let vectors = UnsafeMutableRawPointer(tilePointer).assumingMemoryBound(to: Vector.self)
            for r in 0..<TR {
                for c in 0..<TC {
                    finish(vectors + (r * TC + c) * G, row: firstRow + r, unit: (firstChunk + c) * L, continues: K > 0, arguments)
                }
            }
        }
    }
}

extension RecurrentStep {
    /// One (row, chunk): out of line, as a tile has up to 24 of them; a
    /// whole chunk gets the branch-free path.
    @inlinable @inline(never)
    static func finish(_ sums: UnsafePointer<Vector>, row: Int, unit j: Int, continues: Bool, _ a: StepArguments) {
        let L = PackedRecurrentWeights.lanes
        if a.hidden - j >= L {
            Cell.finish(sums, row: row, unit: j, lanes: L, continues: continues, a, ISA.self)
        } else {
            Cell.finish(sums, row: row, unit: j, lanes: a.hidden - j, continues: continues, a, ISA.self)
        }
    }
}

/// The kernels of one instruction set: the recurrent steps, the per-step
/// matrix products of their backpropagation, and the Adam update.
public struct RecurrentKernels: Sendable {
    public typealias Step = @Sendable (StepArguments, borrowing PackedRecurrentWeights) -> Void
    public let instructionSet: String
    public let rnn: Step
    public let gru: Step
    public let lstm: Step
    public let product: @Sendable (MatrixArguments) -> Void
    public typealias Adam = @Sendable (AdamStep, _ count: Int, _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>?,
                                       _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>) -> Void
    public let adam: Adam

    public init(instructionSet: String, rnn: @escaping Step, gru: @escaping Step, lstm: @escaping Step,
                product: @escaping @Sendable (MatrixArguments) -> Void, adam: @escaping Adam) {
        self.instructionSet = instructionSet
        self.rnn = rnn
        self.gru = gru
        self.lstm = lstm
        self.product = product
        self.adam = adam
    }

    /// Runs on any x86-64. One row per tile: SSE has 16 registers of 4 floats.
    public static let baseline = RecurrentKernels(
        instructionSet: "baseline",
        rnn: { RecurrentStep<Baseline, RNNCell, 1, 2, 2>.run($0, $1) },
        gru: { RecurrentStep<Baseline, GRUCell, 3, 1, 1>.run($0, $1) },
        lstm: { RecurrentStep<Baseline, LSTMCell, 4, 1, 1>.run($0, $1) },
        product: { MatrixProduct<Baseline, 2, 1>.run($0) },
        adam: { AdamUpdate<Baseline>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })
}
