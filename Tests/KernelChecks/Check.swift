/// Where the kernel checks' failures go: XCTest's in RNNKernelsTests, standard error in `kernel-checks`, which
/// runs the same checks where XCTest cannot be built (the aarch64 kernels, cross-built and run under emulation).
public struct Check: Sendable {
    public typealias Failure = @Sendable (_ message: String, _ file: StaticString, _ line: UInt) -> Void
    let fail: Failure

    public init(fail: @escaping Failure) { self.fail = fail }

    func that(
        _ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line
    ) {
        if !condition { fail(message(), file, line) }
    }

    func equal<T: Equatable>(
        _ actual: T, _ expected: T, _ message: @autoclosure () -> String = "", file: StaticString = #filePath,
        line: UInt = #line
    ) {
        if actual != expected { fail("\(actual) is not \(expected): \(message())", file, line) }
    }
}
