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
    AVX512.self, name: "avx512",
    rnn: KernelSet.CellKernels(
        step: { RNNCell.Step<AVX512, 8, 8>.run($0, $1) }, quantizedStep: { QuantizedStep<AVX512, RNNCell>.run($0, $1) },
        gradient: { RNNCell.backward($0, AVX512.self) }),
    gru: KernelSet.CellKernels(
        step: { GRUCell.Step<AVX512, 8, 8>.run($0, $1) }, quantizedStep: { QuantizedStep<AVX512, GRUCell>.run($0, $1) },
        gradient: { GRUCell.backward($0, AVX512.self) }),
    lstm: KernelSet.CellKernels(
        step: { LSTMCell.Step<AVX512, 6, 6>.run($0, $1) },
        quantizedStep: { QuantizedStep<AVX512, LSTMCell>.run($0, $1) },
        gradient: { LSTMCell.backward($0, AVX512.self) }),
    product: { MatrixProduct<AVX512, 8, 2>.run($0) },
    adam: { AdamUpdate<AVX512>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })

/// VPDPWSSD where the CPU has AVX-512 VNNI: the multiply-add and the sum in one instruction.
let hasVNNI = rnnkit_cpu_features() & UInt32(RNNKIT_CPU_AVX512_VNNI) != 0

extension AVX512: QuantizedProducts {
    /// 32 zmm registers: 4 rows or 4 chunks × up to 4 gates of accumulators.
    public static var quantizedRows: Int { 4 }
    public static var quantizedChunks: Int { 4 }

    @inline(__always)
    public static func quantizedProducts(
        _ tile: QuantizedTile, gates: Int, _ h: UnsafePointer<Int16>, ldh: Int, _ panel: UnsafePointer<Int8>,
        pairs: Int, bias: UnsafePointer<Float>, scale: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        switch (hasVNNI, tile, gates) {
        case (true, .one, 3): rnnkit_avx512_vnni_qrecurrent_one_g3(h, ldh, panel, pairs, bias, scale, out)
        case (true, .one, 4): rnnkit_avx512_vnni_qrecurrent_one_g4(h, ldh, panel, pairs, bias, scale, out)
        case (true, .one, _): rnnkit_avx512_vnni_qrecurrent_one_g1(h, ldh, panel, pairs, bias, scale, out)
        case (true, .chunks, 3): rnnkit_avx512_vnni_qrecurrent_chunks_g3(h, ldh, panel, pairs, bias, scale, out)
        case (true, .chunks, 4): rnnkit_avx512_vnni_qrecurrent_chunks_g4(h, ldh, panel, pairs, bias, scale, out)
        case (true, .chunks, _): rnnkit_avx512_vnni_qrecurrent_chunks_g1(h, ldh, panel, pairs, bias, scale, out)
        case (true, .rows, 3): rnnkit_avx512_vnni_qrecurrent_rows_g3(h, ldh, panel, pairs, bias, scale, out)
        case (true, .rows, 4): rnnkit_avx512_vnni_qrecurrent_rows_g4(h, ldh, panel, pairs, bias, scale, out)
        case (true, .rows, _): rnnkit_avx512_vnni_qrecurrent_rows_g1(h, ldh, panel, pairs, bias, scale, out)
        case (false, .one, 3): rnnkit_avx512_qrecurrent_one_g3(h, ldh, panel, pairs, bias, scale, out)
        case (false, .one, 4): rnnkit_avx512_qrecurrent_one_g4(h, ldh, panel, pairs, bias, scale, out)
        case (false, .one, _): rnnkit_avx512_qrecurrent_one_g1(h, ldh, panel, pairs, bias, scale, out)
        case (false, .chunks, 3): rnnkit_avx512_qrecurrent_chunks_g3(h, ldh, panel, pairs, bias, scale, out)
        case (false, .chunks, 4): rnnkit_avx512_qrecurrent_chunks_g4(h, ldh, panel, pairs, bias, scale, out)
        case (false, .chunks, _): rnnkit_avx512_qrecurrent_chunks_g1(h, ldh, panel, pairs, bias, scale, out)
        case (false, .rows, 3): rnnkit_avx512_qrecurrent_rows_g3(h, ldh, panel, pairs, bias, scale, out)
        case (false, .rows, 4): rnnkit_avx512_qrecurrent_rows_g4(h, ldh, panel, pairs, bias, scale, out)
        case (false, .rows, _): rnnkit_avx512_qrecurrent_rows_g1(h, ldh, panel, pairs, bias, scale, out)
        }
    }
}
