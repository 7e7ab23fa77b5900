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
    /// Bytes of tokenized examples held in memory before they go to spill files beside the output
    /// (read back when the shards are cut); the rest of prep's memory is set by the vocabulary.
    public var memory = 256 << 20

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
        // The spill files live beside the output (not in a memory-backed /tmp) and go with the staging directory.
        let bufferPerWorker = max(1, configuration.memory / (workerThreads + 1))
        let workers = (0...workerThreads).map {
            TokenizerWorker(
                tokenization,
                store: SpillStore(
                    path: staged.staging.appendingPathComponent(".tokens-\($0)").path, bufferLimit: bufferPerWorker))
        }
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
        if let error = workers.lazy.compactMap(\.failure).first { throw error }
        let labelKinds = workers.reduce(Set<String>()) { $0.union($1.labelKinds) }
        let (splits, vocabulary, toVocabulary, distinctTrainWords) = TokenizerWorker.merge(
            workers, spec: tokenization.spec)

        for reader in readers {
            for name in reader.splits where splits[name] == nil {
                throw DataError(
                    file: reader.inputDescription, "the \(name) split is empty (expected at least one example)")
            }
        }
        if splits["train"] == nil && configuration.model == nil {
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
        let labels = try LabelMapping(workers: workers, readers: readers, model: configuration.model)
        // Label sets in any input make every example's labels a set (most hold one label).
        let multiLabel = workers.contains { $0.sawLabelSets }
        let tokenizer = try Tokenizer(spec: tokenization.spec, vocabulary: vocabulary)

        let ordered = splits.keys.sorted {
            splitOrder($0) < splitOrder($1) || (splitOrder($0) == splitOrder($1) && $0 < $1)
        }
        // Splits are independent: each is read back, cut into shards and summarized on its own core.
        let splitResults = ConcurrentResults<(Manifest.SplitRecord, DatasetSummary.Split)>(count: ordered.count)
        DispatchQueue.concurrentPerform(iterations: ordered.count) { i in
            splitResults.set(
                i,
                Result {
                    try writeShards(
                        of: ordered[i], chunks: splits[ordered[i]]!, workers: workers, toVocabulary: toVocabulary,
                        labels: labels, multiLabel: multiLabel, readers: readers, vocabularySize: vocabulary.count,
                        unknownID: tokenizer.specialIDs.unknown, shardSize: configuration.shardSize, staged: staged)
                })
        }
        let written = try splitResults.values()
        for worker in workers { worker.store.remove() }
        let splitRecords = written.map(\.0)
        let vocabularyBytes = vocabulary.fileBytes()
        try staged.write(vocabularyBytes, to: "vocab.txt")
        let manifest = Manifest(
            dataset: configuration.dataset,
            labels: labels.names,
            multiLabel: multiLabel ? true : nil,
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

    /// Reads a split's stored runs back in order with final ids and labels,
    /// writing a shard whenever `shardSize` examples are in hand.
    private static func writeShards(
        of name: String, chunks: [(worker: Int, chunk: StoredChunk)], workers: [TokenizerWorker],
        toVocabulary: [[Int32]?], labels: LabelMapping, multiLabel: Bool, readers: [ExampleReader],
        vocabularySize: Int, unknownID: Int32, shardSize: Int, staged: StagedDirectory
    ) throws -> (Manifest.SplitRecord, DatasetSummary.Split) {
        var records: [Manifest.ShardRecord] = []
        var labelCounts = [Int](repeating: 0, count: labels.names.count)
        var shard = Shard()
        var examples = 0, tokens = 0, unknown = 0, labeled = true
        var wordLengths: [Int: Int] = [:], tokenLengths: [Int: Int] = [:]
        func flush() throws {
            guard shard.count > 0 else { return }
            let bytes = ShardFormat.encode(shard, vocabularySize: vocabularySize)
            let file = "\(name)-\(String(format: "%05d", records.count)).shard"
            try staged.write(bytes, to: file)
            records.append(
                .init(
                    file: file, examples: shard.count, bytes: bytes.count,
                    crc32: hex32(ShardFormat.storedChecksum(bytes))))
            shard = Shard()
        }
        var bytes: [UInt8] = []
        var ids: [Int32] = []
        var softLabeled: Bool?
        for (w, chunk) in chunks {
            try workers[w].store.read(offset: chunk.offset, count: chunk.bytes, into: &bytes)
            try bytes.withUnsafeBytes { raw in
                let headers = chunk.count * TokenizerWorker.exampleHeader
                func field(_ example: Int, _ at: Int) -> UInt32 {
                    UInt32(
                        littleEndian: raw.loadUnaligned(
                            fromByteOffset: example * TokenizerWorker.exampleHeader + at, as: UInt32.self))
                }
                func sum(_ at: Int) -> Int { (0..<chunk.count).reduce(0) { $0 + Int(field($1, at)) } }
                var tokenAt = headers
                var softLabelAt = tokenAt + 4 * sum(0)
                var moreLabelAt = softLabelAt + 4 * sum(16)
                func value(at offset: Int) -> UInt32 {
                    UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                }
                for i in 0..<chunk.count {
                    let header = i * TokenizerWorker.exampleHeader
                    let length = Int(field(i, 0)), code = Int32(bitPattern: field(i, 4)), source = field(i, 8)
                    let wordCount = Int(field(i, 12)), softLabelCount = Int(field(i, 16))
                    let moreLabelCount = Int(field(i, 20))
                    let reader = Int(
                        UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: header + 24, as: UInt16.self)))
                    let rating = raw[header + 26]
                    ids.removeAll(keepingCapacity: true)
                    for k in 0..<length {
                        let id = Int32(bitPattern: value(at: tokenAt + 4 * k))
                        ids.append(toVocabulary[w].map { $0[Int(id)] } ?? id)
                    }
                    tokenAt += 4 * length
                    let label = try labels.map(code, worker: w, reader: readers[reader], source: source)
                    if label < 0 { labeled = false }
                    for id in ids where id == unknownID { unknown += 1 }
                    var targets: [Target]?
                    if multiLabel {
                        // A label set: weight 1 on each of its classes, in class order.
                        var set = label >= 0 ? [label] : []
                        for k in 0..<moreLabelCount {
                            set.append(
                                try labels.map(
                                    Int32(bitPattern: value(at: moreLabelAt + 4 * k)), worker: w,
                                    reader: readers[reader], source: source))
                        }
                        moreLabelAt += 4 * moreLabelCount
                        targets = Set(set).sorted().map { Target(label: $0, weight: 1) }
                        for target in targets! { labelCounts[Int(target.label)] += 1 }
                    } else if label >= 0 {
                        labelCounts[Int(label)] += 1
                    }
                    if softLabelCount > 0 {
                        guard !multiLabel else {
                            throw DataError(
                                file: readers[reader].inputDescription, place: "line \(source)",
                                "soft labels on a multi-label dataset (expected one or the other)")
                        }
                        guard softLabelCount == labels.names.count else {
                            throw DataError(
                                file: readers[reader].inputDescription, place: "line \(source)",
                                "\(softLabelCount) soft labels (expected one per class: \(labels.names.count), in the order \(labels.names.joined(separator: ", ")))"
                            )
                        }
                        targets = (0..<softLabelCount).map { k in
                            Target(label: Int32(k), weight: Float(bitPattern: value(at: softLabelAt + 4 * k)))
                        }
                        softLabelAt += 4 * softLabelCount
                    }
                    if softLabeled == nil { softLabeled = softLabelCount > 0 }
                    if softLabeled != (softLabelCount > 0) {
                        throw DataError(
                            file: readers[reader].inputDescription, place: "line \(source)",
                            "the \(name) split mixes examples with and without soft labels")
                    }
                    shard.append(tokens: ids, label: label, source: source, rating: rating, targets: targets)
                    examples += 1
                    tokens += length
                    wordLengths[wordCount, default: 0] += 1
                    tokenLengths[length, default: 0] += 1
                    if shard.count == shardSize { try flush() }
                }
            }
        }
        try flush()
        let record = Manifest.SplitRecord(
            name: name, examples: examples, tokens: tokens, labeled: labeled,
            labelCounts: labeled ? labelCounts : [], softLabels: softLabeled == true ? true : nil, shards: records)
        let summary = DatasetSummary.Split(
            name: name, examples: examples, labelCounts: record.labelCounts,
            words: DatasetSummary.Lengths(histogram: wordLengths),
            tokens: DatasetSummary.Lengths(histogram: tokenLengths),
            unknownRate: tokens == 0 ? 0 : Double(unknown) / Double(tokens))
        return (record, summary)
    }
}

/// How the labels the workers stored become the dataset's: class indices
/// stay, label texts are numbered by the training split (numerically when all
/// are integers, else sorted) or by the model's labels.
struct LabelMapping {
    let names: [String]
    /// Per worker, its label codes' final indices; nil: indices are final.
    private let codes: [[Int32]]?
    private let workers: [TokenizerWorker]
    private let model: ModelVocabulary?

    init(workers: [TokenizerWorker], readers: [ExampleReader], model: ModelVocabulary?) throws {
        self.workers = workers
        self.model = model
        let readerNames = readers.compactMap(\.labelNames).first
        if let names = readerNames, model == nil {
            self.names = names
            codes = nil
            return
        }
        let names: [String]
        if let model {
            names = model.labels
        } else {
            var train = Set<String>()
            for worker in workers {
                for code in worker.labelCodes["train", default: []] { train.insert(worker.labelTexts.key(code)) }
            }
            names = train.allSatisfy({ Int($0) != nil }) ? train.sorted { Int($0)! < Int($1)! } : train.sorted()
        }
        self.names = names
        let index = Dictionary(names.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
        codes = workers.map { worker in
            (0..<Int32(worker.labelTexts.count)).map { index[worker.labelTexts.key($0)] ?? -2 }
        }
        if let readerNames {
            // Class indices of a reader that names them, renumbered by the model's names.
            classes = readerNames.map { index[$0] ?? -2 }
        }
    }

    private var classes: [Int32]?

    func map(_ code: Int32, worker: Int, reader: ExampleReader, source: UInt32) throws -> Int32 {
        guard code >= 0 else { return code }
        let mapped: Int32
        let text: String
        if let classes {
            mapped = Int(code) < classes.count ? classes[Int(code)] : -2
            text = reader.labelNames.map { Int(code) < $0.count ? $0[Int(code)] : "\(code)" } ?? "\(code)"
        } else if let codes {
            mapped = codes[worker][Int(code)]
            text = workers[worker].labelTexts.key(code)
        } else {
            return code
        }
        guard mapped >= 0 else {
            throw DataError(
                file: reader.inputDescription, place: "line \(source)",
                model.map {
                    "label \"\(text)\" is not one of the model's labels (\($0.labels.joined(separator: ", ")); \($0.path))"
                }
                    ?? "label \"\(text)\" does not occur in the training split (its labels: \(names.joined(separator: ", ")))"
            )
        }
        return mapped
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
