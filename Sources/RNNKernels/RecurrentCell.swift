// What a recurrent cell is to the kernels: its gates, what its forward step
// keeps for backward, and its equations forward, backward and in Double.
// Each cell is one file in Cells/; the step kernel (RecurrentStep) tiles any
// of them, and `CellKind` (RNNModel) is the one place that picks one.
//
// Shapes, per step of a layer and direction (rows = the step's packed rows):
//   input projection W_ih·x + b_ih        [rows, gates·H] at stride ldInput
//   state h, previous state               [rows, H] at stride ldOutput / ldPrevious
//   LSTM cell state c                     [rows, H] at stride ldCell
//   gate cache (training)                 [rows, 4·H]: four values per unit, the cell's `cacheLayout`
//   input projection gradient             [rows, gates·H] at stride ldInput
//   recurrent projection gradient         [rows, gates·H]
//
// Training may give one buffer for a step's input projection, its gate cache
// and its input projection's gradient (ldInput = 4·H): the forward step reads
// each chunk's projections before it writes that chunk's cache, and the
// backward step reads each chunk's cache before it writes its gradients.

/// A cell's equations on one chunk (a vector of hidden units) of one row.
public protocol RecurrentCell {
    /// Gate blocks of W_ih, W_hh, b_ih and b_hh in order, as the model file names them.
    static var gateOrder: String { get }
    static var gates: Int { get }
    /// A model-file key and value naming the formulation, for cells that have several.
    static var variant: (key: String, value: String)? { get }
    /// What the forward step caches per unit for backward, in order (empty: nothing).
    static var cacheLayout: [String] { get }
    /// LSTM: a cell state beside h.
    static var keepsCellState: Bool { get }
    /// The recurrent projection's gradient differs from the input projection's
    /// (GRU: r scales W_hn·h), so backward keeps a second buffer for it.
    static var separateRecurrentGradient: Bool { get }
    /// dL/dh of the previous step has a path besides W_hh (GRU: z·dh), which
    /// the backward step writes first and the W_hh product adds to.
    static var directPathToPrevious: Bool { get }

    /// The new states of P places (a row and its first unit each, `lanes` units
    /// wide) from their recurrent pre-activations W_hh·h + b_hh (`recurrent[p]`,
    /// one vector per gate). Written a stage at a time across the places, so
    /// their chains of exponentials and divisions run interleaved.
    static func forward<ISA: InstructionSet, let P: Int>(
        _ recurrent: InlineArray<P, UnsafePointer<ISA.Vector>>, rows: InlineArray<P, Int>, units: InlineArray<P, Int>,
        lanes: Int, continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type)
    /// The gate pre-activation gradients of every row of one step.
    static func backward<ISA: InstructionSet>(_ a: borrowing GradientStepArguments, _ isa: ISA.Type)
    /// The equations of one unit in Double: `input` and `recurrent` hold the
    /// unit's W_ih·x + b_ih and W_hh·h + b_hh per gate. Returns the new state,
    /// the new cell state (LSTM; else 0) and the cached values.
    static func reference(input: [Double], recurrent: [Double], previous: Double, previousCell: Double)
        -> (h: Double, c: Double, cache: [Double])
    /// This cell's kernels in `set`.
    static func kernels(in set: KernelSet) -> KernelSet.CellKernels
}

extension RecurrentCell {
    public static var variant: (key: String, value: String)? { nil }
    public static var keepsCellState: Bool { false }
    public static var separateRecurrentGradient: Bool { false }
    public static var directPathToPrevious: Bool { false }
}

/// Everything one step reads and writes. Rows are the step's packed rows;
/// rows below `continuing` carry on from `previous` (and `previousCell`), the
/// others start from a zero state.
public struct StepArguments {
    public var rows: Int
    public var continuing: Int
    public var hidden: Int
    /// W_ih·x + b_ih of each row, stride `ldInput` — or, when `inputTokens`
    /// is set, a per-token table of them (see Network.tokenProjectionTables)
    /// read at each row's token: at inference no row is copied out of it.
    public var input: UnsafePointer<Float>
    public var ldInput: Int
    public var inputTokens: UnsafePointer<Int32>?
    public var previous: UnsafePointer<Float>
    public var ldPrevious: Int
    public var output: UnsafeMutablePointer<Float>
    public var ldOutput: Int
    /// LSTM cell states (stride `ldCell`); nil for the other cells.
    public var previousCell: UnsafePointer<Float>?
    public var cell: UnsafeMutablePointer<Float>?
    public var ldCell: Int
    /// The gate cache for backpropagation, [rows, 4·H] in the cell's
    /// `cacheLayout`; nil at inference and for cells that cache nothing.
    public var gateCache: UnsafeMutablePointer<Float>?
    /// Sums W_hh·h from the last k to the first. Alternate steps set it: at
    /// batch 1 W_hh (196 KB at hidden 128) streams from L2 every step, and the
    /// part the previous step read last is still in L1 if it comes first.
    public var descending: Bool

    public init(
        rows: Int, continuing: Int, hidden: Int, input: UnsafePointer<Float>, ldInput: Int,
        inputTokens: UnsafePointer<Int32>? = nil,
        previous: UnsafePointer<Float>, ldPrevious: Int, output: UnsafeMutablePointer<Float>, ldOutput: Int,
        previousCell: UnsafePointer<Float>? = nil, cell: UnsafeMutablePointer<Float>? = nil, ldCell: Int = 0,
        gateCache: UnsafeMutablePointer<Float>? = nil, descending: Bool = false
    ) {
        self.rows = rows
        self.continuing = continuing
        self.hidden = hidden
        self.input = input
        self.ldInput = ldInput
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
    /// Keeps four values of one chunk for backpropagation, when training.
    @inlinable @inline(__always)
    public func cacheGates<V: SIMD>(_ g0: V, _ g1: V, _ g2: V, _ g3: V, row: Int, unit j: Int, lanes: Int)
    where V.Scalar == Float {
        guard let cache = gateCache else { return }
        let c = cache + row * 4 * hidden + j
        store(g0, c, lanes)
        store(g1, c + hidden, lanes)
        store(g2, c + 2 * hidden, lanes)
        store(g3, c + 3 * hidden, lanes)
    }

    /// Where `row`'s input projection starts.
    @inlinable @inline(__always)
    public func input(row: Int) -> UnsafePointer<Float> {
        input + (inputTokens.map { Int($0[row]) } ?? row) * ldInput
    }

    /// Where each place's input projection starts (its row's, at its unit).
    @inlinable @inline(__always)
    public func inputs<let P: Int>(rows: InlineArray<P, Int>, units: InlineArray<P, Int>)
        -> InlineArray<P, UnsafePointer<Float>>
    {
        var x = InlineArray<P, UnsafePointer<Float>>(repeating: input)
        for p in 0..<P { x[p] = input(row: rows[p]) + units[p] }
        return x
    }
}

extension RecurrentCell {
    /// A step tile's epilogue: `count` places, `place(i)` giving one's sums
    /// (a vector per gate), row and first unit. Neighbours of one width finish
    /// in pairs, so two chains of exponentials and divisions interleave (AVX2
    /// GRU step 80 → 86 GFLOP/s; fours gained no more there and cost AVX-512 5 %).
    @inlinable @inline(__always)
    public static func finish<ISA: InstructionSet>(
        places count: Int, continues: Bool, _ a: StepArguments, _ isa: ISA.Type,
        _ place: (Int) -> (sums: UnsafePointer<ISA.Vector>, row: Int, unit: Int)
    ) {
        let L = ISA.Vector.scalarCount
        var i = 0
        while i < count {
            let first = place(i), lanes = min(L, a.hidden - first.unit)
            if i + 1 < count {
                let second = place(i + 1)
                if min(L, a.hidden - second.unit) == lanes {
                    finish(
                        [first.sums, second.sums], rows: [first.row, second.row], units: [first.unit, second.unit],
                        lanes: lanes, continues: continues, a, isa)
                    i += 2
                    continue
                }
            }
            finish([first.sums], rows: [first.row], units: [first.unit], lanes: lanes, continues: continues, a, isa)
            i += 1
        }
    }

    /// P places of one width; whole chunks get the branch-free path.
    @inlinable @inline(__always)
    static func finish<ISA: InstructionSet, let P: Int>(
        _ sums: InlineArray<P, UnsafePointer<ISA.Vector>>, rows: InlineArray<P, Int>, units: InlineArray<P, Int>,
        lanes: Int, continues: Bool, _ a: StepArguments, _ isa: ISA.Type
    ) {
        if lanes == ISA.Vector.scalarCount {
            forward(sums, rows: rows, units: units, lanes: ISA.Vector.scalarCount, continues: continues, a, isa)
        } else {
            forward(sums, rows: rows, units: units, lanes: lanes, continues: continues, a, isa)
        }
    }
}

/// Everything one step of backpropagation reads and writes. Rows are the
/// step's packed rows; the first `carried` of them were continued by the next
/// step taken forward (their dL/dh includes `carry`), the first `continuing`
/// continued from the previous one (`previous`, `previousCell`).
public struct GradientStepArguments {
    public var rows: Int
    public var carried: Int
    public var continuing: Int
    public var hidden: Int
    /// This step's and the previous step's h, stride `ldOutput`.
    public var output: UnsafePointer<Float>
    public var previous: UnsafePointer<Float>
    public var ldOutput: Int
    /// What forward cached, [rows, 4·H].
    public var gateCache: UnsafePointer<Float>
    /// LSTM cell states of this and the previous step, stride H.
    public var cell: UnsafePointer<Float>
    public var previousCell: UnsafePointer<Float>
    /// dL/dh from the layer above (or the head), stride `ldOutput`.
    public var dOutput: UnsafePointer<Float>
    /// dL/dh and dL/dc from the next step, stride H.
    public var carry: UnsafePointer<Float>
    public var carryCell: UnsafePointer<Float>
    /// dL/d(W_ih·x + b_ih), [rows, gates·H] at stride `ldInput`.
    public var dInput: UnsafeMutablePointer<Float>
    public var ldInput: Int
    /// dL/d(W_hh·h + b_hh), [rows, gates·H]; `dInput` unless `separateRecurrentGradient`.
    public var dRecurrent: UnsafeMutablePointer<Float>
    /// dL/dh and dL/dc of the previous step's continuing rows, stride H: the
    /// cell writes its direct paths (see `directPathToPrevious`) and dc.
    public var previousCarry: UnsafeMutablePointer<Float>
    public var previousCarryCell: UnsafeMutablePointer<Float>

    public init(
        rows: Int, carried: Int, continuing: Int, hidden: Int, output: UnsafePointer<Float>,
        previous: UnsafePointer<Float>,
        ldOutput: Int, gateCache: UnsafePointer<Float>, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
        dOutput: UnsafePointer<Float>, carry: UnsafePointer<Float>, carryCell: UnsafePointer<Float>,
        dInput: UnsafeMutablePointer<Float>, ldInput: Int, dRecurrent: UnsafeMutablePointer<Float>,
        previousCarry: UnsafeMutablePointer<Float>, previousCarryCell: UnsafeMutablePointer<Float>
    ) {
        self.rows = rows
        self.carried = carried
        self.continuing = continuing
        self.hidden = hidden
        self.output = output
        self.previous = previous
        self.ldOutput = ldOutput
        self.gateCache = gateCache
        self.cell = cell
        self.previousCell = previousCell
        self.dOutput = dOutput
        self.carry = carry
        self.carryCell = carryCell
        self.dInput = dInput
        self.ldInput = ldInput
        self.dRecurrent = dRecurrent
        self.previousCarry = previousCarry
        self.previousCarryCell = previousCarryCell
    }

    /// dL/dh of `row` at units j..<j+lanes: from above, plus from the next step when it continued the row.
    @inlinable @inline(__always)
    public func incoming<ISA: InstructionSet>(row: Int, unit j: Int, _ lanes: Int, _ isa: ISA.Type) -> ISA.Vector {
        let fromAbove = ISA.load(dOutput + row * ldOutput + j, lanes)
        return row < carried ? fromAbove + ISA.load(carry + row * hidden + j, lanes) : fromAbove
    }
}
