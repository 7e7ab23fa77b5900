import Foundation
import XCTest

/// The real datasets live in one directory: `$RNNKIT_DATA`, default `data/`.
/// Tests that need them fail (never skip) when they are missing, so a CI
/// without data cannot pass silently.
public enum TestData {
    public static var directory: URL {
        let path = ProcessInfo.processInfo.environment["RNNKIT_DATA"] ?? "data"
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    public static func file(_ relativePath: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let url = directory.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail(
                "missing \(url.path): set RNNKIT_DATA to the data directory (see README, Tools/fetch-data)", file: file,
                line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    /// Decompresses a .gz file with the system gzip (tests only).
    public static func gunzip(_ url: URL) throws -> Data { try gzip(["-dc", url.path]) }

    /// What the system gzip writes to its standard output with these arguments.
    public static func gzip(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }
}
