// swift-tools-version:6.3
import PackageDescription

// Module layout follows the pipeline: text (tokenizers, Foundation-free so the
// inference runtime can embed it) -> data (readers, shards, manifest) -> model
// (shared forward pass) -> training / runtime -> executables.

// The numeric and parsing modules are optimized in debug builds too, so that
// `swift run prep …` and `swift run train …` (debug by default) finish in minutes.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"]), .unsafeFlags(["-O"], .when(configuration: .debug)),
]
// The x86-64 instruction-set modules are compiled for CPUs an aarch64 compiler does not know, so they are in
// the package only when building for x86-64; on aarch64 the NEON kernels are the baseline's and live in
// RNNKernels. SwiftPM has no per-architecture condition on a target or dependency, and the manifest is
// compiled for the machine that runs the build: natively that is the target, and a cross build says
// otherwise in RNNKIT_TARGET_ARCH (Tools/build-runtime --target aarch64 does).
#if arch(x86_64)
let buildArchitecture = "x86_64"
#else
let buildArchitecture = "aarch64"
#endif
let targetArchitecture = Context.environment["RNNKIT_TARGET_ARCH"] ?? buildArchitecture
let instructionSetModules: [Target] =
    targetArchitecture != "x86_64"
    ? []
    : [
        .target(
            name: "RNNKernelsAVX2", dependencies: ["RNNKernels"],
            swiftSettings: fast + [.unsafeFlags(["-target-cpu", "haswell"])]),
        // -Xcc: CHardware's AVX-512 helpers are compiled (and inlined) for this module's CPU too.
        .target(
            name: "RNNKernelsAVX512", dependencies: ["RNNKernels"],
            swiftSettings: fast + [
                .unsafeFlags(["-target-cpu", "skylake-avx512", "-Xcc", "-march=skylake-avx512"])
            ]),
    ]

let package = Package(
    name: "rnnkit",
    products: [
        .executable(name: "prep", targets: ["prep"]),
        .executable(name: "train", targets: ["train"]),
        .executable(name: "classify", targets: ["classify"]),
        .executable(name: "convert", targets: ["convert"]),
        // The installed tool (Tools/release): the four above as subcommands of one name.
        .executable(name: "rnnkit", targets: ["rnnkit"]),
        // Build with Tools/build-runtime: static Swift runtime, only rnn_* exported.
        .library(name: "rnninfer", type: .dynamic, targets: ["RNNInfer"]),
        // Build with Tools/build-runtime: prep and the trainer for programs (the Python package), only rnnkit_* exported.
        .library(name: "rnnkittrain", type: .dynamic, targets: ["RNNKitLibrary"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2")
    ],
    targets: [
        .systemLibrary(
            name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // The model-file container, little-endian reading and writing and the CRC-32 of every binary format; Foundation-free.
        .target(name: "RNNBinary", swiftSettings: fast),
        .target(
            name: "RNNModel",
            dependencies: ["CHardware", "RNNBinary", "RNNText", "RNNKernels"]
                + instructionSetModules.map { .target(name: $0.name) },
            swiftSettings: fast),
        // The step kernels' source, and its instantiation per instruction set:
        // each of those modules is compiled for its CPU and chosen at run time.
        .systemLibrary(name: "CHardware", path: "Sources/CHardware"),
        .target(name: "RNNKernels", dependencies: ["CHardware"], swiftSettings: fast),
        .target(
            name: "RNNText", dependencies: ["RNNBinary"],
            swiftSettings: fast),
        // Errors, progress, atomic writes, recipes and the version: what every tool shares.
        .target(name: "RNNSupport", dependencies: ["RNNText"]),
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(
            name: "RNNParquet", dependencies: ["CSnappy", "CZstd", "CZlib"],
            swiftSettings: fast),
        .target(
            name: "RNNData",
            dependencies: ["RNNBinary", "RNNSupport", "RNNText", "RNNParquet", "CArchive", "CZlib", "CZstd"],
            swiftSettings: fast),
        // What the command-line tools share beyond argument parsing: how they report bad input and load a model.
        .target(
            name: "RNNCommandLine",
            dependencies: [
                "RNNBinary", "RNNKernels", "RNNModel", "RNNSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Each tool is a library, so that `rnnkit` can hold all four; `prep`, `train`, … are thin mains over them.
        .target(
            name: "RNNPrepTool",
            dependencies: [
                "RNNBinary", "RNNCommandLine", "RNNData", "RNNSupport", "RNNText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "prep", dependencies: ["RNNPrepTool"]),
        .target(name: "TestSupport", dependencies: ["RNNModel", "RNNKernels"], path: "Tests/TestSupport"),
        .target(
            name: "RNNTrain",
            dependencies: ["CBLAS", "CHardware", "RNNKernels", "RNNModel", "RNNData", "RNNSupport", "RNNText"],
            swiftSettings: fast),
        // rnninfer.h is the ABI's one definition: the Swift side imports its types.
        .systemLibrary(name: "CRNNInfer", path: "Sources/CRNNInfer"),
        .target(
            name: "RNNInfer", dependencies: ["CRNNInfer", "RNNBinary", "RNNKernels", "RNNModel", "RNNText"],
            swiftSettings: fast),
        // MPI's handles are implementation macros: a few wrappers compiled against the installed mpi.h.
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "mpi-c", providers: [.apt(["libopenmpi-dev"])]),
        // `train fit`'s and `train sweep`'s flags and what they run: shared by the tool and librnnkit, which links no MPI.
        .target(
            name: "RNNTrainOptions",
            dependencies: [
                "RNNBinary", "RNNData", "RNNModel", "RNNPrepTool", "RNNSupport", "RNNText", "RNNTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .systemLibrary(name: "CRNNKit", path: "Sources/CRNNKit"),
        .target(
            name: "RNNKitLibrary",
            dependencies: [
                "CRNNKit", "RNNBinary", "RNNCommandLine", "RNNData", "RNNModel", "RNNPrepTool", "RNNSupport",
                "RNNTrain", "RNNTrainOptions", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(
            name: "RNNTrainTool",
            dependencies: [
                "CMPI", "RNNBinary", "RNNCommandLine", "RNNTrain", "RNNTrainOptions", "RNNModel", "RNNData",
                "RNNSupport", "RNNText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "train", dependencies: ["RNNTrainTool"]),
        .target(
            name: "RNNClassifyTool",
            dependencies: [
                "RNNBinary", "RNNCommandLine", "RNNModel", "RNNSupport", "RNNText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "classify", dependencies: ["RNNClassifyTool"]),
        // PyTorch in (safetensors), ONNX and safetensors out; never linked into the runtime.
        .target(name: "RNNInterop", dependencies: ["RNNBinary", "RNNData", "RNNModel", "RNNSupport", "RNNText"]),
        .target(
            name: "RNNConvertTool",
            dependencies: [
                "RNNBinary", "RNNCommandLine", "RNNData", "RNNInterop", "RNNModel", "RNNSupport", "RNNText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "convert", dependencies: ["RNNConvertTool"]),
        .executableTarget(
            name: "rnnkit", dependencies: ["RNNPrepTool", "RNNTrainTool", "RNNClassifyTool", "RNNConvertTool"]),
        .executableTarget(
            name: "rnnbench", dependencies: ["RNNData", "RNNText", "RNNModel", "RNNTrain"], path: "Benchmarks/rnnbench"),
        .testTarget(name: "RNNBinaryTests", dependencies: ["RNNBinary"]),
        .testTarget(
            name: "RNNInteropTests",
            dependencies: ["RNNCommandLine", "RNNInterop", "RNNData", "RNNModel", "RNNText", "TestSupport"],
            exclude: ["Fixtures"]),
        // The kernels against Double arithmetic, without XCTest: RNNKernelsTests runs them, and so does kernel-checks
        // where XCTest cannot be built (Tools/test-aarch64, under emulation).
        .target(name: "KernelChecks", dependencies: ["RNNKernels", "RNNModel"], path: "Tests/KernelChecks"),
        .executableTarget(
            name: "kernel-checks", dependencies: ["KernelChecks", "RNNKernels", "RNNModel"],
            path: "Tests/KernelChecksTool"),
        .testTarget(name: "RNNKernelsTests", dependencies: ["KernelChecks"]),
        .testTarget(name: "RNNParquetTests", dependencies: ["RNNParquet"]),
        .testTarget(
            name: "RNNModelTests", dependencies: ["RNNBinary", "RNNKernels", "RNNModel", "RNNText", "TestSupport"]),
        .testTarget(name: "RNNTextTests", dependencies: ["RNNText", "RNNData", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "RNNDataTests",
            dependencies: ["CZstd", "RNNData", "RNNSupport", "RNNText", "RNNParquet", "TestSupport"]),
        .testTarget(
            name: "RNNTrainTests",
            dependencies: [
                "RNNBinary", "RNNTrain", "RNNModel", "RNNKernels", "RNNData", "RNNSupport", "RNNText", "TestSupport",
            ]),
    ] + instructionSetModules,
    swiftLanguageModes: [.v5]
)
