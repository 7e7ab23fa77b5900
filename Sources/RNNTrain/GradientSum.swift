import Foundation
import RNNKernels

/// Sums the slices' gradients of a step, in slice order, over the regions of
/// the parameter vector that can be nonzero (the batch's embedding rows and
/// all that follows the embedding), and leaves the parts zero there for the
/// next step. Each element's sum is ((g₀ + g₁) + g₂) + …, whichever process or
/// thread holds each slice; the squared norm is summed piece by piece in a
/// fixed order (pieces of at most `pieceSize` elements, cut from the regions),
/// so it too depends on the regions alone.
enum GradientSum {
    static let pieceSize = 16_384

    /// `regions` cut into pieces of at most `pieceSize` elements.
    static func pieces(of regions: [Range<Int>]) -> [Range<Int>] {
        regions.flatMap { region in
            stride(from: region.lowerBound, to: region.upperBound, by: pieceSize).map {
                $0..<min(region.upperBound, $0 + pieceSize)
            }
        }
    }

    /// `pieces` in `parts` consecutive groups of near-equal element count.
    static func groups(of pieces: [Range<Int>], parts: Int) -> [Range<Int>] {
        let total = pieces.reduce(0) { $0 + $1.count }
        var groups: [Range<Int>] = []
        var start = 0, done = 0
        for (i, piece) in pieces.enumerated() {
            done += piece.count
            if done * parts >= total * (groups.count + 1) || i == pieces.count - 1 {
                groups.append(start..<i + 1)
                start = i + 1
            }
        }
        return groups
    }

    /// parts[0] += the other parts on `regions`, which are left zero there.
    /// Returns the squared L2 norm of the sum.
    static func run(_ parts: [UnsafeMutablePointer<Float>], regions: [Range<Int>], threads: Int) -> Double {
        let pieces = pieces(of: regions)
        let size = regions.reduce(0) { $0 + $1.count }
        // One group per thread, or fewer when there is too little work to share.
        let groups = groups(of: pieces, parts: max(1, min(threads, size / 32_768)))
        var squares = [Double](repeating: 0, count: pieces.count)
        squares.withUnsafeMutableBufferPointer { squaresOut in
            parts.withUnsafeBufferPointer { parts in
                DispatchQueue.concurrentPerform(iterations: groups.count) { g in
                    for i in groups[g] {
                        // The rows are scattered over a table larger than the caches, and the other
                        // threads' parts sit in their cores' caches: fetching the next row's lines
                        // while summing this one took a third off this pass (AG News LSTM).
                        if i + 1 < groups[g].upperBound { prefetch(parts, range: pieces[i + 1]) }
                        squaresOut[i] = sum(parts, range: pieces[i])
                    }
                }
            }
        }
        return squares.reduce(0, +)
    }

    /// `total` plus the squares of `values` over `regions`, piece by piece, as `run` forms them.
    static func squaredNorm(_ values: UnsafeMutablePointer<Float>, regions: [Range<Int>], adding total: Double = 0)
        -> Double
    {
        pieces(of: regions).reduce(total) { total, piece in total + sum([values], range: piece) }
    }

    private static func prefetch(_ parts: UnsafeBufferPointer<UnsafeMutablePointer<Float>>, range: Range<Int>) {
        guard range.count <= 1024 else { return }  // a long range's own stream is prefetched by the hardware
        for part in parts { RNNKernels.prefetch(part + range.lowerBound, count: range.count) }
    }

    /// One piece: Float lanes for speed, a Double total for accuracy. Sixteen
    /// lanes whatever the CPU, as the lanes' order of summation is part of the
    /// norm's bits (and of the clipped run's).
    private static func sum(_ parts: some Collection<UnsafeMutablePointer<Float>>, range: Range<Int>) -> Double {
        typealias Lanes = SIMD16<Float>
        let total = parts.first!
        var lanes = Lanes.zero
        var i = range.lowerBound
        while i < range.upperBound {
            let w = min(Lanes.scalarCount, range.upperBound - i)
            var value = Lanes(loading: total + i, count: w)
            for part in parts.dropFirst() {
                value += Lanes(loading: part + i, count: w)
                store(Lanes.zero, part + i, w)
            }
            store(value, total + i, w)
            lanes += value * value
            i += Lanes.scalarCount
        }
        return Double(lanes.sum())
    }
}

/// The sum of `GradientSum` across processes over regions every process
/// touches (the dense parameters): process r holds slices r·T ..< (r+1)·T.
/// The regions are packed into one buffer that travels down a chain,
/// 0 → 1 → … → P−1, a chunk at a time so every link works at once, each
/// process adding its slices in order to what arrives; the last sends the sum
/// back up the chain, which forwards each chunk as it arrives (the two
/// directions of a link carry the two passes together).
final class GradientExchange {
    /// 64 KB: small enough that a chain of 8 fills in a fraction of a 1 MB exchange.
    static let chunk = 16_384
    static let reduceTag = 1, broadcastTag = 2
    var packed: [Float] = []
    var outgoing: [Float] = []

    /// As `GradientSum.run` (its norm continuing from `total`), across the processes of `group`.
    func run(
        _ parts: [UnsafeMutablePointer<Float>], regions: [Range<Int>], adding total: Double, group: ProcessGroup
    ) throws -> Double {
        let count = regions.reduce(0) { $0 + $1.count }
        if packed.count < count {
            packed = [Float](repeating: 0, count: count)
            outgoing = packed
        }
        let rank = group.rank, last = group.size - 1
        let chunks = (count + Self.chunk - 1) / Self.chunk
        // The packed positions and the parameters they hold, cut at chunk boundaries.
        var segments: [[(packed: Int, parameter: Int, count: Int)]] = Array(repeating: [], count: chunks)
        var offset = 0
        for region in regions {
            var start = 0
            while start < region.count {
                let c = (offset + start) / Self.chunk
                let n = min(region.count - start, (c + 1) * Self.chunk - offset - start)
                segments[c].append((offset + start, region.lowerBound + start, n))
                start += n
            }
            offset += region.count
        }
        try packed.withUnsafeMutableBufferPointer { packedBuffer in
            try outgoing.withUnsafeMutableBufferPointer { outgoingBuffer in
                let packed = packedBuffer.baseAddress!, outgoing = outgoingBuffer.baseAddress!
                func bytes(_ base: UnsafeMutablePointer<Float>, _ c: Int) -> UnsafeMutableRawBufferPointer {
                    let start = c * Self.chunk
                    return UnsafeMutableRawBufferPointer(
                        start: base + start, count: 4 * (min(count, start + Self.chunk) - start))
                }
                var sends: [Transfer] = []
                // Below the last process, `packed` is where the sum arrives (untouched until then);
                // the partial sums go out from `outgoing`.
                let finals =
                    rank < last
                    ? try (0..<chunks).map {
                        try group.receive(bytes(packed, $0), from: rank + 1, tag: Self.broadcastTag)
                    }
                    : []
                var forwarded = 0
                func forwardArrived(waiting: Bool) throws {
                    while forwarded < finals.count {
                        if waiting { try finals[forwarded].wait() } else if try !finals[forwarded].test() { return }
                        if rank > 0 {
                            sends.append(
                                try group.send(
                                    UnsafeRawBufferPointer(bytes(packed, forwarded)), to: rank - 1,
                                    tag: Self.broadcastTag))
                        }
                        forwarded += 1
                    }
                }
                let sums = rank == last ? packed : outgoing
                for c in 0..<chunks {
                    if rank > 0 { try group.receive(bytes(sums, c), from: rank - 1, tag: Self.reduceTag).wait() }
                    for segment in segments[c] {
                        for k in 0..<segment.count {
                            let i = segment.parameter + k
                            var value = rank == 0 ? parts[0][i] : sums[segment.packed + k]
                            for part in rank == 0 ? parts.dropFirst() : parts[...] {
                                value += part[i]
                                part[i] = 0
                            }
                            sums[segment.packed + k] = value
                        }
                    }
                    let next = rank < last ? rank + 1 : rank - 1
                    let tag = rank < last ? Self.reduceTag : Self.broadcastTag
                    sends.append(try group.send(UnsafeRawBufferPointer(bytes(sums, c)), to: next, tag: tag))
                    try forwardArrived(waiting: false)
                }
                try forwardArrived(waiting: true)
                for send in sends { try send.wait() }
                // Back into the first part, where the optimizer reads the sum.
                for segment in segments.joined() {
                    (parts[0] + segment.parameter).update(from: packed + segment.packed, count: segment.count)
                }
            }
        }
        // The regions as laid out in the packed buffer, so its pieces are the unpacked ones'.
        offset = 0
        let packedRegions = regions.map { region in
            defer { offset += region.count }
            return offset..<offset + region.count
        }
        return packed.withUnsafeMutableBufferPointer {
            GradientSum.squaredNorm($0.baseAddress!, regions: packedRegions, adding: total)
        }
    }
}
