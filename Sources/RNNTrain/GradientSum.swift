import Foundation
import RNNKernels

/// Sums the per-thread gradients of a step into one, over the regions of the
/// parameter vector that can be nonzero (the batch's embedding rows and all
/// that follows the embedding), and leaves the per-thread ones zero there for
/// the next step. The threads share the pass, each on a span of equal size:
/// on one core it was a few percent of an AG News step. The spans depend only
/// on the regions and the thread count, so the same thread count gives the
/// same bits.
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

    /// total = Σ parts on `regions` (overwritten; left as it was elsewhere), and
    /// each part zeroed there. Returns the squared L2 norm of the total.
    static func run(_ parts: [UnsafeMutablePointer<Float>], into total: UnsafeMutablePointer<Float>, regions: [Range<Int>],
                    threads: Int) -> Double {
        let size = regions.reduce(0) { $0 + $1.count }
        let threads = max(1, min(threads, size / 32_768))
        let spans = spans(of: regions, parts: threads)
        var squares = [Double](repeating: 0, count: threads)
        squares.withUnsafeMutableBufferPointer { squares in
            let squares = squares.baseAddress!
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                squares[t] = spans[t].reduce(0) { $0 + sum(parts, into: total, range: $1) }
            }
        }
        return squares.reduce(0, +)
    }

    /// One range: Float lanes for speed, a Double total for accuracy.
    private static func sum(_ parts: [UnsafeMutablePointer<Float>], into total: UnsafeMutablePointer<Float>, range: Range<Int>) -> Double {
        var lanes = Vector.zero
        var i = range.lowerBound
        while i < range.upperBound {
            let w = min(Vector.scalarCount, range.upperBound - i)
            var value = load(parts[0] + i, w)
            store(.zero, parts[0] + i, w)
            for part in parts.dropFirst() {
                value += load(part + i, w)
                store(.zero, part + i, w)
            }
            store(value, total + i, w)
            lanes += value * value
            i += Vector.scalarCount
        }
        return Double(lanes.sum())
    }
}
