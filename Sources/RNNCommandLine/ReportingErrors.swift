import ArgumentParser
import Foundation
import RNNSupport

/// Bad input ends as one line on stderr naming the file and the place, and exit status 1:
/// the one way every command-line tool reports a DataError.
public func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DataError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
