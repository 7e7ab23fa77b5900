/// The kernels of one instruction set: the recurrent steps, the per-step
/// matrix products of their backpropagation, and the Adam update.
public struct KernelSet: Sendable {
    public typealias Step = @Sendable (StepArguments, borrowing PackedRecurrentWeights) -> Void
    public let instructionSet: String
    public let rnn: Step
    public let gru: Step
    public let lstm: Step
    public let product: @Sendable (MatrixArguments) -> Void
    public typealias Adam =
        @Sendable (
            AdamStep, _ count: Int, _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>?,
            _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>
        ) -> Void
    public let adam: Adam

    public init(
        instructionSet: String, rnn: @escaping Step, gru: @escaping Step, lstm: @escaping Step,
        product: @escaping @Sendable (MatrixArguments) -> Void, adam: @escaping Adam
    ) {
        self.instructionSet = instructionSet
        self.rnn = rnn
        self.gru = gru
        self.lstm = lstm
        self.product = product
        self.adam = adam
    }

    /// The step kernel of `cell`.
    public func step(for cell: any RecurrentCell.Type) -> Step { cell.step(in: self) }

    /// Runs on any x86-64. One row per tile: SSE has 16 registers of 4 floats.
    public static let baseline = KernelSet(
        instructionSet: "baseline",
        rnn: { RNNCell.Step<Baseline, 2, 2>.run($0, $1) },
        gru: { GRUCell.Step<Baseline, 1, 1>.run($0, $1) },
        lstm: { LSTMCell.Step<Baseline, 1, 1>.run($0, $1) },
        product: { MatrixProduct<Baseline, 2, 1>.run($0) },
        adam: { AdamUpdate<Baseline>.run($0, count: $1, p: $2, g: $3, m: $4, v: $5) })
}
