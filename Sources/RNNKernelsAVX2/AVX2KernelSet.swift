import CHardware
import RNNKernels

/// AVX2 with FMA (x86-64-v3): 8 floats per ymm register. This module is
/// compiled for haswell and only entered when the CPU reports those features
/// (see `KernelSet.available`).
public enum AVX2: InstructionSet {
    public typealias Vector = SIMD8<Float>

    @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { c.addingProduct(a, b) }
}

/// 16 ymm registers, tiles measured with `rnnbench kernels 128 32`: GRU
/// 4 rows × 1 vector (12 accumulators, the 3 gate weights of one k, a
/// broadcast); LSTM 2 × 1 (3 rows spill: 43 against 74 GFLOP/s); RNN 2 × 4
/// (77 GFLOP/s; 6 × 1 does a broadcast load per multiply-add: 54; 4 × 3 and
/// 6 × 2 spill: 44); products 4 rows × 3 vectors.
public let avx2Kernels = KernelSet(
    AVX2.self, .avx2, name: "avx2",
    rnn: KernelSet.CellKernels(
        step: { RNNCell.Step<AVX2, 2, 4>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX2, RNNCell>.run($0, $1, .avx2) },
        gradient: { RNNCell.backward($0, AVX2.self) }),
    gru: KernelSet.CellKernels(
        step: { GRUCell.Step<AVX2, 4, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX2, GRUCell>.run($0, $1, .avx2) },
        gradient: { GRUCell.backward($0, AVX2.self) }),
    lstm: KernelSet.CellKernels(
        step: { LSTMCell.Step<AVX2, 2, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX2, LSTMCell>.run($0, $1, .avx2) },
        gradient: { LSTMCell.backward($0, AVX2.self) }),
    product: { MatrixProduct<AVX2, 4, 3>.run($0) },
    adam: { AdamUpdate<AVX2>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })

extension QuantizedProducts {
    /// PMADDWD on ymm registers; 16 of them hold 2 rows or 2 chunks × up to 4 gates of accumulators.
    public static let avx2 = QuantizedProducts(
        rows: 2, chunks: 2, layout: QuantizedPanelLayout(group: 2, weightBytes: 1, states: .int16),
        run: rnnkit_avx2_qrecurrent)
}
