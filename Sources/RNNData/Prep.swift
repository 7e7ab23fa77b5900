import Foundation
import RNNBinary
import RNNText
import RNNSupport

public struct PrepConfiguration {
    public var dataset: String
    public var tokenizer: TokenizerSpec
    /// The `vocab.txt` a WordPiece tokenizer reads.
    public var vocabularyFile: String?
    public var shardSize: Int
    public var output: URL
    public var replace: Bool
    public var quiet: Bool
    public var command: [String]
    public var recipe: String?

    public init(dataset: String, tokenizer: TokenizerSpec, vocabularyFile: String?, shardSize: Int, output: URL,
                replace: Bool, quiet: Bool, command: [String], recipe: String?) {
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

    private static func build(readers: [ExampleReader], configuration: PrepConfiguration, staged: StagedDirectory, started: Date) throws -> PrepResult {
        let tokenization = try Tokenization(spec: configuration.tokenizer, vocabularyFile: configuration.vocabularyFile)
        let totalBytes = readers.reduce(Int64(0)) { $0 + $1.totalBytes }
        let progress = ProgressReporter(title: "prep \(configuration.dataset)", total: Double(totalBytes), unit: .bytes, quiet: configuration.quiet)

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
        let (splits, vocabulary, distinctTrainWords) = TokenizerWorker.merge(workers, spec: configuration.tokenizer)

        for reader in readers {
            for name in reader.splits where (splits[name]?.count ?? 0) == 0 {
                throw DataError(file: reader.inputDescription, "the \(name) split is empty (expected at least one example)")
            }
        }
        guard let train = splits["train"] else {
            throw DataError(file: readers.map(\.inputDescription).joined(separator: ", "),
                            "no training split (the vocabulary and label set come from it; name a file train… or pass --split train)")
        }
        guard labelKinds.count <= 1 else {
            throw DataError(file: readers.map(\.inputDescription).joined(separator: ", "), "inputs mix class indices and label names")
        }
        let labelNames = try resolveLabels(splits: splits, train: train, readers: readers)
        let tokenizer = try Tokenizer(spec: configuration.tokenizer, vocabulary: vocabulary)

        let ordered = splits.values.sorted { splitOrder($0.name) < splitOrder($1.name) || (splitOrder($0.name) == splitOrder($1.name) && $0.name < $1.name) }
        // Splits are independent: encode and write them on all cores.
        let splitResults = ConcurrentResults<Manifest.SplitRecord>(count: ordered.count)
        DispatchQueue.concurrentPerform(iterations: ordered.count) { i in
            splitResults.set(i, Result {
                try writeShards(of: ordered[i], labelCount: labelNames.count, vocabularySize: vocabulary.count,
                                shardSize: configuration.shardSize, staged: staged)
            })
        }
        let splitRecords = try splitResults.values()
        let vocabularyBytes = vocabulary.fileBytes()
        try staged.write(vocabularyBytes, to: "vocab.txt")
        let manifest = Manifest(
            dataset: configuration.dataset,
            labels: labelNames,
            tokenizer: .init(spec: configuration.tokenizer, vocabularyFile: "vocab.txt", vocabularySize: vocabulary.count,
                             vocabularyCRC32: hex32(CRC32.checksum(vocabularyBytes)), specialIDs: tokenizer.specialIDs),
            splits: splitRecords,
            provenance: .init(tool: "prep", version: "\(rnnkitVersion)", command: configuration.command,
                              inputs: readers.map { .init(path: $0.inputDescription, bytes: $0.totalBytes) },
                              recipe: configuration.recipe, created: ISO8601DateFormatter().string(from: Date())))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try staged.write(Array(try encoder.encode(manifest)) + [0x0A], to: "manifest.json")

        let summary = DatasetSummary(manifest: manifest, splits: ordered, unknownID: tokenizer.specialIDs.unknown,
                                     distinctTrainWords: distinctTrainWords, skipped: readFailure.skipped, seconds: Date().timeIntervalSince(started))
        return PrepResult(manifest: manifest, summary: summary)
    }

    private static func splitOrder(_ name: String) -> Int {
        ["train": 0, "validation": 1, "test": 2, "unsup": 3][name] ?? 4
    }

    /// Label names from the readers, or — for free-text labels — the training
    /// split's labels in a stable order (numeric when all are integers).
    private static func resolveLabels(splits: [String: SplitBuilder], train: SplitBuilder, readers: [ExampleReader]) throws -> [String] {
        if let names = readers.compactMap(\.labelNames).first { return names }
        let trainCodes = Set(train.labels.filter { $0 >= 0 })
        var names = trainCodes.map { train.labelTexts.key($0) }
        if names.allSatisfy({ Int($0) != nil }) { names.sort { Int($0)! < Int($1)! } } else { names.sort() }
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        for split in splits.values {
            for (i, code) in split.labels.enumerated() where code >= 0 {
                let text = split.labelTexts.key(code)
                guard let mapped = index[text] else {
                    throw DataError(file: readers[Int(split.readerIndex[i])].inputDescription, place: "line \(split.sources[i])",
                                    "label \"\(text)\" does not occur in the training split (its labels: \(names.joined(separator: ", ")))")
                }
                split.labels[i] = mapped
            }
        }
        return names
    }

    private static func writeShards(of split: SplitBuilder, labelCount: Int, vocabularySize: Int, shardSize: Int,
                                    staged: StagedDirectory) throws -> Manifest.SplitRecord {
        var records: [Manifest.ShardRecord] = []
        var labelCounts = [Int](repeating: 0, count: labelCount)
        var start = 0
        while start < split.count {
            let end = min(split.count, start + shardSize)
            var shard = Shard()
            for i in start..<end {
                shard.append(tokens: split.tokens[split.offsets[i]..<split.offsets[i + 1]], label: split.labels[i],
                             source: split.sources[i], rating: split.ratings[i])
                if split.labels[i] >= 0 { labelCounts[Int(split.labels[i])] += 1 }
            }
            let bytes = ShardFormat.encode(shard, vocabularySize: vocabularySize)
            let name = "\(split.name)-\(String(format: "%05d", records.count)).shard"
            try staged.write(bytes, to: name)
            records.append(.init(file: name, examples: end - start, bytes: bytes.count, crc32: hex32(ShardFormat.storedChecksum(bytes))))
            start = end
        }
        let labeled = !split.labels.contains(-1)
        return .init(name: split.name, examples: split.count, tokens: split.tokens.count, labeled: labeled,
                     labelCounts: labeled ? labelCounts : [], shards: records)
    }
}

/// One split's examples as they are tokenized, before shards are cut.
final class SplitBuilder {
    let name: String
    var offsets: [Int] = [0]
    var tokens: [Int32] = []
    /// Class index, or for free-text labels an index into `labelTexts`; -1 when unlabeled.
    var labels: [Int32] = []
    var sources: [UInt32] = []
    var ratings: [UInt8] = []
    var wordCounts: [Int32] = []
    var readerIndex: [UInt16] = []
    var labelTexts = ByteTable(minimumCapacity: 16)

    init(name: String) { self.name = name }
    var count: Int { labels.count }
}

/// The tokenizer side of prep, one per worker. Word-level vocabularies depend
/// on the whole training split, so words are interned during the pass and
/// mapped to final ids in the merge; WordPiece ids are final at once.
struct Tokenization {
    let spec: TokenizerSpec
    private var workspace = TokenizerWorkspace()
    private(set) var wordPiece: WordPieceTokenizer?
    /// Word-level: this worker's words, by first appearance, and their training counts.
    private(set) var interned = ByteTable(minimumCapacity: 1 << 16)
    private(set) var trainCounts: [Int] = []

    init(spec: TokenizerSpec, vocabularyFile: String?) throws {
        self.spec = spec
        if spec.kind == .wordpiece {
            guard let vocabularyFile else { throw DataError(file: "--vocab-file", "WordPiece needs a vocab.txt (pass --vocab-file)") }
            let bytes = try MappedFile(path: vocabularyFile).contents
            do { wordPiece = try WordPieceTokenizer(vocabulary: Vocabulary(fileBytes: bytes), options: spec.wordPiece ?? .init()) }
            catch { throw DataError(file: vocabularyFile, "\(error)") }
        }
    }

    mutating func add(_ example: RawExample, to split: SplitBuilder, reader: UInt16) {
        let isTrain = split.name == "train"
        example.text.withUnsafeBufferPointer { text in
            if let wordPiece {
                wordPiece.encode(text, into: &split.tokens, workspace: &workspace)
            } else {
                let first = split.tokens.count
                WordLevelTokenizer.intern(text, into: &interned, appendingTo: &split.tokens, workspace: &workspace)
                if isTrain {
                    if trainCounts.count < interned.count { trainCounts.append(contentsOf: repeatElement(0, count: 2 * interned.count - trainCounts.count)) }
                    split.tokens.withUnsafeBufferPointer { tokens in
                        trainCounts.withUnsafeMutableBufferPointer { counts in
                            for id in tokens[first...] { counts[Int(id)] &+= 1 }
                        }
                    }
                }
            }
            split.wordCounts.append(Int32(whitespaceSeparatedWords(text)))
        }
        split.offsets.append(split.tokens.count)
        switch example.label {
        case .index(let index): split.labels.append(Int32(index))
        case .name(let name): split.labels.append(split.labelTexts.insert(name).id)
        case .unlabeled: split.labels.append(-1)
        }
        split.sources.append(example.source)
        split.ratings.append(example.rating)
        split.readerIndex.append(reader)
    }

}

/// A numbered batch of examples from one reader.
struct Batch {
    var sequence: Int
    var reader: UInt16
    var examples: [RawExample]
}

/// One tokenizer thread's share: its own splits, word table and counts, and
/// which batches it handled.
final class TokenizerWorker {
    var tokenization: Tokenization
    var splits: [String: SplitBuilder] = [:]
    var labelKinds = Set<String>()
    /// Each run of consecutive examples of one split in one batch, where it sits in `splits`.
    var chunks: [(sequence: Int, split: String, range: Range<Int>)] = []

    init(_ tokenization: Tokenization) { self.tokenization = tokenization }

    func process(_ batch: Batch) {
        for example in batch.examples {
            let split: SplitBuilder
            if let existing = splits[example.split] { split = existing } else {
                split = SplitBuilder(name: example.split)
                splits[example.split] = split
            }
            let index = split.count
            tokenization.add(example, to: split, reader: batch.reader)
            if let last = chunks.last, last.sequence == batch.sequence, last.split == example.split, last.range.upperBound == index {
                chunks[chunks.count - 1].range = last.range.lowerBound..<index + 1
            } else {
                chunks.append((batch.sequence, example.split, index..<index + 1))
            }
            switch example.label {
            case .index: labelKinds.insert("index")
            case .name: labelKinds.insert("name")
            case .unlabeled: break
            }
        }
    }

    /// The splits in reading order with final token ids, the vocabulary, and
    /// (word-level) the number of distinct training words. Word-level ids are
    /// mapped worker-local → shared table → vocabulary in one pass.
    static func merge(_ workers: [TokenizerWorker], spec: TokenizerSpec) -> (splits: [String: SplitBuilder], vocabulary: Vocabulary, distinctTrainWords: Int) {
        var vocabulary: Vocabulary
        var toVocabulary: [[Int32]?] = Array(repeating: nil, count: workers.count)
        var distinctTrainWords = 0
        if let wordPiece = workers[0].tokenization.wordPiece {
            vocabulary = wordPiece.vocabulary
        } else {
            var shared = ByteTable(minimumCapacity: 1 << 16)
            var counts: [Int] = []
            let toShared: [[Int32]] = workers.map { worker in
                let t = worker.tokenization
                return (0..<Int32(t.interned.count)).map { local in
                    let id = t.interned.withKey(local) { shared.insert($0).id }
                    while Int(id) >= counts.count { counts.append(0) }
                    if Int(local) < t.trainCounts.count { counts[Int(id)] += t.trainCounts[Int(local)] }
                    return id
                }
            }
            let trainWords = counts.enumerated().filter { $0.element > 0 }.map { (word: shared.key(Int32($0.offset)), count: $0.element) }
            distinctTrainWords = trainWords.count
            vocabulary = WordLevelTokenizer.buildVocabulary(counts: trainWords, size: spec.vocabularySize ?? 5_000, minimumCount: spec.minimumCount ?? 1)
            let sharedToVocabulary = (0..<Int32(shared.count)).map { id in
                shared.withKey(id) { vocabulary.table.find($0) } ?? WordLevelTokenizer.unknownID
            }
            toVocabulary = toShared.map { map in map.map { sharedToVocabulary[Int($0)] } }
        }
        var order: [(worker: Int, chunk: (sequence: Int, split: String, range: Range<Int>))] = []
        for (w, worker) in workers.enumerated() { for chunk in worker.chunks { order.append((w, chunk)) } }
        // A batch goes to one worker, so (sequence, position in that worker) is reading order.
        order.sort { a, b in
            if a.chunk.sequence != b.chunk.sequence { return a.chunk.sequence < b.chunk.sequence }
            return a.chunk.range.lowerBound < b.chunk.range.lowerBound
        }
        // Splits are independent: each is assembled on its own core.
        let names = Array(Set(order.map(\.chunk.split))).sorted()
        let assembled = names.map { SplitBuilder(name: $0) }
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            let target = assembled[i]
            let chunks = order.filter { $0.chunk.split == target.name }
            target.tokens.reserveCapacity(chunks.reduce(0) { total, entry in
                let source = workers[entry.worker].splits[target.name]!
                return total + source.offsets[entry.chunk.range.upperBound] - source.offsets[entry.chunk.range.lowerBound]
            })
            for (w, chunk) in chunks {
                let source = workers[w].splits[chunk.split]!
                let tokens = source.tokens[source.offsets[chunk.range.lowerBound]..<source.offsets[chunk.range.upperBound]]
                if let map = toVocabulary[w] {
                    map.withUnsafeBufferPointer { map in
                        tokens.withUnsafeBufferPointer { tokens in
                            for id in tokens { target.tokens.append(map[Int(id)]) }
                        }
                    }
                } else {
                    target.tokens.append(contentsOf: tokens)
                }
                var end = target.offsets.last!
                for i in chunk.range {
                    end += source.offsets[i + 1] - source.offsets[i]
                    target.offsets.append(end)
                    let code = source.labels[i]
                    // Label texts are interned per worker; re-intern them in the merged split.
                    target.labels.append(source.labelTexts.count > 0 && code >= 0 ? target.labelTexts.insert(source.labelTexts.key(code)).id : code)
                }
                target.sources.append(contentsOf: source.sources[chunk.range])
                target.ratings.append(contentsOf: source.ratings[chunk.range])
                target.wordCounts.append(contentsOf: source.wordCounts[chunk.range])
                target.readerIndex.append(contentsOf: source.readerIndex[chunk.range])
            }
        }
        let merged = Dictionary(uniqueKeysWithValues: zip(names, assembled))
        return (merged, vocabulary, distinctTrainWords)
    }
}

func whitespaceSeparatedWords(_ text: UnsafeBufferPointer<UInt8>) -> Int {
    // Branch-free: a word starts wherever a non-space byte follows a space.
    var count = 0
    var previousIsSpace = 1
    for byte in text {
        let isSpace = byte == 0x20 || (byte &- 0x09) <= 4 ? 1 : 0
        count &+= previousIsSpace & (isSpace ^ 1)
        previousIsSpace = isSpace
    }
    return count
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
