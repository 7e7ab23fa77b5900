import ArgumentParser
import Foundation
import RNNBinary
import RNNData
import RNNPrepTool
import RNNSupport
import RNNTrain

/// `train sweep`'s settings (the tool and librnnkit parse the same flags).
public struct SweepOptions: ParsableArguments {
    public init() {}

    @Argument(help: "The sweep file.")
    var file: String

    @Option(help: "Output directory (default: runs/<sweep name>).")
    var out: String?

    @Option(help: "Threads per run (default: all cores).")
    var threads: Int?

    @Flag(help: "Only write the report from the runs finished so far.")
    var reportOnly = false

    @Flag(help: "No progress display.")
    var quiet = false

    /// The runner these settings describe.
    public func makeRunner() -> SweepRunner {
        SweepRunner(file: file, out: out, threads: threads, reportOnly: reportOnly, quiet: quiet)
    }
}

/// A sweep file's runs, trained in turn (resumably), and its report: prep runs in this process once per
/// distinct tokenizer setting, into <out>/prep/; each run trains into <out>/<run>/ with its own recipe.json.
public struct SweepRunner {
    public var file: String
    public var out: String?
    public var threads: Int?
    public var reportOnly: Bool
    public var quiet: Bool
    /// Where the sweep's and its runs' lines go (stdout for the command).
    public var report: (String) -> Void = { print($0) }
    /// A host's own display of each epoch's progress, and its stop request (see TrainingRun).
    public var progressSink: ((_ title: String, _ done: Double, _ total: Double, _ detail: String) -> Void)?
    public var shouldStop: () -> Bool = { false }

    /// Runs what is not finished and writes report.md and report.html; returns the report.
    @discardableResult
    public func run() throws -> SweepReport {
        let sweep = try SweepFile.load(URL(fileURLWithPath: file))
        let (_, recipePath) = try Recipe.load(sweep.recipe)
        guard let baseRecipe = FileManager.default.contents(atPath: recipePath) else {
            throw DataError(file: recipePath, "cannot read the recipe")
        }
        let output = URL(fileURLWithPath: out ?? "runs/\(sweep.name)", isDirectory: true)
        let runs = try sweep.expand(baseRecipe: baseRecipe)
        try createDirectory(output)
        var results: [SweepResult] = []
        for (index, run) in runs.enumerated() {
            let directory = output.appendingPathComponent(run.name, isDirectory: true)
            if !reportOnly && !isFinished(directory) {
                report("sweep \(sweep.name): run \(index + 1) of \(runs.count), \(run.name)")
                try train(run, sweep: sweep, output: output)
            }
            if isFinished(directory),
                let metrics = FileManager.default.contents(
                    atPath: directory.appendingPathComponent("metrics.jsonl").path)
            {
                results.append(try SweepResult(run: run, metrics: metrics))
            }
        }
        let summary = SweepReport(sweep: sweep, baseRecipe: baseRecipe, results: results) { run in
            reproduction(run, sweep: sweep, output: output)
        }
        try writeAtomically(Array(try summary.markdown().utf8), to: output.appendingPathComponent("report.md"))
        try writeAtomically(Array(try summary.html().utf8), to: output.appendingPathComponent("report.html"))
        report(
            "sweep \(sweep.name): \(results.count) of \(runs.count) runs finished; report in \(output.path)/report.html"
        )
        return summary
    }

    /// A run is finished once its model file is written: the trainer writes it last.
    func isFinished(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.rnnk").path)
    }

    /// Where a run trains, and the recipe it trains with.
    func paths(_ run: SweepRun, output: URL) -> (directory: URL, recipe: URL) {
        let directory = output.appendingPathComponent(run.name, isDirectory: true)
        return (directory, directory.appendingPathComponent("recipe.json"))
    }

    func train(_ run: SweepRun, sweep: SweepFile, output: URL) throws {
        let (directory, recipeURL) = paths(run, output: output)
        try createDirectory(directory)
        try writeAtomically(Array(run.recipe), to: recipeURL)
        let recipe: Recipe
        do { recipe = try JSONDecoder().decode(Recipe.self, from: run.recipe) } catch {
            throw DataError(file: recipeURL.path, "the sweep made an invalid recipe: \(error)")
        }
        let shards = try prepared(run, sweep: sweep, output: output)
        var overrides = TrainOverrides()
        overrides.threads = threads
        let config = try TrainConfig(recipe: recipe, recipePath: recipeURL.path, overrides: overrides)
        if let problem = config.problem { throw DataError(file: recipeURL.path, problem) }
        var training = TrainingRun(
            dataset: try PreparedDataset(directory: shards), config: config, output: directory)
        training.resume = FileManager.default.fileExists(
            atPath: directory.appendingPathComponent("checkpoint.rnnk").path)
        training.quiet = quiet
        training.report = report
        training.progressSink = progressSink
        training.shouldStop = shouldStop
        try training.run()
    }

    /// The run's shards: prep's output for its tokenizer settings, made on first use.
    func prepared(_ run: SweepRun, sweep: SweepFile, output: URL) throws -> URL {
        let directory = prepCache(run, sweep: sweep, output: output)
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.json").path) {
            return directory
        }
        _ = try PrepCommand.prepare(
            arguments: prepArguments(sweep) + [
                "--recipe", paths(run, output: output).recipe.path, "--out", directory.path, "--force", "--quiet",
            ])
        return directory
    }

    func prepArguments(_ sweep: SweepFile) -> [String] {
        sweep.prep.map { $0.replacingOccurrences(of: "$DATA", with: DataDirectory.url.path) }
    }

    /// One directory per distinct tokenizer section (and prep command).
    func prepCache(_ run: SweepRun, sweep: SweepFile, output: URL) -> URL {
        var key = Array(sweep.prep.joined(separator: "\u{0}").utf8)
        if case .object(let recipe)? = try? JSONValue(json: run.recipe), let tokenizer = recipe["tokenizer"],
            let canonical = try? tokenizer.canonical()
        {
            key += canonical
        }
        let name = String(format: "%08x", CRC32.checksum(key))
        return output.appendingPathComponent("prep", isDirectory: true).appendingPathComponent(name, isDirectory: true)
    }

    func reproduction(_ run: SweepRun, sweep: SweepFile, output: URL) -> String {
        let (directory, recipe) = paths(run, output: output)
        let shards = prepCache(run, sweep: sweep, output: output).path
        return (["prep"] + prepArguments(sweep) + ["--recipe", recipe.path, "--out", shards]).joined(separator: " ")
            + " && train fit --shards \(shards) --recipe \(recipe.path) --out \(directory.path)"
            + (trainedThreads(directory).map { " --threads \($0)" } ?? "")
    }

    /// The thread count a finished run trained with, from its model file's configuration:
    /// the same seed gives the same bits only with the same count.
    func trainedThreads(_ directory: URL) -> Int? {
        struct Threads: Decodable { var threads: Int }
        guard let bytes = FileManager.default.contents(atPath: directory.appendingPathComponent("model.rnnk").path),
            let file = try? Array(bytes).withUnsafeBytes({ try ModelFile(bytes: $0) }),
            case .string(let config)? = file["training.config"]
        else { return nil }
        return try? JSONDecoder().decode(Threads.self, from: Data(config.utf8)).threads
    }
}
