// The kernels are written once, generic over the instruction set, and
// compiled once per instruction set: each instruction-set module
// (RNNKernelsAVX2, RNNKernelsAVX512) instantiates them with its own
// `InstructionSet` type and tile sizes while being compiled for that CPU.
// Specializations are named after that type, so the linker can never mix a
// wide copy into the baseline path. `KernelSet.selected` (RNNModel) picks one
// set at run time from what the CPU reports.

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
