import Foundation

/// Builds an output directory beside its final place and moves it there only
/// when complete, so a failed or interrupted run never leaves a half-written one.
public struct StagedDirectory {
    public let destination: URL
    public let staging: URL

    public init(destination: URL, replacing: Bool) throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: destination.path) && !replacing {
            throw DataError(
                file: destination.path, "already exists (pass --force to replace it, or --out to write elsewhere)")
        }
        let parent = destination.deletingLastPathComponent()
        try createDirectory(parent)
        self.destination = destination
        staging = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())")
        try? manager.removeItem(at: staging)
        try createDirectory(staging)
    }

    public func write(_ bytes: [UInt8], to name: String) throws {
        let url = staging.appendingPathComponent(name)
        do { try Data(bytes).write(to: url) } catch {
            throw DataError(file: url.path, "cannot write: \(error.localizedDescription)")
        }
    }

    /// Swaps the finished directory into place; an old one is removed only after.
    public func commit() throws {
        let manager = FileManager.default
        var retired: URL?
        if manager.fileExists(atPath: destination.path) {
            let old = destination.deletingLastPathComponent().appendingPathComponent(
                ".\(destination.lastPathComponent).old-\(getpid())")
            try manager.moveItem(at: destination, to: old)
            retired = old
        }
        if rename(staging.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            if let retired { try? manager.moveItem(at: retired, to: destination) }
            throw DataError(file: destination.path, "cannot move the finished output into place: \(reason)")
        }
        if let retired { try? manager.removeItem(at: retired) }
    }

    public func discard() {
        try? FileManager.default.removeItem(at: staging)
    }
}

/// Makes `url` and the folders above it, if missing.
public func createDirectory(_ url: URL) throws {
    do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
        throw DataError(file: url.path, "cannot create directory: \(error.localizedDescription)")
    }
}

/// Writes `bytes` to a temporary name beside `url`, then renames it over
/// `url`: readers, and a run killed mid-write, see the old file or the new one.
public func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
        try Data(bytes).write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            throw DataError(file: url.path, "cannot rename into place: \(String(cString: strerror(errno)))")
        }
    } catch let error as DataError {
        try? FileManager.default.removeItem(at: temporary)
        throw error
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw DataError(file: url.path, "cannot write: \(error.localizedDescription)")
    }
}
