import CHardware
import RNNKernels
import RNNKernelsAVX2
import RNNKernelsAVX512

#if canImport(Glibc)
import Glibc
#endif

extension KernelSet {
    /// The step kernels this CPU runs, widest first; baseline is always there.
    public static let available: [KernelSet] = {
        let features = rnnkit_cpu_features()
        var kernels: [KernelSet] = []
        if features & UInt32(RNNKIT_CPU_AVX512_VNNI) != 0 { kernels.append(avx512VNNIKernels) }
        if features & UInt32(RNNKIT_CPU_AVX512) != 0 { kernels.append(avx512Kernels) }
        if features & UInt32(RNNKIT_CPU_AVX2) != 0 { kernels.append(avx2Kernels) }
        kernels.append(.baseline)
        return kernels
    }()

    /// The widest available, unless RNNKIT_KERNELS names another available one
    /// (baseline, avx2, avx512, avx512-vnni) — for comparing them, or ruling one out.
    public static let selected: KernelSet = {
        if let requested = getenv("RNNKIT_KERNELS").map({ String(cString: $0) }),
            let match = available.first(where: { $0.instructionSet == requested })
        {
            return match
        }
        return available[0]
    }()
}

extension KernelSet {
    /// The kernels of `cell`.
    public func kernels(for cell: CellKind) -> CellKernels { kernels(for: cell.cell) }
}
