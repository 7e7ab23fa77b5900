import KernelChecks
import XCTest

/// The kernel checks (Tests/KernelChecks) on every kernel set this CPU runs.
final class KernelTests: XCTestCase {
    let check = Check { message, file, line in XCTFail(message, file: file, line: line) }

    func testEveryAvailableKernelMatchesTheCellEquations() {
        RecurrentKernelChecks(check).everyAvailableKernelMatchesTheCellEquations()
    }

    func testEveryAvailableGradientStepMatchesDifferencesOfTheCellEquations() {
        RecurrentKernelChecks(check).everyAvailableGradientStepMatchesDifferencesOfTheCellEquations()
    }

    func testEveryAvailableKernelSaturatesAtExtremes() {
        RecurrentKernelChecks(check).everyAvailableKernelSaturatesAtExtremes()
    }

    func testEveryAvailableMatrixProductMatchesDoubleArithmetic() {
        RecurrentKernelChecks(check).everyAvailableMatrixProductMatchesDoubleArithmetic()
    }

    func testEveryAvailableQuantizedStepMatchesTheCellEquations() {
        RecurrentKernelChecks(check).everyAvailableQuantizedStepMatchesTheCellEquations()
    }

    func testEveryAvailableQuantizedProductIsTheExactIntegerSum() {
        RecurrentKernelChecks(check).everyAvailableQuantizedProductIsTheExactIntegerSum()
    }
}
