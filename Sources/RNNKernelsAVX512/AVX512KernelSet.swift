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
    AVX512.self, AVX512Products.self, name: "avx512",
    rnn: KernelSet.CellKernels(
        step: { RNNCell.Step<AVX512, 8, 8>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, AVX512Products, RNNCell>.run($0, $1) },
        gradient: { RNNCell.backward($0, AVX512.self) }),
    gru: KernelSet.CellKernels(
        step: { GRUCell.Step<AVX512, 8, 8>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, AVX512Products, GRUCell>.run($0, $1) },
        gradient: { GRUCell.backward($0, AVX512.self) }),
    lstm: KernelSet.CellKernels(
        step: { LSTMCell.Step<AVX512, 6, 6>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, AVX512Products, LSTMCell>.run($0, $1) },
        gradient: { LSTMCell.backward($0, AVX512.self) }),
    product: { MatrixProduct<AVX512, 8, 2>.run($0) },
    adam: { AdamUpdate<AVX512>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })

/// PMADDWD on zmm registers; 32 of them hold 4 rows or 4 chunks × up to 4 gates of accumulators.
public enum AVX512Products: QuantizedProducts {
    public static var quantizedRows: Int { 4 }
    public static var quantizedChunks: Int { 4 }
    public static var quantizedGroup: Int { 2 }

    @inline(__always)
    public static func quantizedProducts(
        _ tile: QuantizedTile, gates: Int, _ states: UnsafeRawPointer, ldh: Int, _ panel: UnsafePointer<Int8>,
        groups: Int, corrections: UnsafePointer<Int32>, bias: UnsafePointer<Float>, scale: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>
    ) {
        rnnkit_avx512_qrecurrent(
            Int32(tile.rawValue), Int32(gates), states, ldh, panel, groups, corrections, bias, scale, out)
    }
}

/// VPDPBUSD (AVX-512 VNNI: Ice Lake, Zen 4 and later): 64 products per instruction, on uint8 states.
public enum AVX512VNNIProducts: QuantizedProducts {
    public static var quantizedRows: Int { 4 }
    public static var quantizedChunks: Int { 4 }
    public static var quantizedGroup: Int { 4 }

    @inline(__always)
    public static func quantizedProducts(
        _ tile: QuantizedTile, gates: Int, _ states: UnsafeRawPointer, ldh: Int, _ panel: UnsafePointer<Int8>,
        groups: Int, corrections: UnsafePointer<Int32>, bias: UnsafePointer<Float>, scale: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>
    ) {
        rnnkit_avx512_vnni_qrecurrent(
            Int32(tile.rawValue), Int32(gates), states, ldh, panel, groups, corrections, bias, scale, out)
    }
}

/// The AVX-512 kernels with the VNNI quantized step, for CPUs that report AVX-512 VNNI.
public let avx512VNNIKernels = avx512Kernels.replacingQuantizedSteps(
    AVX512VNNIProducts.self, name: "avx512-vnni",
    rnn: { QuantizedStep<AVX512, AVX512VNNIProducts, RNNCell>.run($0, $1) },
    gru: { QuantizedStep<AVX512, AVX512VNNIProducts, GRUCell>.run($0, $1) },
    lstm: { QuantizedStep<AVX512, AVX512VNNIProducts, LSTMCell>.run($0, $1) })
