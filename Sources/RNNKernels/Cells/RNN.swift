#if canImport(Glibc)
import Glibc
#endif

/// The Elman cell with tanh, as PyTorch's RNN:
///
///     h' = tanh(x + W_hh·h + b_hh)
///
/// where x = W_ih·x + b_ih (the input projection, computed for every step at once).
public enum RNNCell: RecurrentCell {
    public static let gateOrder = "h"
    public static var gates: Int { 1 }
    /// The step kernel at a tile size: `Rows` rows × `Chunks` vectors of units.
    public typealias Step<ISA: InstructionSet, let Rows: Int, let Chunks: Int> = RecurrentStep<
        ISA, RNNCell, 1, Rows, Chunks
    >
    /// Backward needs only h', which the layer's output already holds.
    public static let cacheLayout: [String] = []

    public static func kernels(in set: KernelSet) -> KernelSet.CellKernels { set.rnn }

    @inlinable @inline(__always)
    public static func forward<ISA: InstructionSet, let P: Int>(
        _ recurrent: InlineArray<P, UnsafePointer<ISA.Vector>>, rows: InlineArray<P, Int>, units: InlineArray<P, Int>,
        lanes: Int, continues: Bool, _ a: borrowing StepArguments, _ isa: ISA.Type
    ) {
        let x = a.inputs(rows: rows, units: units)
        let h = InlineArray<P, ISA.Vector> { ISA.tanh(ISA.load(x[$0], lanes) + recurrent[$0][0]) }
        for p in 0..<P { store(h[p], a.output + rows[p] * a.ldOutput + units[p], lanes) }
    }

    /// In the forward pass h' = tanh(pre), so dpre = dL/dh'·(1 − h'²), for
    /// both projections alike.
    @inlinable
    public static func backward<ISA: InstructionSet>(_ a: borrowing GradientStepArguments, _ isa: ISA.Type) {
        let H = a.hidden
        for row in 0..<a.rows {
            var j = 0
            while j < H {
                let w = min(ISA.Vector.scalarCount, H - j)
                let y = ISA.load(a.output + row * a.ldOutput + j, w)
                store(a.incoming(row: row, unit: j, w, ISA.self) * (1 - y * y), a.dInput + row * a.ldInput + j, w)
                j += ISA.Vector.scalarCount
            }
        }
    }

    public static func reference(input x: [Double], recurrent: [Double], previous: Double, previousCell: Double)
        -> (h: Double, c: Double, cache: [Double])
    {
        (tanh(x[0] + recurrent[0]), 0, [])
    }
}
