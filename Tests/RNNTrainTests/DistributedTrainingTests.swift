import Foundation
import RNNBinary
import TestSupport
import XCTest

/// `train` under `mpirun` (Open MPI, from Tools/setup), on loopback: P ranks of
/// T threads train exactly as one process of P·T threads; a killed rank ends
/// the job; a resumed job ends as an uninterrupted one; a window far smaller
/// than the split still trains.
final class DistributedTrainingTests: XCTestCase {
    var directory: URL!
    var shards: String!

    /// CI runs as root, which Open MPI refuses unless told; a job never needs more slots than these tests ask for.
    let mpiEnvironment = [
        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1",
    ]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Reviews whose label is whether "good" outnumbers "bad", in shards of 300 so ranks read parts of several.
        var state: UInt64 = 3
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        let filler = ["the", "film", "plot", "was", "actors", "and", "a", "movie", "scene", "it"]
        for (name, rows) in [("train.csv", 1_400), ("test.csv", 300)] {
            var csv = "text,label\n"
            var written = 0
            while written < rows {
                var words: [String] = []
                var balance = 0
                for _ in 0..<(4 + Int(next() % 20)) {
                    switch next() % 6 {
                    case 0: words.append("good"); balance += 1
                    case 1: words.append("bad"); balance -= 1
                    default: words.append(filler[Int(next() % UInt64(filler.count))])
                    }
                }
                if balance == 0 { continue }
                csv += "\"\(words.joined(separator: " "))\",\(balance > 0 ? "pos" : "neg")\n"
                written += 1
            }
            try Data(csv.utf8).write(to: directory.appendingPathComponent(name))
        }
        shards = directory.appendingPathComponent("shards").path
        let prep = try Command.run(
            "prep",
            [
                "csv", directory.appendingPathComponent("train.csv").path,
                directory.appendingPathComponent("test.csv").path,
                "--text-column", "text", "--label-column", "label", "--shard-size", "300", "--out", shards, "--quiet",
            ])
        XCTAssertEqual(prep.status, 0, prep.stderr)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Dropout, clipping and a decaying rate: everything that could tell the slices apart.
    func options(schedule: String = "linear") -> [String] {
        [
            "--shards", shards, "--recipe", "csv", "--cell", "lstm", "--embed", "8", "--hidden", "16", "--lr", "0.01",
            "--batch-size", "24", "--dropout", "0.1", "--clip", "1", "--schedule", schedule, "--quiet",
        ]
    }

    func train(
        processes: Int, threads: Int, epochs: Int, out: String, schedule: String = "linear", extra: [String] = []
    ) throws -> CommandResult {
        let arguments =
            options(schedule: schedule) + ["--threads", "\(threads)", "--epochs", "\(epochs)", "--out", out] + extra
        if processes == 1 { return try Command.run("train", arguments) }
        return try Command.run(
            "/usr/bin/mpirun",
            ["-np", "\(processes)", Command.productsDirectory.appendingPathComponent("train").path]
                + arguments, environment: mpiEnvironment)
    }

    /// metrics.jsonl without the timings, and the model's tensors.
    func outcome(_ out: String) throws -> (metrics: [String], tensors: [ModelFile.Tensor]) {
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            line in
            var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            object["seconds"] = nil
            object["samplesPerSecond"] = nil
            return String(
                decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/model.rnnk"))
        let model = try bytes.withUnsafeBytes { try ModelFile(bytes: $0) }
        return (metrics, model.tensors)
    }

    func testRanksTrainExactlyAsThreads() throws {
        for (processes, threads) in [(2, 1), (3, 1), (2, 2)] {
            let slices = processes * threads
            let alone = directory.appendingPathComponent("threads-\(slices)").path
            let ranks = directory.appendingPathComponent("ranks-\(processes)x\(threads)").path
            let single = try train(processes: 1, threads: slices, epochs: 2, out: alone)
            XCTAssertEqual(single.status, 0, single.stderr)
            let job = try train(processes: processes, threads: threads, epochs: 2, out: ranks)
            XCTAssertEqual(job.status, 0, job.stderr + job.stdout)
            let (a, b) = (try outcome(alone), try outcome(ranks))
            XCTAssertEqual(a.metrics, b.metrics, "\(processes) ranks × \(threads) threads against \(slices) threads")
            XCTAssertEqual(a.tensors, b.tensors, "\(processes) ranks × \(threads) threads against \(slices) threads")
            XCTAssertTrue(job.stdout.contains("\"processes\" : \(processes)"), job.stdout)
            // One rank speaks: the epoch lines appear once.
            XCTAssertEqual(job.stdout.components(separatedBy: "epoch 2/2  lr").count - 1, 1, job.stdout)
        }
        // And the slices matter: another cut of the batch is another (equally good) run.
        let other = directory.appendingPathComponent("threads-1").path
        XCTAssertEqual(try train(processes: 1, threads: 1, epochs: 2, out: other).status, 0)
        XCTAssertNotEqual(
            try outcome(other).tensors, try outcome(directory.appendingPathComponent("threads-2").path).tensors)
    }

    /// Real data: AG News (the course's WordPiece recipe, shards of 2,000) on a 1,500-example sample.
    func testRanksTrainExactlyAsThreadsOnAGNews() throws {
        let agnews = directory.appendingPathComponent("agnews").path
        let prep = try Command.run(
            "prep",
            [
                "agnews", try TestData.file("agnews/train.csv").path, try TestData.file("agnews/test.csv").path,
                "--shard-size", "2000", "--out", agnews, "--quiet",
            ])
        XCTAssertEqual(prep.status, 0, prep.stderr)
        let options = [
            "--shards", agnews, "--train-limit", "1500", "--epochs", "1", "--dropout", "0.1", "--quiet", "--threads",
        ]
        let alone = directory.appendingPathComponent("agnews-threads").path
        let ranks = directory.appendingPathComponent("agnews-ranks").path
        let single = try Command.run("train", options + ["2", "--out", alone])
        XCTAssertEqual(single.status, 0, single.stderr)
        let job = try Command.run(
            "/usr/bin/mpirun",
            ["-np", "2", Command.productsDirectory.appendingPathComponent("train").path] + options + [
                "1", "--out", ranks,
            ],
            environment: mpiEnvironment)
        XCTAssertEqual(job.status, 0, job.stderr)
        let (a, b) = (try outcome(alone), try outcome(ranks))
        XCTAssertEqual(a.metrics, b.metrics)
        XCTAssertEqual(a.tensors, b.tensors)
        XCTAssertTrue(job.stdout.contains("2 ranks: "), job.stdout)
    }

    /// Two "machines": network namespaces joined by a veth pair, one rank in each, talking TCP
    /// (mpirun reaches the second through `ip netns exec` instead of ssh). Nothing but the link
    /// joins them: the result is the one-process result all the same.
    func testRanksInTwoNetworkNamespacesTrainAsOneProcess() throws {
        let tag = String(getpid() % 100_000)
        let names = ["rk\(tag)a", "rk\(tag)b"], links = ["rv\(tag)a", "rv\(tag)b"]
        func ip(_ arguments: [String]) throws {
            let result = try Command.run("/usr/sbin/ip", arguments)
            XCTAssertEqual(result.status, 0, "ip \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        defer { for name in names { _ = try? Command.run("/usr/sbin/ip", ["netns", "del", name]) } }
        for name in names { try ip(["netns", "add", name]) }
        try ip(["link", "add", links[0], "type", "veth", "peer", "name", links[1]])
        for k in 0..<2 {
            try ip(["link", "set", links[k], "netns", names[k]])
            try ip(["-n", names[k], "addr", "add", "10.78.\(Int(tag)! % 250).\(k + 1)/24", "dev", links[k]])
            try ip(["-n", names[k], "link", "set", links[k], "up"])
            try ip(["-n", names[k], "link", "set", "lo", "up"])
        }
        let subnet = "10.78.\(Int(tag)! % 250)"
        let agent = directory.appendingPathComponent("agent")
        try Data(
            """
            #!/bin/sh
            # mpirun's remote shell: run the daemon in the namespace named after the host's last octet.
            host=$1; shift
            exec /usr/sbin/ip netns exec "rk\(tag)$(echo "$host" | sed 's/.*\\.1$/a/; s/.*\\.2$/b/')" sh -c "$*"

            """.utf8
        ).write(to: agent)
        chmod(agent.path, 0o755)
        let hosts = directory.appendingPathComponent("hosts")
        try Data("\(subnet).1 slots=1\n\(subnet).2 slots=1\n".utf8).write(to: hosts)

        let alone = directory.appendingPathComponent("alone").path,
            apart = directory.appendingPathComponent("apart").path
        XCTAssertEqual(try train(processes: 1, threads: 2, epochs: 2, out: alone).status, 0)
        let job = try Command.run(
            "/usr/sbin/ip",
            [
                "netns", "exec", names[0], "/usr/bin/mpirun", "--hostfile", hosts.path, "-np", "2", "--bind-to", "none",
                "--mca", "plm_rsh_agent", agent.path, "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include",
                "\(subnet).0/24", "--mca", "oob_tcp_if_include", "\(subnet).0/24",
                Command.productsDirectory.appendingPathComponent("train").path,
            ] + options() + ["--threads", "1", "--epochs", "2", "--out", apart], environment: mpiEnvironment)
        XCTAssertEqual(job.status, 0, job.stderr + job.stdout)
        let (a, b) = (try outcome(alone), try outcome(apart))
        XCTAssertEqual(a.metrics, b.metrics)
        XCTAssertEqual(a.tensors, b.tensors)
    }

    func testResumedJobEndsAsAnUninterruptedOne() throws {
        let full = directory.appendingPathComponent("full").path, split = directory.appendingPathComponent("split").path
        // A constant rate: the resumed run changes --epochs, which a decaying schedule depends on.
        XCTAssertEqual(try train(processes: 2, threads: 1, epochs: 3, out: full, schedule: "constant").status, 0)
        XCTAssertEqual(try train(processes: 2, threads: 1, epochs: 2, out: split, schedule: "constant").status, 0)
        // The checkpoint is read by rank 0 and sent to the other.
        let resumed = try train(
            processes: 2, threads: 1, epochs: 3, out: split, schedule: "constant", extra: ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming after epoch 2"), resumed.stdout)
        let (a, b) = (try outcome(full), try outcome(split))
        XCTAssertEqual(a.metrics, b.metrics)
        XCTAssertEqual(a.tensors, b.tensors)
        // Another number of ranks is another data order: refused, not silently different.
        let wrong = try train(
            processes: 3, threads: 1, epochs: 3, out: split, schedule: "constant", extra: ["--resume"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("different configuration"), wrong.stderr)
    }

    func testKilledRankEndsTheJobWithAnErrorAndLeavesTheCheckpoint() throws {
        let out = directory.appendingPathComponent("killed").path
        let job = Process()
        job.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
        job.arguments =
            ["-np", "2", Command.productsDirectory.appendingPathComponent("train").path] + options()
            + ["--threads", "1", "--epochs", "200", "--out", out]
        job.environment = ProcessInfo.processInfo.environment.merging(mpiEnvironment) { $1 }
        let errors = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        job.standardError = try FileHandle(forWritingTo: errors)
        job.standardOutput = FileHandle.nullDevice
        try job.run()
        // Once a checkpoint exists, kill one rank (a child of mpirun) outright.
        let checkpoint = out + "/checkpoint.rnnk"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), "no epoch finished in a minute")
        let ranks = try Command.run("/usr/bin/pgrep", ["-P", "\(job.processIdentifier)", "-x", "train"])
        let pids = ranks.stdout.split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(pids.count, 2, ranks.stdout)
        let killed = Date()
        kill(pids.last!, SIGKILL)
        while job.isRunning && Date().timeIntervalSince(killed) < 30 { usleep(50_000) }
        let seconds = Date().timeIntervalSince(killed)
        if job.isRunning { job.terminate() }
        job.waitUntilExit()
        XCTAssertLessThan(seconds, 30, "the job did not end after a rank was killed")
        XCTAssertNotEqual(job.terminationStatus, 0)
        let stderr = try String(contentsOf: errors, encoding: .utf8)
        XCTAssertTrue(stderr.contains("exited on signal 9"), stderr)
        XCTAssertTrue(stderr.contains("train: rank 0 of 2 stopped: another rank failed"), stderr)
        // The surviving rank is gone too (or a zombie nobody reaps), and the last checkpoint is whole.
        for pid in pids {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")[2]
            XCTAssertTrue(state == nil || state == "Z", "rank \(pid) still running")
        }
        let inspect = try Command.run("train", ["inspect", checkpoint])
        XCTAssertTrue(inspect.stdout.contains("checksum ok"), inspect.stdout + inspect.stderr)
    }

    /// A window of 50 examples per stream (of 1,260) draws each batch from a small
    /// part of the data: another order than the in-memory run, which still learns.
    func testSmallWindowStillLearns() throws {
        let small = directory.appendingPathComponent("window").path,
            whole = directory.appendingPathComponent("whole").path
        let run = try train(processes: 1, threads: 2, epochs: 6, out: small, extra: ["--window", "50"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try train(processes: 1, threads: 2, epochs: 6, out: whole).status, 0)
        let (windowed, inMemory) = (try outcome(small), try outcome(whole))
        XCTAssertNotEqual(windowed.tensors, inMemory.tensors)
        let test = try XCTUnwrap(windowed.metrics.last)
        let accuracy =
            ((try JSONSerialization.jsonObject(with: Data(test.utf8)) as! [String: Any])["evaluation"] as! [String: Any])[
                "accuracy"] as! Double
        XCTAssertGreaterThanOrEqual(accuracy, 0.85, test)
    }
}
