// The kernels are written once, generic over the instruction set, and
// compiled once per instruction set: each instruction-set module
// (RNNKernelsAVX2, RNNKernelsAVX512) instantiates them with its own
// `InstructionSet` type and tile sizes while being compiled for that CPU.
// On aarch64 NEON and FMA are in every CPU: its set (NEONKernelSet.swift)
// is compiled with this module.
// Specializations are named after that type, so the linker can never mix a
// wide copy into the baseline path. `KernelSet.selected` (RNNModel) picks one
// set at run time from what the CPU reports.

/// What differs between instruction sets inside the kernels.
public protocol InstructionSet {
    /// One register of floats: the kernels' unit of work, and the width of
    /// the packed weights they read (`PackedRecurrentWeights.lanes`). A wider
    /// type than the registers is split into several, each tile then holds
    /// fewer accumulators than the register file could.
    associatedtype Vector: SIMD where Vector.Scalar == Float
    /// a·b + c, fused where the CPU has FMA (Swift never contracts on its own).
    static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector
    /// e^x; a default for every instruction set is in VectorMath.
    static func exp(_ x: Vector) -> Vector
    /// x limited to [low, high], NaN kept; given for every width in VectorMath.
    static func clamp(_ x: Vector, _ low: Float, _ high: Float) -> Vector
    /// √x, correctly rounded; given for every width in VectorMath.
    static func squareRoot(_ x: Vector) -> Vector
}

/// Baseline x86-64 (SSE2): 4 floats per xmm register, no FMA. On aarch64 the
/// portable path, beside the NEON set that every aarch64 CPU runs.
public enum Baseline: InstructionSet {
    public typealias Vector = SIMD4<Float>

    @inlinable @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { a * b + c }
}
