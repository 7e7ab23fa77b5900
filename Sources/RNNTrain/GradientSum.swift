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

    /// The squared L2 norm of `values` over `regions`, as `run` forms it.
    static func squaredNorm(_ values: UnsafeMutablePointer<Float>, regions: [Range<Int>]) -> Double {
        pieces(of: regions).reduce(0) { total, piece in total + sum([values], range: piece) }
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

/// The sum of `GradientSum` across processes: process r holds slices
/// r·T ..< (r+1)·T. The regions are packed into one buffer and passed down a
/// chain, 0 → 1 → … → P−1, a chunk at a time (so the links work at once), each
/// process adding its slices in order to what arrives; the last broadcasts
/// the sum back up the chain. Only the batch's embedding rows travel, not the table.
final class GradientExchange {
    static let chunk = 65_536
    var packed: [Float] = []

    /// As `GradientSum.run`, across the processes of `group`.
    func run(
        _ parts: [UnsafeMutablePointer<Float>], regions: [Range<Int>], group: ProcessGroup
    ) throws -> Double {
        let total = regions.reduce(0) { $0 + $1.count }
        if packed.count < total { packed = [Float](repeating: 0, count: total) }
        let rank = group.rank, last = group.size - 1
        try packed.withUnsafeMutableBufferPointer { packed in
            let buffer = packed.baseAddress!
            func chunk(_ c: Int) -> UnsafeMutableRawBufferPointer {
                let start = c * Self.chunk
                return UnsafeMutableRawBufferPointer(
                    start: buffer + start, count: 4 * (min(total, start + Self.chunk) - start))
            }
            let chunks = (total + Self.chunk - 1) / Self.chunk
            for c in 0..<chunks {
                if rank > 0 { try group.receive(chunk(c), from: rank - 1) }
                fold(
                    parts, regions: regions, into: buffer, packed: c * Self.chunk..<min(total, (c + 1) * Self.chunk),
                    first: rank == 0)
                if rank < last { try group.send(UnsafeRawBufferPointer(chunk(c)), to: rank + 1) }
            }
            for c in 0..<chunks {
                if rank < last { try group.receive(chunk(c), from: rank + 1) }
                if rank > 0 { try group.send(UnsafeRawBufferPointer(chunk(c)), to: rank - 1) }
            }
            // Back into the first part, where the optimizer reads the sum.
            var offset = 0
            for region in regions {
                (parts[0] + region.lowerBound).update(from: buffer + offset, count: region.count)
                offset += region.count
            }
        }
        // The regions as laid out in the packed buffer, so its pieces are the unpacked ones'.
        var offset = 0
        let packedRegions = regions.map { region in
            defer { offset += region.count }
            return offset..<offset + region.count
        }
        return packed.withUnsafeMutableBufferPointer {
            GradientSum.squaredNorm($0.baseAddress!, regions: packedRegions)
        }
    }

    /// packed[range] = (what it holds, or part 0 on the first process) + each part, in order;
    /// the parts are left zero there.
    private func fold(
        _ parts: [UnsafeMutablePointer<Float>], regions: [Range<Int>], into packed: UnsafeMutablePointer<Float>,
        packed range: Range<Int>, first: Bool
    ) {
        var offset = 0
        for region in regions {
            let start = max(offset, range.lowerBound), end = min(offset + region.count, range.upperBound)
            for k in start..<max(start, end) {
                let i = region.lowerBound + k - offset
                var value = first ? parts[0][i] : packed[k]
                for part in first ? parts.dropFirst() : parts[...] {
                    value += part[i]
                    part[i] = 0
                }
                packed[k] = value
            }
            offset += region.count
            if offset >= range.upperBound { break }
        }
    }
}
