import ArgumentParser
import RNNBinary
import RNNClassifyTool
import RNNConvertTool
import RNNPrepTool
import RNNTrainTool

/// The installed tool: one name for prep, train, classify and convert, which clashes with no other
/// program's (ImageMagick installs a `convert`).
@main
struct RNNKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnnkit",
        abstract: "Offline text classification with recurrent networks: prep, train, classify, convert.",
        version: rnnkitVersion.description,
        subcommands: [PrepCommand.self, TrainCommand.self, ClassifyCommand.self, ConvertCommand.self])
}
