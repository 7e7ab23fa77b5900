#if canImport(Glibc)
import Glibc
#endif

/// PyTorch's (and cuDNN's) GRU, "linear before reset": the reset gate scales
/// the recurrent n-projection W_hn·h + b_hn, not h.
///
///     r = σ(x_r + W_hr·h + b_hr)      z = σ(x_z + W_hz·h + b_hz)
///     n = tanh(x_n + r ⊙ (W_hn·h + b_hn))
///     h' = (1 − z) ⊙ n + z ⊙ h
///
/// where x_g = W_ig·x + b_ig (the input projection, computed for every step at once).
public enum GRUCell: RecurrentCell {
    public static let gateOrder = "r,z,n"
    public static var gates: Int { 3 }
    /// The step kernel at a tile size: `Rows` rows × `Chunks` vectors of units.
    public typealias Step<ISA: InstructionSet, let Rows: Int, let Chunks: Int> = RecurrentStep<
        ISA, GRUCell, 3, Rows, Chunks
    >
    public static var variant: (key: String, value: String)? { ("architecture.gru_variant", "linear_before_reset") }
    /// hn = W_hn·h + b_hn is kept because r multiplies it: backward needs it for dr.
    public static let cacheLayout = ["r", "z", "n", "hn"]
    public static var separateRecurrentGradient: Bool { true }
    public static var directPathToPrevious: Bool { true }

    public static func kernels(in set: KernelSet) -> KernelSet.CellKernels { set.gru }

    @inlinable @inline(__always)
    public static func forward<ISA: InstructionSet, let P: Int>(
        _ recurrent: InlineArray<P, UnsafePointer<ISA.Vector>>, rows: InlineArray<P, Int>, units: InlineArray<P, Int>,
        lanes: Int, continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type
    ) {
        let H = a.hidden
        let x = a.inputs(rows: rows, units: units)
        let r = InlineArray<P, ISA.Vector> { ISA.sigmoid(ISA.load(x[$0], lanes) + recurrent[$0][0]) }
        let z = InlineArray<P, ISA.Vector> { ISA.sigmoid(ISA.load(x[$0] + H, lanes) + recurrent[$0][1]) }
        let n = InlineArray<P, ISA.Vector> { ISA.tanh(ISA.load(x[$0] + 2 * H, lanes) + r[$0] * recurrent[$0][2]) }
        for p in 0..<P {
            let row = rows[p], j = units[p]
            let previous = continues ? ISA.load(a.previous + row * a.ldPrevious + j, lanes) : .zero
            store((1 - z[p]) * n[p] + z[p] * previous, a.output + row * a.ldOutput + j, lanes)
            a.cacheGates(r[p], z[p], n[p], recurrent[p][2], row: row, unit: j, lanes: lanes)
        }
    }

    /// In the forward pass h' = (1 − z)·n + z·h, so with d = dL/dh':
    ///     dn_pre = d·(1 − z)·(1 − n²)         (the tanh's input x_n + r·hn)
    ///     dz_pre = d·(h − n)·z·(1 − z)
    ///     dr_pre = dn_pre·hn·r·(1 − r)
    /// The input projection receives (dr_pre, dz_pre, dn_pre); the recurrent one
    /// (dr_pre, dz_pre, dn_pre·r), as r scales hn; h itself receives d·z directly.
    @inlinable
    public static func backward<ISA: InstructionSet>(_ a: borrowing GradientStepArguments, _ isa: ISA.Type) {
        let H = a.hidden, G = 3 * H
        for row in 0..<a.rows {
            let cache = a.gateCache + row * 4 * H
            let dx = a.dInput + row * a.ldInput, dh = a.dRecurrent + row * G
            var j = 0
            while j < H {
                let w = min(ISA.Vector.scalarCount, H - j)
                let r = ISA.load(cache + j, w), z = ISA.load(cache + H + j, w), n = ISA.load(cache + 2 * H + j, w),
                    hn = ISA.load(cache + 3 * H + j, w)
                let previous = row < a.continuing ? ISA.load(a.previous + row * a.ldOutput + j, w) : .zero
                let d = a.incoming(row: row, unit: j, w, ISA.self)
                let dnPre = d * (1 - z) * (1 - n * n)
                let dzPre = d * (previous - n) * z * (1 - z)
                let drPre = dnPre * hn * r * (1 - r)
                store(drPre, dx + j, w)
                store(dzPre, dx + H + j, w)
                store(dnPre, dx + 2 * H + j, w)
                store(drPre, dh + j, w)
                store(dzPre, dh + H + j, w)
                store(dnPre * r, dh + 2 * H + j, w)
                if row < a.continuing { store(d * z, a.previousCarry + row * H + j, w) }
                j += ISA.Vector.scalarCount
            }
        }
    }

    public static func reference(input x: [Double], recurrent: [Double], previous: Double, previousCell: Double)
        -> (h: Double, c: Double, cache: [Double])
    {
        let r = 1 / (1 + exp(-(x[0] + recurrent[0]))), z = 1 / (1 + exp(-(x[1] + recurrent[1])))
        let n = tanh(x[2] + r * recurrent[2])
        return ((1 - z) * n + z * previous, 0, [r, z, n, recurrent[2]])
    }
}
