import Foundation
import RNNBinary
import RNNSupport
import RNNText

public struct PrepConfiguration {
    public var dataset: String
    public var tokenizer: TokenizerSpec
    /// The `vocab.txt` or `tokenizer.json` a WordPiece tokenizer reads (a tokenizer.json's
    /// normalizer settings replace the spec's).
    public var vocabularyFile: String?
    public var shardSize: Int
    public var output: URL
    public var replace: Bool
    public var quiet: Bool
    public var command: [String]
    public var recipe: String?
    /// When set, its tokenizer and labels replace `tokenizer` and the training split's: no split is
    /// then required, and a label the model does not know is an error.
    public var model: ModelVocabulary?

    public init(
        dataset: String, tokenizer: TokenizerSpec, vocabularyFile: String?, shardSize: Int, output: URL,
        replace: Bool, quiet: Bool, command: [String], recipe: String?, model: ModelVocabulary? = nil
    ) {
        self.model = model
        self.dataset = dataset
        self.tokenizer = tokenizer
        self.vocabularyFile = vocabularyFile
        self.shardSize = shardSize
        self.output = output
        self.replace = replace
        self.quiet = quiet
        self.command = command
        self.recipe = recipe
    }
}

public struct PrepResult {
    public var manifest: Manifest
    public var summary: DatasetSummary
}

/// Reads every input once, tokenizes, and writes shards, vocabulary and
/// manifest. Reading (decompression, parsing) runs on its own thread and
/// tokenization on the caller's, so the two cores overlap.
public enum Prep {
    public static func run(readers: [ExampleReader], configuration: PrepConfiguration) throws -> PrepResult {
        let started = Date()
        guard configuration.shardSize > 0 else { throw DataError(file: "--shard-size", "must be at least 1") }
        let staged = try StagedDirectory(destination: configuration.output, replacing: configuration.replace)
        do {
            let result = try build(readers: readers, configuration: configuration, staged: staged, started: started)
            try staged.commit()
            return result
        } catch {
            staged.discard()
            throw error
        }
    }

    private static func build(
        readers: [ExampleReader], configuration: PrepConfiguration, staged: StagedDirectory, started: Date
    ) throws -> PrepResult {
        let tokenization =
            try configuration.model.map(Tokenization.init(model:))
            ?? Tokenization(spec: configuration.tokenizer, vocabularyFile: configuration.vocabularyFile)
        let totalBytes = readers.reduce(Int64(0)) { $0 + $1.totalBytes }
        let progress = ProgressReporter(
            title: "prep \(configuration.dataset)", total: Double(totalBytes), unit: .bytes, quiet: configuration.quiet)

        // One thread reads (decompression, parsing) and tokenizer workers on
        // the other cores take numbered batches; a merge restores reading
        // order, so the output never depends on thread timing. Reading is the
        // sequential part, so it gets a core of its own: when the workers fall
        // behind, the reader tokenizes a batch itself rather than wait.
        let workerThreads = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)
        let workers = (0...workerThreads).map { _ in TokenizerWorker(tokenization) }
        let readersWorker = workers[workerThreads]
        let queue = BoundedQueue<Batch>(capacity: 64)
        let readFailure = FailureBox()
        let producerDone = DispatchSemaphore(value: 0)
        let producer = Thread {
            var bytesBefore: Int64 = 0
            var sequence = 0
            do {
                for (readerIndex, reader) in readers.enumerated() {
                    var batch: [RawExample] = []
                    batch.reserveCapacity(64)
                    func send() {
                        let numbered = Batch(sequence: sequence, reader: UInt16(readerIndex), examples: batch)
                        if !queue.tryPush(numbered) { readersWorker.process(numbered) }
                        sequence += 1
                        batch.removeAll(keepingCapacity: true)
                    }
                    let skipped = try reader.read(progress: { progress.update(Double(bytesBefore + $0)) }) { example in
                        batch.append(example)
                        if batch.count == 64 { send() }
                    }
                    if !batch.isEmpty { send() }
                    if skipped > 0 { readFailure.skipped.append((reader.inputDescription, skipped)) }
                    bytesBefore += reader.totalBytes
                }
            } catch {
                readFailure.error = error
            }
            queue.close()
            producerDone.signal()
        }
        producer.stackSize = 8 << 20
        producer.start()

        DispatchQueue.concurrentPerform(iterations: workerThreads) { w in
            while let batch = queue.pop() { workers[w].process(batch) }
        }
        producerDone.wait()
        progress.finish()
        if let error = readFailure.error { throw error }
        let labelKinds = workers.reduce(Set<String>()) { $0.union($1.labelKinds) }
        let (splits, vocabulary, distinctTrainWords) = TokenizerWorker.merge(workers, spec: tokenization.spec)

        for reader in readers {
            for name in reader.splits where (splits[name]?.count ?? 0) == 0 {
                throw DataError(
                    file: reader.inputDescription, "the \(name) split is empty (expected at least one example)")
            }
        }
        let train = splits["train"]
        if train == nil && configuration.model == nil {
            throw DataError(
                file: readers.map(\.inputDescription).joined(separator: ", "),
                "no training split (the vocabulary and label set come from it; name a file train… or pass --split train)"
            )
        }
        guard labelKinds.count <= 1 else {
            throw DataError(
                file: readers.map(\.inputDescription).joined(separator: ", "),
                "inputs mix class indices and label names")
        }
        let labelNames =
            try configuration.model.map { try mapLabels(splits: splits, to: $0, readers: readers) }
            ?? resolveLabels(splits: splits, train: train!, readers: readers)
        let tokenizer = try Tokenizer(spec: tokenization.spec, vocabulary: vocabulary)

        let ordered = splits.values.sorted {
            splitOrder($0.name) < splitOrder($1.name)
                || (splitOrder($0.name) == splitOrder($1.name) && $0.name < $1.name)
        }
        // Splits are independent: encode, write and summarize them on all cores.
        let splitResults = ConcurrentResults<(Manifest.SplitRecord, DatasetSummary.Split)>(count: ordered.count)
        DispatchQueue.concurrentPerform(iterations: ordered.count) { i in
            splitResults.set(
                i,
                Result {
                    let record = try writeShards(
                        of: ordered[i], labelCount: labelNames.count, vocabularySize: vocabulary.count,
                        shardSize: configuration.shardSize, staged: staged)
                    return (
                        record,
                        DatasetSummary.Split(
                            ordered[i], labelCounts: record.labelCounts, unknownID: tokenizer.specialIDs.unknown)
                    )
                })
        }
        let written = try splitResults.values()
        let splitRecords = written.map(\.0)
        let vocabularyBytes = vocabulary.fileBytes()
        try staged.write(vocabularyBytes, to: "vocab.txt")
        let manifest = Manifest(
            dataset: configuration.dataset,
            labels: labelNames,
            tokenizer: .init(
                spec: tokenization.spec, vocabularyFile: "vocab.txt", vocabularySize: vocabulary.count,
                vocabularyCRC32: hex32(CRC32.checksum(vocabularyBytes)), specialIDs: tokenizer.specialIDs),
            splits: splitRecords,
            provenance: .init(
                tool: "prep", version: "\(rnnkitVersion)", command: configuration.command,
                inputs: readers.map { .init(path: $0.inputDescription, bytes: $0.totalBytes) },
                recipe: configuration.recipe, created: ISO8601DateFormatter().string(from: Date())))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try staged.write(Array(try encoder.encode(manifest)) + [0x0A], to: "manifest.json")

        let summary = DatasetSummary(
            manifest: manifest, splits: written.map(\.1), distinctTrainWords: distinctTrainWords,
            skipped: readFailure.skipped, seconds: Date().timeIntervalSince(started), model: configuration.model?.path)
        return PrepResult(manifest: manifest, summary: summary)
    }

    private static func splitOrder(_ name: String) -> Int {
        ["train": 0, "validation": 1, "test": 2, "unsup": 3][name] ?? 4
    }

    /// Label names from the readers, or — for free-text labels — the training
    /// split's labels in a stable order (numeric when all are integers).
    private static func resolveLabels(splits: [String: SplitBuilder], train: SplitBuilder, readers: [ExampleReader])
        throws -> [String]
    {
        if let names = readers.compactMap(\.labelNames).first { return names }
        let trainCodes = Set(train.labels.filter { $0 >= 0 })
        var names = trainCodes.map { train.labelTexts.key($0) }
        if names.allSatisfy({ Int($0) != nil }) { names.sort { Int($0)! < Int($1)! } } else { names.sort() }
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        for split in splits.values {
            for (i, code) in split.labels.enumerated() where code >= 0 {
                let text = split.labelTexts.key(code)
                guard let mapped = index[text] else {
                    throw DataError(
                        file: readers[Int(split.readerIndex[i])].inputDescription, place: "line \(split.sources[i])",
                        "label \"\(text)\" does not occur in the training split (its labels: \(names.joined(separator: ", ")))"
                    )
                }
                split.labels[i] = mapped
            }
        }
        return names
    }

    /// Labels as the model numbers them, whether the readers gave indices into their own names or texts.
    private static func mapLabels(splits: [String: SplitBuilder], to model: ModelVocabulary, readers: [ExampleReader])
        throws -> [String]
    {
        let index = Dictionary(model.labels.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
        for split in splits.values {
            for (i, code) in split.labels.enumerated() where code >= 0 {
                let reader = readers[Int(split.readerIndex[i])]
                let text =
                    if let names = reader.labelNames, Int(code) < names.count { names[Int(code)] } else {
                        split.labelTexts.key(code)
                    }
                guard let mapped = index[text] else {
                    throw DataError(
                        file: reader.inputDescription, place: "line \(split.sources[i])",
                        "label \"\(text)\" is not one of the model's labels (\(model.labels.joined(separator: ", ")); \(model.path))"
                    )
                }
                split.labels[i] = mapped
            }
        }
        return model.labels
    }

    private static func writeShards(
        of split: SplitBuilder, labelCount: Int, vocabularySize: Int, shardSize: Int,
        staged: StagedDirectory
    ) throws -> Manifest.SplitRecord {
        var records: [Manifest.ShardRecord] = []
        var labelCounts = [Int](repeating: 0, count: labelCount)
        var start = 0
        while start < split.count {
            let end = min(split.count, start + shardSize)
            for label in split.labels[start..<end] where label >= 0 { labelCounts[Int(label)] += 1 }
            let bytes = ShardFormat.encode(
                offsets: split.offsets[start...end], tokens: split.tokens[split.offsets[start]..<split.offsets[end]],
                labels: split.labels[start..<end], sources: split.sources[start..<end],
                ratings: split.ratings[start..<end], vocabularySize: vocabularySize)
            let name = "\(split.name)-\(String(format: "%05d", records.count)).shard"
            try staged.write(bytes, to: name)
            records.append(
                .init(
                    file: name, examples: end - start, bytes: bytes.count,
                    crc32: hex32(ShardFormat.storedChecksum(bytes))))
            start = end
        }
        let labeled = !split.labels.contains(-1)
        return .init(
            name: split.name, examples: split.count, tokens: split.tokens.count, labeled: labeled,
            labelCounts: labeled ? labelCounts : [], shards: records)
    }
}

/// Results of work run with `concurrentPerform`, one slot per iteration.
final class ConcurrentResults<Value>: @unchecked Sendable {
    private var results: [Result<Value, Error>?]
    private let lock = NSLock()

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<Value, Error>) {
        lock.lock()
        results[index] = result
        lock.unlock()
    }

    /// The values in order, or the first error.
    func values() throws -> [Value] { try results.map { try $0!.get() } }
}

/// The producer thread's error, handed to the consumer; the semaphore the
/// producer signals after setting it orders the write before the read.
final class FailureBox: @unchecked Sendable {
    var error: Error?
    /// Inputs whose reader skipped rows, and how many.
    var skipped: [(input: String, rows: Int)] = []
}
