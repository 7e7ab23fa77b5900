import CHardware

// The step of a quantized model: W_hh in int8 with a scale per row (per gate
// and hidden unit), the previous state rounded to 255 levels for the product,
// and everything else — input projections, bias, gates, the new state — in
// float, through the cell's own `forward`. At batch 1 the f32 step streams its
// 3·H·H weights from L2 on every token; int8 weights are a quarter of that
// (half where SSE2 reads them as int16: see QuantizedPanelLayout), and the
// integer instructions take 32 (PMADDWD) or 64 (VPDPBUSD) products each. The
// integer sums are exact, so every instruction set forms the same ones. 255 levels of the state cost nothing measurable: IMDB test accuracy
// and AG News macro-F1 moved by at most 0.01 points and 0.0001 against 32,767 levels.

/// W_hh (int8) and b_hh laid out for the quantized step of one instruction set:
/// hidden units in chunks of `lanes`; a chunk's panel holds, for each group of
/// `group` consecutive k, the `lanes` rows of each gate with their `group`
/// weights side by side — [chunk][k / group][gate][lanes][group] — the operand
/// layout of PMADDWD (group 2) or VPDPBUSD (group 4), with weights of
/// `layout.weightBytes` each (see `QuantizedPanelLayout`).
public struct QuantizedRecurrentWeights: Sendable {
    public let hidden: Int
    public let gates: Int
    public let lanes: Int
    public let layout: QuantizedPanelLayout
    public var group: Int { layout.group }
    public let panels: [UInt8]
    /// Per chunk, gate and lane: b_hh; the row's weight scale over the state's 127;
    /// and 128·Σ_k w, which VPDPBUSD's unsigned state adds.
    public let bias: [Float]
    public let scale: [Float]
    public let corrections: [Int32]

    public var chunks: Int { (hidden + lanes - 1) / lanes }
    public var groups: Int { (hidden + group - 1) / group }

    /// `whh` [gates·hidden, hidden] in int8, `rowScales` [gates·hidden] (weight = value × scale),
    /// `bhh` [gates·hidden]; `lanes` and `layout` are those of the kernel set that will run it.
    public init(
        whh: UnsafePointer<Int8>, rowScales: UnsafePointer<Float>, bhh: UnsafePointer<Float>, hidden: Int, gates: Int,
        lanes: Int, layout: QuantizedPanelLayout
    ) {
        let group = layout.group
        self.hidden = hidden
        self.gates = gates
        self.lanes = lanes
        self.layout = layout
        let chunks = (hidden + lanes - 1) / lanes, groups = (hidden + group - 1) / group, L = lanes
        var panels = [UInt8](repeating: 0, count: chunks * groups * gates * L * group * layout.weightBytes)
        var bias = [Float](repeating: 0, count: chunks * gates * L)
        var scale = bias
        var corrections = [Int32](repeating: 0, count: chunks * gates * L)
        panels.withUnsafeMutableBytes { bytes in
            for chunk in 0..<chunks {
                for gate in 0..<gates {
                    for lane in 0..<L {
                        let unit = chunk * L + lane
                        guard unit < hidden else { continue }
                        let row = gate * hidden + unit, at = (chunk * gates + gate) * L + lane
                        bias[at] = bhh[row]
                        scale[at] = rowScales[row] / 127
                        for k in 0..<hidden {
                            let weight = whh[row * hidden + k]
                            let index = (((chunk * groups + k / group) * gates + gate) * L + lane) * group + k % group
                            if layout.weightBytes == 2 {
                                bytes.storeBytes(
                                    of: Int16(weight).littleEndian, toByteOffset: 2 * index, as: Int16.self)
                            } else {
                                bytes.storeBytes(of: weight, toByteOffset: index, as: Int8.self)
                            }
                            corrections[at] += 128 * Int32(weight)
                        }
                    }
                }
            }
        }
        self.panels = panels
        self.bias = bias
        self.scale = scale
        self.corrections = corrections
    }
}

/// The tiles of the quantized product (see rnnkit_*_qrecurrent in CHardware):
/// one row × one chunk, one row × `QuantizedProducts.chunks` chunks (at batch 1, enough
/// independent sums to hide the multiply-add latency), `QuantizedProducts.rows` rows × one chunk.
public enum QuantizedTile: Int, Sendable { case one, chunks, rows }

/// How an instruction set's quantized product reads its panels and states: the
/// k of one integer instruction — 2 (PMADDWD), 4 (VPDPBUSD, SDOT) or 1 (SMLAL) —,
/// the bytes of a weight, and the form of the state's levels. PMADDWD takes
/// int16 weights: SSE2 reads them so (its sign extension, an unpack and a shift
/// per load, cost batch 1 a quarter of its speed); AVX2 and AVX-512 widen int8
/// in registers with one PMOVSXBW (int16 panels measured no faster on AVX2 and
/// 8 % slower on AVX-512: twice the bytes from L2). SMLAL multiplies int16 by
/// int16 too, and reads int16 weights: a load and a multiply-add per 4 products
/// rather than a load, a widening and a multiply-add.
public struct QuantizedPanelLayout: Sendable, Equatable {
    public let group: Int
    public let weightBytes: Int
    public let states: StateLevels

    /// The previous state's levels in [-127, 127] as the integer instruction takes them.
    public enum StateLevels: Sendable {
        case int16
        case int8
        /// The level plus 128: VPDPBUSD's unsigned operand.
        case uint8Offset
    }

    public init(group: Int, weightBytes: Int, states: StateLevels) {
        self.group = group
        self.weightBytes = weightBytes
        self.states = states
    }
}

/// What an instruction set runs for the quantized product: its tile sizes,
/// its panels' layout, and the C function (rnnkit_*_qrecurrent in CHardware)
/// that runs one tile into (rows·chunks)·gates vectors of floats.
public struct QuantizedProducts: Sendable {
    public typealias Run =
        @convention(c) (
            _ tile: Int32, _ gates: Int32, _ states: UnsafeRawPointer?, _ ldh: Int, _ panel: UnsafeRawPointer?,
            _ groups: Int, _ corrections: UnsafePointer<Int32>?, _ bias: UnsafePointer<Float>?,
            _ scale: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?
        ) -> Void
    /// Rows of the many-rows tile, chunks of the one-row tile.
    public let rows: Int
    public let chunks: Int
    public let layout: QuantizedPanelLayout
    public let run: Run

    public init(rows: Int, chunks: Int, layout: QuantizedPanelLayout, run: Run) {
        self.rows = rows
        self.chunks = chunks
        self.layout = layout
        self.run = run
    }

    #if arch(x86_64)
    /// Baseline x86-64: PMADDWD on 4 lanes.
    public static let baseline = QuantizedProducts(
        rows: 2, chunks: 2, layout: QuantizedPanelLayout(group: 2, weightBytes: 2, states: .int16),
        run: rnnkit_sse2_qrecurrent)
    #elseif arch(arm64)
    /// Any aarch64: SMLAL, 4 int16 products per instruction; the sums scaled without FMA, as on x86-64's baseline.
    public static let baseline = QuantizedProducts(
        rows: 4, chunks: 4, layout: QuantizedPanelLayout(group: 1, weightBytes: 2, states: .int16),
        run: rnnkit_neon_unfused_qrecurrent)
    /// The same with FMA, as the other kernel sets scale theirs.
    public static let neon = QuantizedProducts(
        rows: 4, chunks: 4, layout: QuantizedPanelLayout(group: 1, weightBytes: 2, states: .int16),
        run: rnnkit_neon_qrecurrent)
    /// The ARMv8.2 dot product: SDOT, 16 int8 products per instruction.
    public static let neonDot = QuantizedProducts(
        rows: 4, chunks: 4, layout: QuantizedPanelLayout(group: 4, weightBytes: 1, states: .int8),
        run: rnnkit_neon_dot_qrecurrent)
    #endif
}

public enum QuantizedStep<ISA: InstructionSet, Cell: RecurrentCell> {
    @inlinable
    public static func run(
        _ a: StepArguments, _ packed: borrowing QuantizedRecurrentWeights, _ products: QuantizedProducts
    ) {
        precondition(
            packed.gates == Cell.gates && packed.hidden == a.hidden && packed.lanes == ISA.Vector.scalarCount
                && packed.layout == products.layout,
            "quantized weights do not match the cell or the instruction set")
        let L = ISA.Vector.scalarCount, H = a.hidden, gates = Cell.gates, group = packed.group
        let groups = packed.groups, width = groups * group
        let tileRows = products.rows, tileChunks = products.chunks, chunks = packed.chunks
        let panelBytes = groups * gates * L * group * packed.layout.weightBytes
        packed.panels.withUnsafeBytes { panels in
            packed.bias.withUnsafeBufferPointer { bias in
                packed.scale.withUnsafeBufferPointer { scale in
                    packed.corrections.withUnsafeBufferPointer { corrections in
                        // Rows of states in the layout's form; padding k have zero weights.
                        withUnsafeTemporaryAllocation(of: Int16.self, capacity: tileRows * width) { states in
                            withUnsafeTemporaryAllocation(
                                of: ISA.Vector.self, capacity: max(tileRows, tileChunks) * gates
                            ) { sums in
                                let out = UnsafeMutableRawPointer(sums.baseAddress!).assumingMemoryBound(
                                    to: Float.self)
                                let raw = UnsafeMutableRawPointer(states.baseAddress!)
                                raw.initializeMemory(as: UInt8.self, repeating: 0, count: tileRows * width * 2)
                                var row = 0
                                while row < a.rows {
                                    let continues = row < a.continuing
                                    let rows = continues && a.continuing - row >= tileRows ? tileRows : 1
                                    // Rows of a per-token table too large for L2, read at random tokens:
                                    // asked for now, they arrive while the products run.
                                    for r in 0..<rows {
                                        let x = a.input(row: row + r)
                                        for line in stride(from: 0, to: gates * H, by: 16) { rnnkit_prefetch(x + line) }
                                    }
                                    if continues {
                                        for r in 0..<rows {
                                            let previous = a.previous + (row + r) * a.ldPrevious
                                            switch packed.layout.states {
                                            case .int16:
                                                rnnkit_round_int16(previous, H, states.baseAddress! + r * width)
                                            case .int8:
                                                rnnkit_round_int8(
                                                    previous, H, raw.assumingMemoryBound(to: Int8.self) + r * width)
                                            case .uint8Offset:
                                                rnnkit_round_uint8(
                                                    previous, H, raw.assumingMemoryBound(to: UInt8.self) + r * width)
                                            }
                                        }
                                    }
                                    var chunk = 0
                                    while chunk < chunks {
                                        let at = chunk * gates * L
                                        let tile: QuantizedTile =
                                            rows > 1 ? .rows : chunk + tileChunks <= chunks ? .chunks : .one
                                        let span = tile == .chunks ? tileChunks : 1
                                        if continues {
                                            products.run(
                                                Int32(tile.rawValue), Int32(gates), raw, width,
                                                panels.baseAddress! + chunk * panelBytes, groups,
                                                corrections.baseAddress! + at, bias.baseAddress! + at,
                                                scale.baseAddress! + at, out)
                                        } else {
                                            out.update(from: bias.baseAddress! + at, count: span * gates * L)
                                        }
                                        // Place i is row i / span, chunk i % span.
                                        let tileSums = UnsafePointer(sums.baseAddress!)
                                        Cell.finish(places: rows * span, continues: continues, a, ISA.self) { i in
                                            (tileSums + i * gates, row + i / span, (chunk + i % span) * L)
                                        }
                                        chunk += span
                                    }
                                    row += rows
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
