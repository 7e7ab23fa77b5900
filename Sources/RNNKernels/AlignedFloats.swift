/// Floats starting on a 64-byte boundary: a cache line, and a whole Vector.
/// A Swift array's elements sit 32 bytes past a 16-byte-aligned allocation, so
/// every 64-byte load from it may straddle two lines — twice the L1 traffic,
/// and a prefetch of the first line leaves the second to miss.
///
/// Shared by reference: owners that mutate it copy first (see `PackedRecurrentWeights`).
public final class AlignedFloats: @unchecked Sendable {
    public static let alignment = 64
    public let count: Int
    public let baseAddress: UnsafeMutablePointer<Float>

    /// `count` zeros.
    public init(count: Int) {
        self.count = count
        baseAddress = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride,
            alignment: Self.alignment
        )
        .bindMemory(to: Float.self, capacity: max(count, 1))
        baseAddress.initialize(repeating: 0, count: max(count, 1))
    }

    public func copy() -> AlignedFloats {
        let copy = AlignedFloats(count: count)
        copy.baseAddress.update(from: baseAddress, count: count)
        return copy
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: baseAddress, count: count)
    }

    deinit { baseAddress.deallocate() }
}

/// Makes `buffer` hold at least `count` floats — a new zeroed buffer when it
/// is too small. Workspaces only grow, so steady state allocates nothing.
@inlinable
public func grow(_ buffer: inout AlignedFloats, to count: Int) {
    if buffer.count < count { buffer = AlignedFloats(count: count) }
}
