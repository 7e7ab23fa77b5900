import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNSupport
import RNNTrain

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a sweep file's runs (resumably) and write its report.",
        discussion: """
            A sweep file (e.g. Pipelines/imdb-investigation.json; format in Artifacts/sweep-format.md) names a base \
            recipe, the prep command, the axes to vary and the seeds. Each run trains into --out/<run>/ with its own \
            recipe.json; runs already finished are skipped and a killed run resumes from its checkpoint. Prep runs \
            once per distinct tokenizer setting, into --out/prep/. Writes --out/report.md and --out/report.html.
            """)

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

    func run() throws {
        OpenBLASCorrection.correctFallback()
        setvbuf(stdout, nil, _IOLBF, 0)
        try reportingErrors {
            let sweep = try SweepFile.load(URL(fileURLWithPath: file))
            let (_, recipePath) = try Recipe.load(sweep.recipe)
            guard let baseRecipe = FileManager.default.contents(atPath: recipePath) else {
                throw DataError(file: recipePath, "cannot read the recipe")
            }
            let output = URL(fileURLWithPath: out ?? "runs/\(sweep.name)", isDirectory: true)
            let prep = ToolCommand("prep")
            let runs = try sweep.expand(baseRecipe: baseRecipe)
            try createDirectory(output)
            var results: [SweepResult] = []
            for (index, run) in runs.enumerated() {
                let directory = output.appendingPathComponent(run.name, isDirectory: true)
                if !reportOnly && !isFinished(directory) {
                    print("sweep \(sweep.name): run \(index + 1) of \(runs.count), \(run.name)")
                    try train(run, sweep: sweep, output: output, prep: prep)
                }
                if isFinished(directory),
                    let metrics = FileManager.default.contents(
                        atPath: directory.appendingPathComponent("metrics.jsonl").path)
                {
                    results.append(try SweepResult(run: run, metrics: metrics))
                }
            }
            let report = SweepReport(sweep: sweep, baseRecipe: baseRecipe, results: results) { run in
                reproduction(run, sweep: sweep, output: output)
            }
            try writeAtomically(Array(try report.markdown().utf8), to: output.appendingPathComponent("report.md"))
            try writeAtomically(Array(try report.html().utf8), to: output.appendingPathComponent("report.html"))
            print(
                "sweep \(sweep.name): \(results.count) of \(runs.count) runs finished; report in \(output.path)/report.html"
            )
        }
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

    func train(_ run: SweepRun, sweep: SweepFile, output: URL, prep: ToolCommand) throws {
        let (directory, recipeURL) = paths(run, output: output)
        try createDirectory(directory)
        try writeAtomically(Array(run.recipe), to: recipeURL)
        let recipe: Recipe
        do { recipe = try JSONDecoder().decode(Recipe.self, from: run.recipe) } catch {
            throw DataError(file: recipeURL.path, "the sweep made an invalid recipe: \(error)")
        }
        let shards = try prepared(run, sweep: sweep, output: output, prep: prep)
        var overrides = TrainOverrides()
        overrides.threads = threads
        let config = try TrainConfig(recipe: recipe, recipePath: recipeURL.path, overrides: overrides)
        if let problem = config.problem { throw DataError(file: recipeURL.path, problem) }
        var training = TrainingRun(
            dataset: try PreparedDataset(directory: shards), config: config, output: directory)
        training.resume = FileManager.default.fileExists(
            atPath: directory.appendingPathComponent("checkpoint.rnnk").path)
        training.quiet = quiet
        try training.run()
    }

    /// The run's shards: prep's output for its tokenizer settings, made on first use.
    func prepared(_ run: SweepRun, sweep: SweepFile, output: URL, prep: ToolCommand) throws -> URL {
        let directory = prepCache(run, sweep: sweep, output: output)
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.json").path) {
            return directory
        }
        let process = Process()
        process.executableURL = prep.executable
        process.arguments =
            prep.leadingArguments + prepArguments(sweep) + [
                "--recipe", paths(run, output: output).recipe.path, "--out", directory.path, "--force", "--quiet",
            ]
        do { try process.run() } catch { throw DataError(file: prep.executable.path, "cannot start prep: \(error)") }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DataError(file: "sweep \(sweep.name), run \(run.name)", "prep failed (see its message above)")
        }
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
