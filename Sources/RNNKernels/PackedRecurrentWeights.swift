/// W_hh and b_hh laid out for the step kernels of one instruction set.
/// Hidden units are taken in chunks of `lanes` (one vector of that set); a
/// chunk's panel holds, for every k, the `lanes` rows of each gate side by
/// side — [chunk][k][gate][lanes] — so one tile streams one contiguous panel
/// and finishes its units' gates without a second pass. Units past `hidden`
/// in the last chunk have zero weights.
public struct PackedRecurrentWeights: Sendable {
    public let hidden: Int
    public let gates: Int
    public let lanes: Int
    public private(set) var weights: AlignedFloats
    public private(set) var bias: AlignedFloats

    public var chunks: Int { (hidden + lanes - 1) / lanes }

    public init(hidden: Int, gates: Int, lanes: Int) {
        self.hidden = hidden
        self.gates = gates
        self.lanes = lanes
        let chunks = (hidden + lanes - 1) / lanes
        weights = AlignedFloats(count: chunks * hidden * gates * lanes)
        bias = AlignedFloats(count: chunks * gates * lanes)
    }

    /// Packs W_hh (gates·hidden × hidden, row-major, gate blocks in the model's order) and b_hh.
    public init(whh: UnsafePointer<Float>, bhh: UnsafePointer<Float>, hidden: Int, gates: Int, lanes: Int) {
        self.init(hidden: hidden, gates: gates, lanes: lanes)
        pack(whh: whh, bhh: bhh)
    }

    /// Repacks in place (training repacks after every optimizer step; no
    /// allocation unless a copy of this value still shares the buffers).
    public mutating func pack(whh: UnsafePointer<Float>, bhh: UnsafePointer<Float>) {
        if !isKnownUniquelyReferenced(&weights) { weights = weights.copy() }
        if !isKnownUniquelyReferenced(&bias) { bias = bias.copy() }
        let H = hidden, L = lanes, gates = gates, chunks = chunks
        let w = weights.baseAddress, b = bias.baseAddress
        for chunk in 0..<chunks {
            let panel = w + chunk * H * gates * L
            for gate in 0..<gates {
                for lane in 0..<L {
                    let unit = chunk * L + lane
                    guard unit < H else { continue }
                    let source = whh + (gate * H + unit) * H
                    for k in 0..<H { panel[(k * gates + gate) * L + lane] = source[k] }
                    b[(chunk * gates + gate) * L + lane] = bhh[gate * H + unit]
                }
            }
        }
    }
}
