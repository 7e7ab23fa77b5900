/// The kernels of one instruction set: each cell's recurrent step and the
/// elementwise half of its backpropagation, the per-step matrix products of
/// backpropagation, and the Adam update.
public struct KernelSet: Sendable {
    public typealias Step = @Sendable (StepArguments, borrowing PackedRecurrentWeights) -> Void
    public typealias GradientStep = @Sendable (GradientStepArguments) -> Void
    public typealias QuantizedStepKernel = @Sendable (StepArguments, borrowing QuantizedRecurrentWeights) -> Void

    /// One cell's kernels: forward a step (with f32 or int8 W_hh), and its gate pre-activation gradients.
    public struct CellKernels: Sendable {
        public let step: Step
        public let quantizedStep: QuantizedStepKernel
        public let gradient: GradientStep

        public init(
            step: @escaping Step, quantizedStep: @escaping QuantizedStepKernel, gradient: @escaping GradientStep
        ) {
            self.step = step
            self.quantizedStep = quantizedStep
            self.gradient = gradient
        }
    }

    public private(set) var instructionSet: String
    /// Floats per vector: the width `PackedRecurrentWeights` must be packed at for these step kernels.
    public let lanes: Int
    /// The quantized step's integer product; its layout is what `QuantizedRecurrentWeights` are packed with.
    public private(set) var quantizedProducts: QuantizedProducts
    public var quantizedLayout: QuantizedPanelLayout { quantizedProducts.layout }
    public private(set) var rnn: CellKernels
    public private(set) var gru: CellKernels
    public private(set) var lstm: CellKernels
    public let product: @Sendable (MatrixArguments) -> Void
    public typealias Adam =
        @Sendable (
            AdamStep, _ count: Int, _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>?,
            _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>
        ) -> Void
    public let adam: Adam

    public init<ISA: InstructionSet>(
        _ isa: ISA.Type, _ quantized: QuantizedProducts, name: String, rnn: CellKernels, gru: CellKernels,
        lstm: CellKernels, product: @escaping @Sendable (MatrixArguments) -> Void, adam: @escaping Adam
    ) {
        instructionSet = name
        lanes = ISA.Vector.scalarCount
        quantizedProducts = quantized
        self.rnn = rnn
        self.gru = gru
        self.lstm = lstm
        self.product = product
        self.adam = adam
    }

    /// These kernels with other quantized steps (an extension of the instruction set, such as AVX-512 VNNI,
    /// that only the integer product uses).
    public func replacingQuantizedSteps(
        _ quantized: QuantizedProducts, name: String, rnn: @escaping QuantizedStepKernel,
        gru: @escaping QuantizedStepKernel, lstm: @escaping QuantizedStepKernel
    ) -> KernelSet {
        var copy = self
        copy.instructionSet = name
        copy.quantizedProducts = quantized
        copy.rnn = CellKernels(step: self.rnn.step, quantizedStep: rnn, gradient: self.rnn.gradient)
        copy.gru = CellKernels(step: self.gru.step, quantizedStep: gru, gradient: self.gru.gradient)
        copy.lstm = CellKernels(step: self.lstm.step, quantizedStep: lstm, gradient: self.lstm.gradient)
        return copy
    }

    /// The kernels of `cell`.
    public func kernels(for cell: any RecurrentCell.Type) -> CellKernels { cell.kernels(in: self) }

    /// Runs on any x86-64 (SSE's 16 registers of 4 floats) or aarch64. Without FMA each
    /// multiply needs a scratch register, so tiles stay near 8 accumulators:
    /// GRU 3 rows × 1 vector (27 GFLOP/s against 24 for one row × 2 at
    /// `rnnbench kernels 128 32`), LSTM one row × 2 vectors, RNN one row × 8.
    public static let baseline = KernelSet(
        Baseline.self, .baseline, name: "baseline",
        rnn: CellKernels(
            step: { RNNCell.Step<Baseline, 1, 8>.run($0, $1) },
            quantizedStep: { QuantizedStep<Baseline, RNNCell>.run($0, $1, .baseline) },
            gradient: { RNNCell.backward($0, Baseline.self) }),
        gru: CellKernels(
            step: { GRUCell.Step<Baseline, 3, 1>.run($0, $1) },
            quantizedStep: { QuantizedStep<Baseline, GRUCell>.run($0, $1, .baseline) },
            gradient: { GRUCell.backward($0, Baseline.self) }),
        lstm: CellKernels(
            step: { LSTMCell.Step<Baseline, 1, 2>.run($0, $1) },
            quantizedStep: { QuantizedStep<Baseline, LSTMCell>.run($0, $1, .baseline) },
            gradient: { LSTMCell.backward($0, Baseline.self) }),
        product: { MatrixProduct<Baseline, 2, 4>.run($0) },
        adam: { AdamUpdate<Baseline>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })
}
