import Foundation
import TestSupport
import XCTest

/// `classify` as a stream: answers while its input is still open, ids carried through, one document per file.
final class ClassifyStreamTests: XCTestCase {
    let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/models/model-v1.0.rnnk").standardized.path

    func testThePipeIsAnsweredBeforeItsInputEnds() throws {
        let process = Process()
        process.executableURL = Command.productsDirectory.appendingPathComponent("classify")
        process.arguments = ["--model", model]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        input.fileHandleForWriting.write(Data("good good film\n".utf8))
        // The input stays open: the header and the first answer must come anyway.
        let received = Received()
        output.fileHandleForReading.readabilityHandler = { received.append($0.availableData) }
        let early = received.waitForLines(2, seconds: 20)
        XCTAssertEqual(early.split(separator: "\n").count, 2, "no answer while the input was open: \(early)")
        XCTAssertTrue(early.hasPrefix("label\tp_neg\tp_pos\npos\t"), early)
        input.fileHandleForWriting.write(Data("bad bad movie\n".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        received.append(output.fileHandleForReading.readDataToEndOfFile())
        let all = received.waitForLines(3, seconds: 0)
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(all.split(separator: "\n").map { $0.split(separator: "\t")[0] }, ["label", "pos", "neg"])
    }

    /// What a child wrote so far, from the handler's thread.
    final class Received: @unchecked Sendable {
        private let condition = NSCondition()
        private var text = ""

        func append(_ data: Data) {
            condition.lock()
            text += String(decoding: data, as: UTF8.self)
            condition.broadcast()
            condition.unlock()
        }

        /// The text once it has `lines` lines, or as it is after `seconds`.
        func waitForLines(_ lines: Int, seconds: TimeInterval) -> String {
            condition.lock()
            defer { condition.unlock() }
            let deadline = Date(timeIntervalSinceNow: seconds)
            while text.split(separator: "\n").count < lines && condition.wait(until: deadline) {}
            return text
        }
    }

    func testIdsAreCarriedThroughAndFilesAreDocuments() throws {
        let lines = "{\"n\": 7, \"text\": \"good good film\"}\n{\"n\": \"a/b\", \"text\": \"bad bad movie\"}\n"
        let jsonl = try Command.run(
            "classify", ["--model", model, "--jsonl", "--id-field", "n", "--output", "jsonl"], stdin: lines)
        XCTAssertEqual(jsonl.status, 0, jsonl.stderr)
        let objects = try jsonl.stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(objects.map { "\($0["id"]!)" }, ["7", "a/b"])
        XCTAssertEqual(objects.map { $0["label"] as? String }, ["pos", "neg"])
        let tsv = try Command.run("classify", ["--model", model, "--jsonl", "--id-field", "n"], stdin: lines)
        XCTAssertEqual(
            tsv.stdout.split(separator: "\n").map { $0.split(separator: "\t").prefix(2) },
            [
                ["id", "label"], ["7", "pos"], ["a/b", "neg"],
            ])
        let missing = try Command.run(
            "classify", ["--model", model, "--jsonl", "--id-field", "id"], stdin: "{\"text\": \"good\"}\n")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("error: <stdin>: line 1: no field \"id\" (--id-field)"), missing.stderr)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-docs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("good good\nfilm, good".utf8).write(to: folder.appendingPathComponent("b.txt"))
        try Data("bad bad movie".utf8).write(to: folder.appendingPathComponent("a.txt"))
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("nested"), withIntermediateDirectories: true)
        for pattern in [folder.path, folder.path + "/*.txt"] {
            let documents = try Command.run("classify", ["--model", model, "--files", pattern])
            XCTAssertEqual(documents.status, 0, documents.stderr)
            XCTAssertEqual(
                documents.stdout.split(separator: "\n").map { $0.split(separator: "\t").prefix(2) },
                [
                    ["id", "label"], [Substring(folder.path + "/a.txt"), "neg"],
                    [Substring(folder.path + "/b.txt"), "pos"],
                ])
        }
        let none = try Command.run("classify", ["--model", model, "--files", folder.path + "/*.csv"])
        XCTAssertEqual(none.status, 1)
        XCTAssertEqual(none.stdout, "")
        XCTAssertTrue(none.stderr.contains("no directory and no file matches it"), none.stderr)
    }
}
