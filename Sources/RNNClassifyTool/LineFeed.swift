import Foundation
import RNNSupport

/// The input of `classify` as it arrives: a reader thread cuts the sources (standard input, the FILEs in order, or
/// one document per file) into lines, and `next` hands out what has come, so that a pipe that stays open is
/// answered line by line instead of at its end.
final class LineFeed: @unchecked Sendable {
    struct Line {
        let source: String
        let number: Int
        let text: String
    }

    private let condition = NSCondition()
    private var arrived: [Line] = []
    private var ended = false
    private var failure: DataError?

    /// Lines of standard input (no files) or of each file in turn.
    init(files: [String]) {
        start { feed in
            for path in files.isEmpty ? ["-"] : files {
                let source = path == "-" ? "<stdin>" : path
                guard let handle = path == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: path) else {
                    throw DataError(file: path, "cannot read the file")
                }
                var pending: [UInt8] = [], number = 0
                func line(_ bytes: ArraySlice<UInt8>) -> Line {
                    number += 1
                    let text = String(decoding: bytes.last == 13 ? bytes.dropLast() : bytes, as: UTF8.self)
                    return Line(source: source, number: number, text: text)
                }
                while case let data = handle.availableData, !data.isEmpty {
                    pending += data
                    var lines: [Line] = []
                    var start = pending.startIndex
                    while let newline = pending[start...].firstIndex(of: 10) {
                        lines.append(line(pending[start..<newline]))
                        start = newline + 1
                    }
                    pending.removeSubrange(..<start)
                    feed.append(lines)
                }
                if !pending.isEmpty { feed.append([line(pending[...])]) }
            }
        }
    }

    /// One line per document: every regular file of a directory, or the files a glob pattern matches, in
    /// sorted order; each whole file is one text.
    convenience init(documents: String) throws {
        let paths = try Self.documents(documents)
        self.init(paths: paths)
    }

    private init(paths: [String]) {
        start { feed in
            for path in paths {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw DataError(file: path, "cannot read the file")
                }
                feed.append([Line(source: path, number: 1, text: String(decoding: data, as: UTF8.self))])
            }
        }
    }

    static func documents(_ pattern: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: pattern, isDirectory: &isDirectory), isDirectory.boolValue {
            let folder = URL(fileURLWithPath: pattern, isDirectory: true)
            return try FileManager.default.contentsOfDirectory(atPath: pattern).sorted()
                .map { folder.appendingPathComponent($0).path }
                .filter {
                    (try? FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeRegular
                }
        }
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(pattern, 0, nil, &matches) == 0 else {
            throw DataError(
                file: pattern, "no directory and no file matches it (expected a directory or a glob pattern)")
        }
        return (0..<Int(matches.gl_pathc)).compactMap { matches.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    private func start(_ read: @escaping (LineFeed) throws -> Void) {
        let thread = Thread { [self] in
            do { try read(self) } catch let error as DataError {
                condition.lock()
                failure = error
                condition.unlock()
            } catch {
                condition.lock()
                failure = DataError(file: "<input>", "\(error)")
                condition.unlock()
            }
            condition.lock()
            ended = true
            condition.broadcast()
            condition.unlock()
        }
        thread.start()
    }

    private func append(_ lines: [Line]) {
        guard !lines.isEmpty else { return }
        condition.lock()
        arrived += lines
        condition.broadcast()
        condition.unlock()
    }

    /// Up to `limit` lines: waits for the first, then for more until `limit` have come, the input ends, or
    /// `pause` seconds have passed since the first. nil at the end of the input; a reading error is thrown once
    /// the lines before it have been handed out.
    func next(limit: Int, pause: TimeInterval) throws -> [Line]? {
        condition.lock()
        defer { condition.unlock() }
        while arrived.isEmpty && !ended { condition.wait() }
        let deadline = Date(timeIntervalSinceNow: pause)
        while arrived.count < limit && !ended && condition.wait(until: deadline) {}
        if arrived.isEmpty {
            if let failure { throw failure }
            return nil
        }
        let lines = Array(arrived.prefix(limit))
        arrived.removeFirst(lines.count)
        return lines
    }
}
