import ArgumentParser
import Foundation
import RNNKernels
import RNNModel
import RNNSupport

/// Bad input ends as one line on stderr naming the file and the place, and exit status 1:
/// the one way every command-line tool reports a DataError.
/// A kernel set named in $RNNKIT_KERNELS that cannot be had is such an error, before any work.
public func reportingErrors(_ body: () throws -> Void) throws {
    do {
        do { _ = try KernelSet.named(nil) } catch { throw DataError(file: "RNNKIT_KERNELS", "\(error)") }
        try body()
    } catch let error as DataError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
