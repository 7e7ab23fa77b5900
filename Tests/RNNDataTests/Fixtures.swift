import Foundation
import RNNSupport
import RNNText
import TestSupport
import XCTest

@testable import RNNData

/// Small inputs the tests write for themselves.
enum Fixtures {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func write(_ text: String, to url: URL) throws -> String {
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// A .tar.gz with the given files, made with the system tar.
    static func tarball(_ files: [String: String], in directory: URL, name: String = "aclImdb_v1.tar.gz") throws
        -> String
    {
        let root = directory.appendingPathComponent("tree-\(UUID().uuidString)")
        for (path, content) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
        let output = directory.appendingPathComponent(name)
        try run("/bin/tar", ["-czf", output.path, "-C", root.path, "."])
        return output.path
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DataError(file: executable, "exit \(process.terminationStatus)")
        }
    }

    static func configuration(
        _ output: URL, kind: TokenizerSpec.Kind = .word, vocabularySize: Int = 100, shardSize: Int = 10_000,
        replace: Bool = false
    ) -> PrepConfiguration {
        var spec = TokenizerSpec(kind: kind)
        var vocabularyFile: String?
        if kind == .word {
            spec.vocabularySize = vocabularySize
            spec.minimumCount = 1
        } else {
            spec.wordPiece = .init()
            vocabularyFile = TestData.directory.appendingPathComponent("bert-base-uncased/vocab.txt").path
        }
        return PrepConfiguration(
            dataset: "test", tokenizer: spec, vocabularyFile: vocabularyFile, shardSize: shardSize, output: output,
            replace: replace, quiet: true, command: ["test"], recipe: nil)
    }

    /// Asserts that `body` fails with a DataError whose message contains every fragment.
    static func assertDataError(
        _ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) {
        do {
            try body()
            XCTFail("expected an error mentioning \(fragments)", file: file, line: line)
        } catch let error as DataError {
            for fragment in fragments where !error.description.contains(fragment) {
                XCTFail("\"\(error)\" does not mention \"\(fragment)\"", file: file, line: line)
            }
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
    }
}
