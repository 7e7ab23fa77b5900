import CMPI
import Foundation
import RNNSupport
import RNNTrain

/// The ranks of an MPI job (`mpirun -np P train …`) as a `ProcessGroup`.
/// Failures name the call, this rank and the peer; the caller then ends the
/// whole job (`abort`), so no rank waits forever on one that is gone.
final class MPIGroup: ProcessGroup {
    let rank: Int
    let size: Int
    private(set) var bytesSent = 0

    /// Whether this process was started by an MPI launcher (Open MPI's
    /// mpirun, MPICH's Hydra, Slurm's srun with PMI or PMIx).
    static var launched: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { environment[$0] != nil }
    }

    init() throws {
        var rank: Int32 = 0, size: Int32 = 0
        let status = rnnkit_mpi_init(&rank, &size)
        self.rank = Int(rank)
        self.size = Int(size)
        if status != MPI_SUCCESS { throw Self.failure("MPI_Init_thread", status: status, rank: 0, peer: nil) }
        // A rank that mpirun stops because another failed says so, instead of vanishing.
        Self.stopMessage = Array(
            "train: rank \(rank) of \(size) stopped: another rank failed, and mpirun is ending the job (see its message)\n"
                .utf8)
        signal(SIGTERM) { _ in
            MPIGroup.stopMessage.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
            _exit(1)
        }
    }

    /// Written by the SIGTERM handler, which may not allocate.
    nonisolated(unsafe) static var stopMessage: [UInt8] = []

    func finish() { _ = rnnkit_mpi_finalize() }

    /// Ends every rank of the job.
    func abort() { rnnkit_mpi_abort(1) }

    private static func failure(_ call: String, status: Int32, rank: Int, peer: Int?) -> DataError {
        var text = [CChar](repeating: 0, count: 512)
        rnnkit_mpi_error_string(status, &text, Int32(text.count))
        let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return DataError(
            file: "MPI rank \(rank)", place: call + (peer.map { " with rank \($0)" } ?? ""),
            "\(message) (a rank has failed or the network is down)")
    }

    private func check(_ status: Int32, _ call: String, peer: Int? = nil) throws {
        if status != MPI_SUCCESS { throw Self.failure(call, status: status, rank: rank, peer: peer) }
    }

    private func count(_ bytes: Int, _ call: String) throws -> Int32 {
        guard let count = Int32(exactly: bytes) else {
            throw DataError(file: "MPI rank \(rank)", place: call, "\(bytes) bytes in one message (limit 2 GiB)")
        }
        return count
    }

    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int) throws -> Transfer {
        let transfer = try start("MPI_Isend", bytes: bytes.count, peer: peer) {
            rnnkit_mpi_isend(bytes.baseAddress, $0, Int32(peer), Int32(tag), $1)
        }
        bytesSent += bytes.count
        return transfer
    }

    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int) throws -> Transfer {
        try start("MPI_Irecv", bytes: bytes.count, peer: peer) {
            rnnkit_mpi_irecv(bytes.baseAddress, $0, Int32(peer), Int32(tag), $1)
        }
    }

    /// `call` (given the byte count and the request's memory) as a transfer in flight.
    private func start(
        _ call: String, bytes: Int, peer: Int, _ body: (Int32, UnsafeMutableRawPointer) -> Int32
    ) throws -> Transfer {
        let transfer = MPITransfer(group: self, call: call, peer: peer)
        try check(body(try count(bytes, call), transfer.request), call, peer: peer)
        return transfer
    }

    final class MPITransfer: Transfer {
        let group: MPIGroup
        let call: String
        let peer: Int
        let request = UnsafeMutableRawPointer.allocate(byteCount: Int(rnnkit_mpi_request_size()), alignment: 16)
        var done = false

        init(group: MPIGroup, call: String, peer: Int) {
            self.group = group
            self.call = call
            self.peer = peer
        }

        deinit { request.deallocate() }

        func wait() throws {
            if done { return }
            try group.check(rnnkit_mpi_wait(request), call + " (wait)", peer: peer)
            done = true
        }

        func test() throws -> Bool {
            if done { return true }
            var flag: Int32 = 0
            try group.check(rnnkit_mpi_test(request, &flag), call + " (test)", peer: peer)
            done = flag != 0
            return done
        }
    }

    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
        try check(
            rnnkit_mpi_broadcast(bytes.baseAddress, try count(bytes.count, "MPI_Bcast"), Int32(root)), "MPI_Bcast")
        if rank == root { bytesSent += bytes.count * (size - 1) }
    }

    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var counts = [Int32](repeating: 0, count: size)
        var own = try count(bytes.count, "MPI_Allgather")
        try check(rnnkit_mpi_allgather(&own, 4, &counts), "MPI_Allgather")
        var offsets = [Int32](repeating: 0, count: size)
        var total = 0
        for r in 0..<size {
            offsets[r] = try count(total, "MPI_Allgatherv")
            total += Int(counts[r])
        }
        var all = [UInt8](repeating: 0, count: total)
        try check(
            bytes.withUnsafeBytes { mine in
                all.withUnsafeMutableBytes {
                    rnnkit_mpi_allgatherv(mine.baseAddress, own, $0.baseAddress, counts, offsets)
                }
            }, "MPI_Allgatherv")
        bytesSent += (4 + bytes.count) * (size - 1)
        return (0..<size).map { Array(all[Int(offsets[$0])..<Int(offsets[$0]) + Int(counts[$0])]) }
    }
}
