import CHardware

// The step of a quantized model: W_hh in int8 with a scale per row (per gate
// and hidden unit), the previous state rounded to int16 for the product, and
// everything else — input projections, bias, gates, the new state — in float,
// through the cell's own `forward`. At batch 1 the f32 step streams its
// 3·H·H weights from L2 on every token; int8 weights are a quarter of that,
// and the integer multiply-adds take 32 products per instruction.

/// W_hh (int8) and b_hh laid out for the quantized step of one instruction set:
/// hidden units in chunks of `lanes`; a chunk's panel holds, for each pair of
/// k, the `lanes` rows of each gate with their two weights side by side —
/// [chunk][k / 2][gate][lanes][2] — the operand layout of VPMADDWD.
public struct QuantizedRecurrentWeights: Sendable {
    public let hidden: Int
    public let gates: Int
    public let lanes: Int
    /// The state is multiplied by this before rounding to int16: |h| ≤ 1 for
    /// every cell, and the int32 sums of H products stay below 2^31.
    public let activationScale: Float
    @usableFromInline let panels: [Int8]
    /// Per chunk, gate and lane: b_hh, and the row's weight scale divided by the activation scale.
    @usableFromInline let bias: [Float]
    @usableFromInline let scale: [Float]

    public var chunks: Int { (hidden + lanes - 1) / lanes }
    public var pairs: Int { (hidden + 1) / 2 }

    /// `whh` [gates·hidden, hidden] in int8, `rowScales` [gates·hidden] (weight = value × scale), `bhh` [gates·hidden].
    public init(
        whh: UnsafePointer<Int8>, rowScales: UnsafePointer<Float>, bhh: UnsafePointer<Float>, hidden: Int, gates: Int,
        lanes: Int
    ) {
        self.hidden = hidden
        self.gates = gates
        self.lanes = lanes
        activationScale = Float(min(16_384, (Int(Int32.max) / (127 * max(hidden, 1))) & ~1))
        let chunks = (hidden + lanes - 1) / lanes, pairs = (hidden + 1) / 2, L = lanes
        var panels = [Int8](repeating: 0, count: chunks * pairs * gates * L * 2)
        var bias = [Float](repeating: 0, count: chunks * gates * L)
        var scale = bias
        for chunk in 0..<chunks {
            for gate in 0..<gates {
                for lane in 0..<L {
                    let unit = chunk * L + lane
                    guard unit < hidden else { continue }
                    let row = gate * hidden + unit
                    bias[(chunk * gates + gate) * L + lane] = bhh[row]
                    scale[(chunk * gates + gate) * L + lane] = rowScales[row] / activationScale
                    for k in 0..<hidden {
                        panels[(((chunk * pairs + k / 2) * gates + gate) * L + lane) * 2 + k % 2] =
                            whh[row * hidden + k]
                    }
                }
            }
        }
        self.panels = panels
        self.bias = bias
        self.scale = scale
    }
}

/// The tiles of the quantized product (see rnnkit_*_qrecurrent in CHardware):
/// one row × one chunk, one row × `quantizedChunks` chunks (at batch 1, enough
/// independent sums to hide the multiply-add latency), `quantizedRows` rows × one chunk.
public enum QuantizedTile: Sendable { case one, chunks, rows }

/// What an instruction set runs for the quantized product of one tile, into
/// (rows·chunks)·gates vectors of floats.
public protocol QuantizedProducts: InstructionSet {
    static var quantizedRows: Int { get }
    static var quantizedChunks: Int { get }
    static func quantizedProducts(
        _ tile: QuantizedTile, gates: Int, _ h: UnsafePointer<Int16>, ldh: Int, _ panel: UnsafePointer<Int8>,
        pairs: Int, bias: UnsafePointer<Float>, scale: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>)
}

public enum QuantizedStep<ISA: QuantizedProducts, Cell: RecurrentCell> {
    @inlinable
    public static func run(_ a: StepArguments, _ packed: borrowing QuantizedRecurrentWeights) {
        precondition(
            packed.gates == Cell.gates && packed.hidden == a.hidden && packed.lanes == ISA.Vector.scalarCount,
            "quantized weights do not match the cell or the instruction set")
        let L = ISA.Vector.scalarCount, H = a.hidden, gates = Cell.gates, pairs = packed.pairs
        let tileRows = ISA.quantizedRows, tileChunks = ISA.quantizedChunks, chunks = packed.chunks
        let panelSize = pairs * gates * L * 2, activationScale = packed.activationScale
        packed.panels.withUnsafeBufferPointer { panels in
            packed.bias.withUnsafeBufferPointer { bias in
                packed.scale.withUnsafeBufferPointer { scale in
                    withUnsafeTemporaryAllocation(of: Int16.self, capacity: tileRows * 2 * pairs) { states in
                        withUnsafeTemporaryAllocation(
                            of: ISA.Vector.self, capacity: max(tileRows, tileChunks) * gates
                        ) { sums in
                            let h = states.baseAddress!
                            let out = UnsafeMutableRawPointer(sums.baseAddress!).assumingMemoryBound(to: Float.self)
                            var row = 0
                            while row < a.rows {
                                let continues = row < a.continuing
                                let rows = continues && a.continuing - row >= tileRows ? tileRows : 1
                                if continues {
                                    for r in 0..<rows {
                                        rnnkit_round_int16(
                                            a.previous + (row + r) * a.ldPrevious, H, activationScale,
                                            h + r * 2 * pairs)
                                        if H % 2 == 1 { h[r * 2 * pairs + H] = 0 }
                                    }
                                }
                                var chunk = 0
                                while chunk < chunks {
                                    let chunkBias = bias.baseAddress! + chunk * gates * L
                                    let tile: QuantizedTile =
                                        rows > 1 ? .rows : chunk + tileChunks <= chunks ? .chunks : .one
                                    let width = tile == .chunks ? tileChunks : 1
                                    if continues {
                                        ISA.quantizedProducts(
                                            tile, gates: gates, h, ldh: 2 * pairs,
                                            panels.baseAddress! + chunk * panelSize, pairs: pairs, bias: chunkBias,
                                            scale: scale.baseAddress! + chunk * gates * L, out)
                                    } else {
                                        out.update(from: chunkBias, count: width * gates * L)
                                    }
                                    for r in 0..<rows {
                                        for c in 0..<width {
                                            finish(
                                                sums.baseAddress! + (r * width + c) * gates, row: row + r,
                                                unit: (chunk + c) * L, continues: continues, a)
                                        }
                                    }
                                    chunk += width
                                }
                                row += rows
                            }
                        }
                    }
                }
            }
        }
    }

    /// One (row, chunk): a whole chunk with the constant width takes the branch-free path.
    @inlinable @inline(__always)
    static func finish(_ sums: UnsafePointer<ISA.Vector>, row: Int, unit: Int, continues: Bool, _ a: StepArguments) {
        let L = ISA.Vector.scalarCount
        if a.hidden - unit >= L {
            Cell.forward(sums, row: row, unit: unit, lanes: L, continues: continues, a, ISA.self)
        } else {
            Cell.forward(sums, row: row, unit: unit, lanes: a.hidden - unit, continues: continues, a, ISA.self)
        }
    }
}

extension Baseline: QuantizedProducts {
    public static var quantizedRows: Int { 2 }
    public static var quantizedChunks: Int { 2 }

    @inlinable @inline(__always)
    public static func quantizedProducts(
        _ tile: QuantizedTile, gates: Int, _ h: UnsafePointer<Int16>, ldh: Int, _ panel: UnsafePointer<Int8>,
        pairs: Int, bias: UnsafePointer<Float>, scale: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        switch (tile, gates) {
        case (.one, 3): rnnkit_sse2_qrecurrent_one_g3(h, ldh, panel, pairs, bias, scale, out)
        case (.one, 4): rnnkit_sse2_qrecurrent_one_g4(h, ldh, panel, pairs, bias, scale, out)
        case (.one, _): rnnkit_sse2_qrecurrent_one_g1(h, ldh, panel, pairs, bias, scale, out)
        case (.chunks, 3): rnnkit_sse2_qrecurrent_chunks_g3(h, ldh, panel, pairs, bias, scale, out)
        case (.chunks, 4): rnnkit_sse2_qrecurrent_chunks_g4(h, ldh, panel, pairs, bias, scale, out)
        case (.chunks, _): rnnkit_sse2_qrecurrent_chunks_g1(h, ldh, panel, pairs, bias, scale, out)
        case (.rows, 3): rnnkit_sse2_qrecurrent_rows_g3(h, ldh, panel, pairs, bias, scale, out)
        case (.rows, 4): rnnkit_sse2_qrecurrent_rows_g4(h, ldh, panel, pairs, bias, scale, out)
        case (.rows, _): rnnkit_sse2_qrecurrent_rows_g1(h, ldh, panel, pairs, bias, scale, out)
        }
    }
}
