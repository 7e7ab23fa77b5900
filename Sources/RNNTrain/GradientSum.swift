import Foundation
import RNNKernels

/// Sums the per-thread gradients of a step into the first, over the regions
/// of the parameter vector that can be nonzero (the batch's embedding rows and
/// all that follows the embedding), and leaves the others zero there for the
/// next step. The threads share the pass, each on a span of equal size; the
/// spans depend only on the regions and the thread count, so the same thread
/// count gives the same bits.
enum GradientSum {
    /// `regions` cut into `parts` consecutive spans of near-equal element count.
    static func spans(of regions: [Range<Int>], parts: Int) -> [[Range<Int>]] {
        let total = regions.reduce(0) { $0 + $1.count }
        var spans: [[Range<Int>]] = Array(repeating: [], count: parts)
        var part = 0, done = 0
        for region in regions {
            var start = region.lowerBound
            while start < region.upperBound {
                let partEnd = total * (part + 1) / parts  // elements before the next part starts
                let end = min(region.upperBound, start + max(0, partEnd - done))
                if end > start {
                    spans[part].append(start..<end)
                    done += end - start
                    start = end
                }
                if done == partEnd && part < parts - 1 { part += 1 }
            }
        }
        return spans
    }

    /// parts[0] += the other parts on `regions`, which are left zero there.
    /// Returns the squared L2 norm of the sum.
    static func run(_ parts: [UnsafeMutablePointer<Float>], regions: [Range<Int>], threads: Int) -> Double {
        let spans = threadSpans(of: regions, threads: threads)
        var squares = [Double](repeating: 0, count: spans.count)
        squares.withUnsafeMutableBufferPointer { squaresOut in
            parts.withUnsafeBufferPointer { parts in
                DispatchQueue.concurrentPerform(iterations: spans.count) { t in
                    let ranges = spans[t]
                    var squares = 0.0
                    for (i, range) in ranges.enumerated() {
                        // The rows are scattered over a table larger than the caches, and the other
                        // threads' parts sit in their cores' caches: fetching the next row's lines
                        // while summing this one took a third off this pass (AG News LSTM).
                        if i + 1 < ranges.count { prefetch(parts, range: ranges[i + 1]) }
                        squares += sum(parts, range: range)
                    }
                    squaresOut[t] = squares
                }
            }
        }
        return squares.reduce(0, +)
    }

    /// One span per thread, or fewer when there is too little work to share.
    private static func threadSpans(of regions: [Range<Int>], threads: Int) -> [[Range<Int>]] {
        let size = regions.reduce(0) { $0 + $1.count }
        return spans(of: regions, parts: max(1, min(threads, size / 32_768)))
    }

    private static func prefetch(_ parts: UnsafeBufferPointer<UnsafeMutablePointer<Float>>, range: Range<Int>) {
        guard range.count <= 1024 else { return }  // a long range's own stream is prefetched by the hardware
        for part in parts { RNNKernels.prefetch(part + range.lowerBound, count: range.count) }
    }

    /// One range: Float lanes for speed, a Double total for accuracy. Sixteen
    /// lanes whatever the CPU, as the lanes' order of summation is part of the
    /// norm's bits (and of the clipped run's).
    private static func sum(_ parts: UnsafeBufferPointer<UnsafeMutablePointer<Float>>, range: Range<Int>) -> Double {
        typealias Lanes = SIMD16<Float>
        let total = parts[0]
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
