import Foundation

/// How one tool starts another: as a subcommand of this executable when it is the installed `rnnkit`
/// (`rnnkit prep …`), else as the executable of that name beside this one (a checkout's `.build/release/`).
/// Resolved once, at start: a rebuild during a long run replaces the executable, and /proc/self/exe then
/// no longer names it.
public struct ToolCommand: Sendable {
    public let executable: URL
    public let leadingArguments: [String]

    public init(_ tool: String) {
        let current = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if current.lastPathComponent == "rnnkit" {
            executable = current
            leadingArguments = [tool]
        } else {
            executable = current.deletingLastPathComponent().appendingPathComponent(tool)
            leadingArguments = []
        }
    }
}
