import CBLAS
import CHardware
import Foundation
import RNNKernels
import RNNModel

extension MatrixProducts {
    /// The products training runs: OpenBLAS's, unless it runs kernels of a lower tier than rnnkit's on this CPU
    /// and nothing corrected that (a program that loaded librnnkit cannot be run again on another core, and a
    /// core can be refused): then rnnkit's own, four times faster than a fallback core's.
    public static var training: MatrixProducts { OpenBLASCorrection.fallenBack ? .own(.selected) : .openBLAS }

    /// OpenBLAS's sgemm: faster than our kernels on whole batches' products (packing pays off there).
    public static let openBLAS = MatrixProducts { g in
        if g.k == 0 {
            if g.beta == 0 { for i in 0..<g.m { (g.c + i * g.ldc).update(repeating: 0, count: g.n) } }
            return
        }
        if g.m == 1 && !g.transposeA {
            // One row: a matrix-vector product. sgemm would repack all of B on every
            // call, which costs as much as the product itself at this size.
            // c = a·Bᵀ is B·a (B is n×k); c = a·B is Bᵀ·a (B is k×n).
            if g.transposeB {
                cblas_sgemv(
                    CblasRowMajor, CblasNoTrans, Int32(g.n), Int32(g.k), 1, g.b, Int32(g.ldb), g.a, 1, g.beta, g.c, 1)
            } else {
                cblas_sgemv(
                    CblasRowMajor, CblasTrans, Int32(g.k), Int32(g.n), 1, g.b, Int32(g.ldb), g.a, 1, g.beta, g.c, 1)
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor, g.transposeA ? CblasTrans : CblasNoTrans, g.transposeB ? CblasTrans : CblasNoTrans,
            Int32(g.m), Int32(g.n), Int32(g.k), 1, g.a, Int32(g.lda), g.b, Int32(g.ldb), g.beta, g.c, Int32(g.ldc))
    }
}

/// The OpenBLAS this process runs, as it names itself: its version ("OpenBLAS 0.3.21") and the kernels it
/// chose for this CPU ("SkylakeX"; "Prescott", its SSE3 fallback, on a CPU newer than the build knows).
public enum OpenBLASBuild {
    public static var version: String {
        String(cString: openblas_get_config()).split(separator: " ").prefix(2).joined(separator: " ")
    }
    public static var core: String { String(cString: openblas_get_corename()) }
    /// What `train` prints and records beside rnnkit's own kernel set.
    public static var description: String { "\(version), core \(core)" }
}

/// Small matrices run faster on one OpenBLAS thread; parallelism comes from
/// splitting batches across our own threads instead.
public func useSingleThreadedBLAS() { openblas_set_num_threads(1) }

/// OpenBLAS picks its kernels (its "core") from the CPU models its build knows; on a newer CPU it falls back to
/// its SSE3 kernels (Prescott) and runs a quarter as fast, saying nothing. The command-line tools that train
/// correct that here, before any work: when OpenBLAS runs a core of a lower tier than the kernel set rnnkit runs
/// (AVX-512, AVX2), the process runs itself again with `OPENBLAS_CORETYPE` naming the core of that tier — once,
/// and only after a child process has computed a small product on that core exactly as rnnkit's own kernels do
/// (an OpenBLAS build can compute wrongly, or stop on an illegal instruction, on a core the CPU cannot run; the
/// fallback is then kept and said). A core set at the tier rnnkit runs is left alone (`RNNKIT_KERNELS=avx2
/// OPENBLAS_CORETYPE=Haswell` on an AVX-512 CPU measures the AVX2 tier). librnninfer links no OpenBLAS at all.
public enum OpenBLASCorrection {
    /// Set for the run this correction starts, and after a refusal: what was done ("corrected from Prescott").
    static let marker = "RNNKIT_OPENBLAS_CORRECTION"
    /// Set for the child that checks a core: it computes the product and exits.
    static let probe = "RNNKIT_OPENBLAS_PROBE"

    /// The instruction tier of an OpenBLAS x86-64 core: 3 AVX-512, 2 AVX2, 1 AVX, 0 older (Prescott, Nehalem, …).
    static func tier(core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": 3
        case "haswell", "zen": 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": 1
        default: 0
        }
    }

    static func tier(kernels: KernelSet) -> Int {
        switch kernels.instructionSet {
        case "avx512", "avx512-vnni": 3
        case "avx2": 2
        default: 0
        }
    }

    /// The core of `tier` on this CPU: SkylakeX for AVX-512; Zen on AMD and Haswell on Intel for AVX2.
    static func core(tier: Int) -> String? {
        #if arch(x86_64)
        switch tier {
        case 3: "SkylakeX"
        case 2: rnnkit_cpu_is_amd() != 0 ? "Zen" : "Haswell"
        default: nil
        }
        #else
        // The tiers are x86-64's: elsewhere every kernel set is tier 0 and nothing is corrected.
        nil
        #endif
    }

    /// The core this CPU's kernel set should run with, and whether OpenBLAS runs one below it.
    public static var expectedCore: String? { core(tier: tier(kernels: .selected)) }

    /// Whether OpenBLAS runs a core below this CPU's tier (as rnnkit's kernel set gives it).
    public static var fallenBack: Bool { tier(core: OpenBLASBuild.core) < tier(kernels: .selected) }

    /// What `train` prints and records: the OpenBLAS core, and what this correction did to it.
    public static var report: String {
        let done = ProcessInfo.processInfo.environment[marker].map { " (\($0))" } ?? ""
        guard fallenBack, let right = expectedCore else { return OpenBLASBuild.description + done }
        return OpenBLASBuild.description + done
            + " (below this CPU's \(right): the products run on rnnkit's own kernels instead)"
    }

    /// Runs this process again on the right core when OpenBLAS has fallen back and that core passes its check;
    /// returns otherwise (nothing to correct, a core the user set at the right tier, or a refused check).
    public static func correctFallback() {
        let environment = ProcessInfo.processInfo.environment
        if environment[probe] != nil { exit(agreesWithOwnKernels() ? 0 : 1) }
        guard environment[marker] == nil else { return }
        let current = OpenBLASBuild.core, wanted = tier(kernels: .selected)
        guard tier(core: current) < wanted, let right = core(tier: wanted) else { return }
        if let chosen = environment["OPENBLAS_CORETYPE"], tier(core: chosen) >= wanted { return }
        if let refusal = check(right) {
            setenv(marker, "\(right) refused: \(refusal); \(current) kept", 1)
            return
        }
        setenv("OPENBLAS_CORETYPE", right, 1)
        setenv(marker, "corrected from \(current)", 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // Only on failure: go on with the core OpenBLAS runs, and say so.
        setenv(marker, "\(right) not started: execv failed (\(String(cString: strerror(errno)))); \(current) kept", 1)
        if let chosen = environment["OPENBLAS_CORETYPE"] { setenv("OPENBLAS_CORETYPE", chosen, 1) }
    }

    /// Why OpenBLAS's `core` cannot be trusted on this CPU, or nil: a child process of this program computes a
    /// small product on it and compares it with rnnkit's kernels.
    static func check(_ core: String) -> String? {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = Array(CommandLine.arguments.dropFirst())
        child.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_CORETYPE": core, probe: "1"]) {
            $1
        }
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        do { try child.run() } catch { return "its check could not start (\(error))" }
        child.waitUntilExit()
        if child.terminationReason == .uncaughtSignal { return "it stopped on signal \(child.terminationStatus)" }
        return child.terminationStatus == 0 ? nil : "its products differ from rnnkit's kernels"
    }

    /// A small product through OpenBLAS against the same through rnnkit's kernels.
    static func agreesWithOwnKernels() -> Bool {
        let m = 37, n = 53, k = 71
        var rng = SplitMix64(seed: 7)
        let a = (0..<m * k).map { _ in rng.nextUnit() - 0.5 }, b = (0..<k * n).map { _ in rng.nextUnit() - 0.5 }
        var blas = [Float](repeating: 0, count: m * n), own = blas
        MatrixProducts.openBLAS.gemm(m: m, n: n, k: k, a, lda: k, b, ldb: n, beta: 0, &blas, ldc: n)
        MatrixProducts.own(.selected).gemm(m: m, n: n, k: k, a, lda: k, b, ldb: n, beta: 0, &own, ldc: n)
        return zip(blas, own).allSatisfy { abs($0 - $1) <= 1e-4 }
    }
}
