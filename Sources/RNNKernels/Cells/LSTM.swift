#if canImport(Glibc)
import Glibc
#endif

/// PyTorch's LSTM:
///
///     i = σ(x_i + W_hi·h + b_hi)   f = σ(x_f + W_hf·h + b_hf)
///     g = tanh(x_g + W_hg·h + b_hg)   o = σ(x_o + W_ho·h + b_ho)
///     c' = f ⊙ c + i ⊙ g           h' = o ⊙ tanh(c')
///
/// where x_g = W_ig·x + b_ig (the input projection, computed for every step at once).
public enum LSTMCell: RecurrentCell {
    public static let gateOrder = "i,f,g,o"
    public static var gates: Int { 4 }
    /// The step kernel at a tile size: `Rows` rows × `Chunks` vectors of units.
    public typealias Step<ISA: InstructionSet, let Rows: Int, let Chunks: Int> = RecurrentStep<
        ISA, LSTMCell, 4, Rows, Chunks
    >
    /// The cell state c' is kept beside the cache, in its own buffer.
    public static let cacheLayout = ["i", "f", "g", "o"]
    public static var keepsCellState: Bool { true }

    public static func kernels(in set: KernelSet) -> KernelSet.CellKernels { set.lstm }

    @inlinable @inline(__always)
    public static func forward<ISA: InstructionSet, let P: Int>(
        _ recurrent: InlineArray<P, UnsafePointer<ISA.Vector>>, rows: InlineArray<P, Int>, units: InlineArray<P, Int>,
        lanes: Int, continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type
    ) {
        let H = a.hidden
        let x = a.inputs(rows: rows, units: units)
        let i = InlineArray<P, ISA.Vector> { ISA.sigmoid(ISA.load(x[$0], lanes) + recurrent[$0][0]) }
        let f = InlineArray<P, ISA.Vector> { ISA.sigmoid(ISA.load(x[$0] + H, lanes) + recurrent[$0][1]) }
        let g = InlineArray<P, ISA.Vector> { ISA.tanh(ISA.load(x[$0] + 2 * H, lanes) + recurrent[$0][2]) }
        let o = InlineArray<P, ISA.Vector> { ISA.sigmoid(ISA.load(x[$0] + 3 * H, lanes) + recurrent[$0][3]) }
        let previousCell = a.previousCell, ldCell = a.ldCell
        let cell = InlineArray<P, ISA.Vector> { p in
            let previous = continues ? ISA.load(previousCell! + rows[p] * ldCell + units[p], lanes) : .zero
            return f[p] * previous + i[p] * g[p]
        }
        let h = InlineArray<P, ISA.Vector> { o[$0] * ISA.tanh(cell[$0]) }
        for p in 0..<P {
            let row = rows[p], j = units[p]
            store(cell[p], a.cell! + row * a.ldCell + j, lanes)
            store(h[p], a.output + row * a.ldOutput + j, lanes)
            a.cacheGates(i[p], f[p], g[p], o[p], row: row, unit: j, lanes: lanes)
        }
    }

    /// In the forward pass h' = o·tanh(c') and c' = f·c + i·g, so with
    /// d = dL/dh' and dc = d·o·(1 − tanh²c') + dL/dc' from the next step:
    ///     di_pre = dc·g·i·(1 − i)     df_pre = dc·c·f·(1 − f)
    ///     dg_pre = dc·i·(1 − g²)      do_pre = d·tanh(c')·o·(1 − o)
    /// Input and recurrent projections receive the same gradient; c receives dc·f.
    @inlinable
    public static func backward<ISA: InstructionSet>(_ a: borrowing GradientStepArguments, _ isa: ISA.Type) {
        let H = a.hidden, G = 4 * H
        for row in 0..<a.rows {
            let cache = a.gateCache + row * G, dx = a.dInput + row * a.ldInput
            var j = 0
            while j < H {
                let w = min(ISA.Vector.scalarCount, H - j)
                let i = ISA.load(cache + j, w), f = ISA.load(cache + H + j, w), g = ISA.load(cache + 2 * H + j, w),
                    o = ISA.load(cache + 3 * H + j, w)
                let tc = ISA.tanh(ISA.load(a.cell + row * H + j, w))
                let previous = row < a.continuing ? ISA.load(a.previousCell + row * H + j, w) : .zero
                let dhTotal = a.incoming(row: row, unit: j, w, ISA.self)
                var dc = dhTotal * o * (1 - tc * tc)
                if row < a.carried { dc += ISA.load(a.carryCell + row * H + j, w) }
                store(dc * g * i * (1 - i), dx + j, w)
                store(dc * previous * f * (1 - f), dx + H + j, w)
                store(dc * i * (1 - g * g), dx + 2 * H + j, w)
                store(dhTotal * tc * o * (1 - o), dx + 3 * H + j, w)
                if row < a.continuing { store(dc * f, a.previousCarryCell + row * H + j, w) }
                j += ISA.Vector.scalarCount
            }
        }
    }

    public static func reference(input x: [Double], recurrent: [Double], previous: Double, previousCell: Double)
        -> (h: Double, c: Double, cache: [Double])
    {
        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        let i = sigmoid(x[0] + recurrent[0]), f = sigmoid(x[1] + recurrent[1])
        let g = tanh(x[2] + recurrent[2]), o = sigmoid(x[3] + recurrent[3])
        let c = f * previousCell + i * g
        return (o * tanh(c), c, [i, f, g, o])
    }
}
