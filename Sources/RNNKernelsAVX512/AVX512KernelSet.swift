import CHardware
import RNNKernels

/// AVX-512 (F, CD, BW, DQ, VL: what every AVX-512 CPU has): 16 floats per
/// zmm register. This module is compiled for skylake-avx512 and only entered
/// when the CPU reports those features (see `KernelSet.available`).
public enum AVX512: InstructionSet {
    public typealias Vector = SIMD16<Float>

    @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { c.addingProduct(a, b) }

    @inline(__always)
    public static func exp(_ x: Vector) -> Vector { rnnkit_avx512_exp(x) }
}

/// 32 zmm registers: 24 accumulators (8 rows × 3 GRU gates, 6 × 4 LSTM gates),
/// the gate weights of one k and a broadcast.
public let avx512Kernels = KernelSet(
    AVX512.self, .avx512, name: "avx512",
    rnn: KernelSet.CellKernels(
        step: { RNNCell.Step<AVX512, 8, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, RNNCell>.run($0, $1, .avx512) },
        gradient: { RNNCell.backward($0, AVX512.self) }),
    gru: KernelSet.CellKernels(
        step: { GRUCell.Step<AVX512, 8, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, GRUCell>.run($0, $1, .avx512) },
        gradient: { GRUCell.backward($0, AVX512.self) }),
    lstm: KernelSet.CellKernels(
        step: { LSTMCell.Step<AVX512, 6, 1>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, LSTMCell>.run($0, $1, .avx512) },
        gradient: { LSTMCell.backward($0, AVX512.self) }),
    product: { MatrixProduct<AVX512, 8, 2>.run($0) },
    adam: { AdamUpdate<AVX512>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })

extension QuantizedProducts {
    /// PMADDWD on zmm registers; 32 of them hold 4 rows or 4 chunks × up to 4 gates of accumulators.
    public static let avx512 = QuantizedProducts(
        rows: 4, chunks: 4, layout: QuantizedPanelLayout(group: 2, weightBytes: 1, states: .int16),
        run: rnnkit_avx512_qrecurrent)
    /// VPDPBUSD (AVX-512 VNNI: Ice Lake, Zen 4 and later): 64 products per instruction, on uint8 states.
    public static let avx512VNNI = QuantizedProducts(
        rows: 4, chunks: 4, layout: QuantizedPanelLayout(group: 4, weightBytes: 1, states: .uint8Offset),
        run: rnnkit_avx512_vnni_qrecurrent)
}

/// The AVX-512 kernels with the VNNI quantized step, for CPUs that report AVX-512 VNNI.
public let avx512VNNIKernels = avx512Kernels.replacingQuantizedSteps(
    .avx512VNNI, name: "avx512-vnni",
    rnn: { QuantizedStep<AVX512, RNNCell>.run($0, $1, .avx512VNNI) },
    gru: { QuantizedStep<AVX512, GRUCell>.run($0, $1, .avx512VNNI) },
    lstm: { QuantizedStep<AVX512, LSTMCell>.run($0, $1, .avx512VNNI) })
