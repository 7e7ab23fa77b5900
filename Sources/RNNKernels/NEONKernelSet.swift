#if arch(arm64)
import CHardware

/// NEON with FMA: 4 floats per q register, part of every aarch64 CPU, so this
/// set is compiled with the baseline and needs no module of its own. The dot
/// product (SDOT) that its `neon-dot` form uses for the quantized step is
/// optional before ARMv8.4 and compiled for that extension alone (CHardware).
public enum NEON: InstructionSet {
    public typealias Vector = SIMD4<Float>

    @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { c.addingProduct(a, b) }
}

/// 32 q registers, and no broadcast folded into a multiply-add as on x86: a tile's
/// accumulators, the weights of one k and a broadcast or two must fit. GRU 8
/// rows × 1 vector (24 accumulators, 3 gate weights), LSTM 6 × 1 (24, 4), RNN
/// and the products 6 rows × 4 vectors (24 accumulators, 4 weights: 10 loads per
/// 24 multiply-adds).
public let neonKernels = KernelSet(
    NEON.self, .neon, name: "neon",
    rnn: KernelSet.CellKernels(
        step: { RNNCell.Step<NEON, 6, 4>.run($0, $1) },
        quantizedStep: { QuantizedStep<NEON, RNNCell>.run($0, $1, .neon) },
        gradient: { RNNCell.backward($0, NEON.self) }),
    gru: KernelSet.CellKernels(
        step: { GRUCell.Step<NEON, 8, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<NEON, GRUCell>.run($0, $1, .neon) },
        gradient: { GRUCell.backward($0, NEON.self) }),
    lstm: KernelSet.CellKernels(
        step: { LSTMCell.Step<NEON, 6, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<NEON, LSTMCell>.run($0, $1, .neon) },
        gradient: { LSTMCell.backward($0, NEON.self) }),
    product: { MatrixProduct<NEON, 6, 4>.run($0) },
    adam: { AdamUpdate<NEON>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })

/// The NEON kernels with the SDOT quantized step, for CPUs that report the dot product.
public let neonDotKernels = neonKernels.replacingQuantizedSteps(
    .neonDot, name: "neon-dot",
    rnn: { QuantizedStep<NEON, RNNCell>.run($0, $1, .neonDot) },
    gru: { QuantizedStep<NEON, GRUCell>.run($0, $1, .neonDot) },
    lstm: { QuantizedStep<NEON, LSTMCell>.run($0, $1, .neonDot) })
#endif
