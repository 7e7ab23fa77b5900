import ArgumentParser
import CRNNKit
import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNModel
import RNNPrepTool
import RNNSupport
import RNNTrain
import RNNTrainOptions

// The C ABI of librnnkit (Sources/CRNNKit/rnnkit.h). Only C types cross it:
// status codes, caller-owned strings, callbacks; settings are the tools' flags.

/// Per-thread error messages: a malloc'd C string under a pthread key.
let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

func fail(_ status: rnnkit_status, _ message: String) -> rnnkit_status {
    free(pthread_getspecific(errorKey))
    pthread_setspecific(errorKey, strdup(message))
    return status
}

/// Runs `body`, turning whatever it throws into a status and the message the tools would print.
func guarded(_ function: String, _ body: () throws -> Void) -> rnnkit_status {
    do {
        try body()
        return RNNKIT_OK
    } catch let error as TrainingInterrupted {
        return fail(RNNKIT_ERROR_INTERRUPTED, "\(error)")
    } catch let error as DataError {
        // The tools' messages for missing inputs begin so (Recipe, DataDirectory, Manifest, MappedFile…).
        let missing = ["not found", "recipe not found", "cannot open: No such file", "no split"].contains {
            error.problem.hasPrefix($0)
        }
        return fail(missing ? RNNKIT_ERROR_NOT_FOUND : RNNKIT_ERROR_FORMAT, "\(error)")
    } catch let error as ArgumentProblem {
        return fail(RNNKIT_ERROR_INVALID_ARGUMENT, "\(function): \(error.message)")
    } catch {
        return fail(RNNKIT_ERROR_IO, "\(function): \(error)")
    }
}

/// A run that reports lines and progress, and asks whether to stop: a training run or a sweep.
protocol HostedRun {
    var report: (String) -> Void { get set }
    var progressSink: ((_ title: String, _ done: Double, _ total: Double, _ detail: String) -> Void)? { get set }
    var quiet: Bool { get set }
    var shouldStop: () -> Bool { get set }
}

extension TrainingRun: HostedRun {}
extension SweepRunner: HostedRun {}

extension Callbacks {
    /// Routes `run`'s lines, progress and stop requests to the host. A library does not draw on its host's
    /// stderr: without a progress callback the run is quiet.
    func attach<Run: HostedRun>(to run: inout Run) {
        run.report = line
        run.progressSink = progress
        if progress == nil { run.quiet = true }
        run.shouldStop = shouldStop
    }
}

/// A flag the tools' parser refused, in its words.
struct ArgumentProblem: Error { var message: String }

/// The argument vector (`count` C strings), or nil when it cannot be one.
func arguments(_ function: String, _ vector: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int) throws -> [String] {
    guard count >= 0, count < 1 << 20 else {
        throw ArgumentProblem(message: "argument_count \(UInt(bitPattern: count)) is larger than any argument vector")
    }
    guard count == 0 || vector != nil else {
        throw ArgumentProblem(message: "arguments is NULL with a count of \(count)")
    }
    return try (0..<count).map { index in
        guard let argument = vector![index] else { throw ArgumentProblem(message: "argument \(index) is NULL") }
        return String(cString: argument)
    }
}

/// Parses `arguments` as `T`'s flags, with the tools' messages for what it refuses.
func parse<T: ParsableArguments>(_ type: T.Type, _ arguments: [String]) throws -> T {
    do { return try T.parse(arguments) } catch { throw ArgumentProblem(message: T.message(for: error)) }
}

/// The host's callbacks as the tools' report and progress hooks.
struct Callbacks {
    var line: (String) -> Void = { _ in }
    var progress: ((String, Double, Double, String) -> Void)?
    var shouldStop: () -> Bool = { false }
    var result: ((String) -> Void)?

    init(_ pointer: UnsafePointer<rnnkit_callbacks>?) {
        guard let callbacks = pointer?.pointee else { return }
        let context = callbacks.context
        if let line = callbacks.line { self.line = { text in text.withCString { line(context, $0) } } }
        if let result = callbacks.result { self.result = { text in text.withCString { result(context, $0) } } }
        if let progress = callbacks.progress {
            self.progress = { title, done, total, detail in
                title.withCString { t in detail.withCString { d in progress(context, t, done, total, d) } }
            }
        }
        if let stop = callbacks.stop { shouldStop = { stop.pointee != 0 } }
    }
}

@c(rnnkit_abi_version)
public func rnnkitABIVersion() -> Int32 { Int32(RNNKIT_ABI_VERSION) }

@c(rnnkit_version)
public func rnnkitVersionString() -> UnsafePointer<CChar> {
    UnsafeRawPointer(rnnkitVersion.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c(rnnkit_status_string)
public func rnnkitStatusString(_ status: rnnkit_status) -> UnsafePointer<CChar> {
    let name: StaticString
    switch status {
    case RNNKIT_OK: name = "ok"
    case RNNKIT_ERROR_INVALID_ARGUMENT: name = "invalid argument"
    case RNNKIT_ERROR_NOT_FOUND: name = "not found"
    case RNNKIT_ERROR_FORMAT: name = "format error"
    case RNNKIT_ERROR_INTERRUPTED: name = "interrupted"
    case RNNKIT_ERROR_IO: name = "I/O error"
    default: name = "unknown status"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c(rnnkit_last_error)
public func rnnkitLastError() -> UnsafePointer<CChar> {
    if let message = pthread_getspecific(errorKey) { return UnsafePointer(message.assumingMemoryBound(to: CChar.self)) }
    return UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

/// prep's common flags, and the dataset's name (prep's dataset commands each have their own).
struct PrepArguments: ParsableArguments {
    @Option(help: "Dataset name, recorded in the manifest.") var name = "python"
    @OptionGroup var common: CommonOptions
}

@c(rnnkit_prepare)
public func rnnkitPrepare(
    _ sources: UnsafePointer<rnnkit_source>?, _ sourceCount: Int,
    _ argumentVector: UnsafePointer<UnsafePointer<CChar>?>?,
    _ argumentCount: Int, _ callbacks: UnsafePointer<rnnkit_callbacks>?
) -> rnnkit_status {
    guarded("rnnkit_prepare") {
        let given = try arguments("rnnkit_prepare", argumentVector, argumentCount)
        let options = try parse(PrepArguments.self, given)
        guard sourceCount > 0, sourceCount < 1 << 20, let sources else {
            throw ArgumentProblem(message: "give between 1 and 2^20 sources (got \(UInt(bitPattern: sourceCount)))")
        }
        let readers = try (0..<sourceCount).map { try reader(sources[$0], index: $0) }
        var configuration = try options.common.configuration(dataset: options.name, defaultRecipe: "csv")
        configuration.command = ["rnnkit_prepare"] + given
        // A library does not draw on its host's stderr; prep takes seconds, the summary goes to callbacks->line.
        configuration.quiet = true
        let hooks = Callbacks(callbacks)
        let result = try Prep.run(readers: readers, configuration: configuration)
        hooks.line(result.summary.text)
    }
}

/// The reader of one source: the tools' own for a file, a MemoryReader for rows.
func reader(_ source: rnnkit_source, index: Int) throws -> ExampleReader {
    let place = "source \(index)"
    guard let split = source.split.map({ String(cString: $0) }), ["train", "validation", "test"].contains(split) else {
        throw ArgumentProblem(message: "\(place): split must be \"train\", \"validation\" or \"test\"")
    }
    func strings(_ vector: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int, _ what: String) throws -> [String] {
        do { return try arguments(what, vector, count) } catch let problem as ArgumentProblem {
            throw ArgumentProblem(message: "\(place): \(what): \(problem.message)")
        }
    }
    if let path = source.path.map({ String(cString: $0) }) {
        let format = source.format.map { String(cString: $0) } ?? "csv"
        let texts = try strings(source.text_columns, source.text_column_count, "text_columns")
        guard !texts.isEmpty, let label = source.label_column.map({ String(cString: $0) }) else {
            throw ArgumentProblem(message: "\(place): a file needs text_columns and label_column")
        }
        switch format {
        case "csv":
            let delimiter = try source.delimiter.map { argument -> UInt8 in
                let text = String(cString: argument)
                guard let byte = CSVTableReader.delimiter(text) else {
                    throw ArgumentProblem(message: "\(place): delimiter \"\(text)\" is not one ASCII character")
                }
                return byte
            }
            return try CSVTableReader(
                path: path, split: split, textColumns: texts.map(ColumnReference.init),
                labelColumn: ColumnReference(label), hasHeader: nil,
                delimiter: delimiter ?? CSVTableReader.defaultDelimiter(forPath: path), quoted: nil)
        case "parquet":
            return try ParquetTableReader(
                path: path, split: split, textColumns: texts.map(ColumnReference.init),
                labelColumn: ColumnReference(label))
        case "jsonl":
            return try JSONLinesReader(path: path, split: split, textFields: texts, labelField: label)
        default:
            throw ArgumentProblem(message: "\(place): format \"\(format)\" is not csv, parquet or jsonl")
        }
    }
    guard source.count >= 0, source.count < 1 << 40 else {
        throw ArgumentProblem(
            message: "\(place): count \(UInt(bitPattern: source.count)) is larger than any list of rows")
    }
    let count = Int(source.count)
    guard count == 0 || (source.texts != nil && source.labels != nil) else {
        throw ArgumentProblem(message: "\(place): texts and labels must not be NULL with \(count) rows")
    }
    func bytes(
        _ pointers: UnsafePointer<UnsafePointer<CChar>?>, _ lengths: UnsafePointer<Int>?, _ row: Int, _ what: String
    )
        throws -> [UInt8]
    {
        let length = lengths?[row] ?? pointers[row].map { strlen($0) } ?? 0
        guard length >= 0, length < 1 << 32 else {
            throw ArgumentProblem(
                message: "\(place): row \(row): \(what) length \(UInt(bitPattern: length)) is larger than any text")
        }
        guard length == 0 || pointers[row] != nil else {
            throw ArgumentProblem(message: "\(place): row \(row): \(what) is NULL with length \(length)")
        }
        guard length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointers[row]!, count: length))
    }
    let rows = try (0..<count).map { row in
        MemoryReader.Row(
            text: try bytes(source.texts!, source.text_lengths, row, "text"),
            label: try bytes(source.labels!, source.label_lengths, row, "label"), split: split)
    }
    return MemoryReader(description: "rows (\(split))", rows: rows)
}

@c(rnnkit_train)
public func rnnkitTrain(
    _ argumentVector: UnsafePointer<UnsafePointer<CChar>?>?, _ argumentCount: Int,
    _ callbacks: UnsafePointer<rnnkit_callbacks>?
) -> rnnkit_status {
    guarded("rnnkit_train") {
        let options = try parse(TrainOptions.self, try arguments("rnnkit_train", argumentVector, argumentCount))
        var run: TrainingRun
        do { run = try options.makeRun() } catch let error as ValidationError {
            throw ArgumentProblem(message: error.message)
        }
        Callbacks(callbacks).attach(to: &run)
        try run.run()
    }
}

@c(rnnkit_evaluate)
public func rnnkitEvaluate(
    _ model: UnsafePointer<CChar>?, _ shards: UnsafePointer<CChar>?, _ split: UnsafePointer<CChar>?, _ threads: Int,
    _ callbacks: UnsafePointer<rnnkit_callbacks>?
) -> rnnkit_status {
    guarded("rnnkit_evaluate") {
        guard let model, let shards, let split else {
            throw ArgumentProblem(message: "model, shards and split must not be NULL")
        }
        guard let result = Callbacks(callbacks).result else {
            throw ArgumentProblem(message: "callbacks->result must be given: it receives the figures")
        }
        guard threads >= 0, threads <= 4096 else {
            throw ArgumentProblem(message: "threads \(UInt(bitPattern: threads)) is not 0 (all cores) to 4096")
        }
        let path = String(cString: model)
        let classifier = try loadClassifier(path)
        let dataset = try PreparedDataset(directory: URL(fileURLWithPath: String(cString: shards), isDirectory: true))
        let (_, data) = try Scoring.examples(
            for: classifier, path: path, dataset: dataset, split: String(cString: split))
        useSingleThreadedBLAS()
        let (metrics, _) = Scoring.evaluate(
            classifier, data, threads: threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        result(String(decoding: try encoder.encode(metrics), as: UTF8.self))
    }
}

@c(rnnkit_sweep)
public func rnnkitSweep(
    _ argumentVector: UnsafePointer<UnsafePointer<CChar>?>?, _ argumentCount: Int,
    _ callbacks: UnsafePointer<rnnkit_callbacks>?
) -> rnnkit_status {
    guarded("rnnkit_sweep") {
        let options = try parse(SweepOptions.self, try arguments("rnnkit_sweep", argumentVector, argumentCount))
        var runner = options.makeRunner()
        let hooks = Callbacks(callbacks)
        hooks.attach(to: &runner)
        let report = try runner.run()
        guard let result = hooks.result else { return }
        func figure(_ spread: Spread) -> [Double?] {
            spread.count == 0 ? [nil, nil] : [spread.mean, spread.deviation]
        }
        let records = report.configurationRows().map { row -> [String: Any] in
            var record: [String: Any] = ["configuration": row.value, "runs": row.results.count]
            let figures: [(String, Spread)] = [
                ("validation_accuracy", row.validationAccuracy), ("validation_macro_f1", row.validationMacroF1),
                ("test_accuracy", row.testAccuracy), ("test_macro_f1", row.testMacroF1),
                ("best_epoch", row.bestEpoch), ("train_accuracy", row.trainAccuracy),
                ("seconds_per_epoch", row.secondsPerEpoch),
            ]
            for (name, spread) in figures {
                let values = figure(spread)
                record[name] = values[0] ?? NSNull()
                record[name + "_deviation"] = values[1] ?? NSNull()
            }
            return record
        }
        result(
            String(decoding: try JSONSerialization.data(withJSONObject: records, options: [.sortedKeys]), as: UTF8.self)
        )
    }
}
