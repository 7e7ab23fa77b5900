import RNNKernels

/// AVX2 with FMA (x86-64-v3). This module is compiled for haswell and only
/// entered when the CPU reports those features (see `KernelSet.available`).
public enum AVX2: InstructionSet {
    @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector { c.addingProduct(a, b) }
}

/// 16 ymm registers, two per vector: 4 to 8 vector accumulators per tile. GRU
/// tiles take one row (a second row's accumulators left the weights no
/// registers: 2,141 → 2,901 texts/s at batch 256 with one row).
public let avx2Kernels = KernelSet(
    instructionSet: "avx2",
    rnn: { RNNCell.Step<AVX2, 4, 4>.run($0, $1) },
    gru: { GRUCell.Step<AVX2, 1, 2>.run($0, $1) },
    lstm: { LSTMCell.Step<AVX2, 1, 2>.run($0, $1) },
    product: { MatrixProduct<AVX2, 4, 1>.run($0) },
    adam: { AdamUpdate<AVX2>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })
