import KernelChecks
import RNNKernels
import RNNModel

#if canImport(Glibc)
import Glibc
#endif

// The kernel checks of RNNKernelsTests without XCTest, on every kernel set this CPU runs: Tools/test-aarch64
// runs them on the aarch64 kernels under emulation. Prints each failure; exits 1 after any.
nonisolated(unsafe) var failures = 0
let check = Check { message, file, line in
    failures += 1
    fputs("\(file):\(line): \(message)\n", stderr)
}
let checks = RecurrentKernelChecks(check)
let all: [(String, () -> Void)] = [
    ("step kernels against the cell equations", checks.everyAvailableKernelMatchesTheCellEquations),
    ("gradient steps against differences", checks.everyAvailableGradientStepMatchesDifferencesOfTheCellEquations),
    ("saturation at extremes", checks.everyAvailableKernelSaturatesAtExtremes),
    ("matrix products against Double", checks.everyAvailableMatrixProductMatchesDoubleArithmetic),
    ("quantized steps against the cell equations", checks.everyAvailableQuantizedStepMatchesTheCellEquations),
    ("quantized products are exact integer sums", checks.everyAvailableQuantizedProductIsTheExactIntegerSum),
]
print("kernel sets: " + KernelSet.available.map(\.instructionSet).joined(separator: ", "))
for (name, run) in all {
    let before = failures
    run()
    print("\(failures == before ? "ok" : "FAILED"): \(name)")
}
exit(failures == 0 ? 0 : 1)
