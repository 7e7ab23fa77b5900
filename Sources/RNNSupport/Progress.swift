import Foundation

/// Progress on stderr: a redrawn bar on a terminal, plain periodic lines
/// otherwise (logs and CI), nothing when quiet.
public final class ProgressReporter: @unchecked Sendable {
    public let title: String
    private let total: Double
    private let unit: Unit
    private let enabled: Bool
    private let isTerminal = isatty(2) == 1
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastPlainStep = -1
    private let lock = NSLock()
    /// Where a host (the Python trainer) shows progress its own way; nil: stderr.
    private let sink: ((_ done: Double, _ total: Double, _ detail: String) -> Void)?

    public enum Unit { case bytes, items }

    public init(
        title: String, total: Double, unit: Unit, quiet: Bool,
        sink: ((_ done: Double, _ total: Double, _ detail: String) -> Void)? = nil
    ) {
        self.title = title
        self.total = max(total, 1)
        self.unit = unit
        self.enabled = !quiet
        self.sink = sink
    }

    public func update(_ done: Double, detail: String = "") {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        if let sink { return sink(done, total, detail) }
        let fraction = min(max(done / total, 0), 1)
        if isTerminal {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.1 || fraction >= 1 else { return }
            lastDraw = now
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\(title) \(bar) \(percent(fraction)) \(amount(done))/\(amount(total)) \(elapsed()) \(detail)"
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            let step = Int(fraction * 10)
            guard step > lastPlainStep else { return }
            lastPlainStep = step
            FileHandle.standardError.write(
                Data("\(title): \(percent(fraction)) (\(amount(done))/\(amount(total)), \(elapsed())) \(detail)\n".utf8)
            )
        }
    }

    public func finish() {
        guard enabled, isTerminal, sink == nil else { return }
        lock.lock()
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        lock.unlock()
    }

    private func percent(_ fraction: Double) -> String { String(format: "%3.0f%%", fraction * 100) }
    private func elapsed() -> String { String(format: "%.1fs", Date().timeIntervalSince(start)) }
    private func amount(_ value: Double) -> String {
        switch unit {
        case .bytes:
            return value >= 1e6 ? String(format: "%.1f MB", value / 1e6) : String(format: "%.0f kB", value / 1e3)
        case .items: return "\(Int(value))"
        }
    }
}
