import CHardware
import RNNKernels

#if arch(x86_64)
import RNNKernelsAVX2
import RNNKernelsAVX512
#endif

#if canImport(Glibc)
import Glibc
#endif

extension KernelSet {
    /// The step kernels this CPU runs, widest first; baseline is always there.
    public static let available: [KernelSet] = {
        let features = rnnkit_cpu_features()
        var kernels: [KernelSet] = []
        #if arch(x86_64)
        if features & UInt32(RNNKIT_CPU_AVX512_VNNI) != 0 { kernels.append(avx512VNNIKernels) }
        if features & UInt32(RNNKIT_CPU_AVX512) != 0 { kernels.append(avx512Kernels) }
        if features & UInt32(RNNKIT_CPU_AVX2) != 0 { kernels.append(avx2Kernels) }
        #elseif arch(arm64)
        if features & UInt32(RNNKIT_CPU_NEON_DOT) != 0 { kernels.append(neonDotKernels) }
        kernels.append(neonKernels)
        #endif
        kernels.append(.baseline)
        return kernels
    }()

    /// Every kernel set's name on any CPU of this architecture, narrowest first.
    #if arch(x86_64)
    public static let names = ["baseline", "avx2", "avx512", "avx512-vnni"]
    #elseif arch(arm64)
    public static let names = ["baseline", "neon", "neon-dot"]
    #else
    public static let names = ["baseline"]
    #endif

    /// Why a kernel set cannot be had.
    public enum ChoiceError: Error, CustomStringConvertible {
        case unknown(String)
        case unavailable(String)

        public var description: String {
            switch self {
            case .unknown(let name):
                return "unknown kernel set \"\(name)\" (expected one of \(KernelSet.names.joined(separator: ", ")))"
            case .unavailable(let name):
                return "kernel set \(name) is not available on this CPU (available: "
                    + KernelSet.available.map(\.instructionSet).joined(separator: ", ") + ")"
            }
        }
    }

    /// The set called `name`; nil: the one $RNNKIT_KERNELS names, else the widest available.
    public static func named(_ name: String?) throws(ChoiceError) -> KernelSet {
        guard let name = name ?? getenv("RNNKIT_KERNELS").map({ String(cString: $0) }) else { return available[0] }
        guard names.contains(name) else { throw .unknown(name) }
        guard let match = available.first(where: { $0.instructionSet == name }) else { throw .unavailable(name) }
        return match
    }

    /// The process's kernels: `named(nil)`. The tools check `named(nil)` before they start
    /// (`reportingErrors`), so a bad $RNNKIT_KERNELS is reported, not replaced.
    public static let selected: KernelSet = (try? named(nil)) ?? available[0]
}

extension KernelSet {
    /// The kernels of `cell`.
    public func kernels(for cell: CellKind) -> CellKernels { kernels(for: cell.cell) }
}
