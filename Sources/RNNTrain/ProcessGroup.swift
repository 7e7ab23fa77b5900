/// The processes of one training job: this one alone, or the ranks of an MPI
/// job (the `train` command's `MPIGroup`). Only data movement: every sum the
/// trainer needs it forms itself, in an order fixed by the slices, so the job's
/// bits do not depend on how a library chose to reduce.
public protocol ProcessGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Bytes this process has sent so far.
    var bytesSent: Int { get }
    /// Starts sending `bytes` (which must stay valid until the transfer completes).
    /// Messages with the same peer and tag arrive in the order they were sent.
    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int) throws -> Transfer
    /// Starts receiving into `bytes` (which must stay valid until the transfer completes).
    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int) throws -> Transfer
    /// `bytes` of `root` into every process's `bytes` (same count everywhere).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws
    /// Every process's bytes, in rank order (counts may differ).
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]
}

/// A message in flight.
public protocol Transfer: AnyObject {
    func wait() throws
    /// Whether it has completed.
    func test() throws -> Bool
}

/// A job of one process.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var bytesSent: Int { 0 }
    public func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int) throws -> Transfer {
        preconditionFailure("a single process has no peer")
    }
    public func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int) throws -> Transfer {
        preconditionFailure("a single process has no peer")
    }
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {}
    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
}

extension ProcessGroup {
    /// Every process's values, in rank order.
    public func allGather<T: BitwiseCopyable>(_ values: [T]) throws -> [[T]] {
        let bytes = values.withUnsafeBytes { Array($0) }
        return try allGather(bytes).map { part in
            part.withUnsafeBytes { raw in
                (0..<part.count / MemoryLayout<T>.stride).map {
                    raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self)
                }
            }
        }
    }

    /// Root's bytes (of any length) on every process.
    public func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] {
        var count = [Int64(bytes.count)]
        try count.withUnsafeMutableBytes { try broadcast($0, from: root) }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        try out.withUnsafeMutableBytes { try broadcast($0, from: root) }
        return out
    }
}
