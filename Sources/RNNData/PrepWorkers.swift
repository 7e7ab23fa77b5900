// Prep's tokenizer threads: each takes numbered batches of raw examples,
// tokenizes them, and appends them to its own spill store, keeping only its
// word table, counts and an index of what it stored (see PrepMerge.swift for
// how they become one dataset). Memory is then set by the vocabulary and the
// spill buffer, not by the corpus.

import Foundation
import RNNSupport
import RNNText

/// A run of one batch's examples of one split, as tokenized (ids worker-local
/// for word-level) before they are stored.
final class SplitBuilder {
    let name: String
    var offsets: [Int] = [0]
    var tokens: [Int32] = []
    /// Class index, or for free-text labels an index into the worker's `labelTexts`; -1 when unlabeled.
    var labels: [Int32] = []
    var sources: [UInt32] = []
    var ratings: [UInt8] = []
    var wordCounts: [Int32] = []
    var readerIndex: [UInt16] = []
    /// Each example's soft labels, one after another (`softLabelCounts` of them each).
    var softLabels: [Float] = []
    var softLabelCounts: [UInt32] = []
    /// Each multi-label example's label codes after its first (which is in `labels`), one after another.
    var moreLabels: [Int32] = []
    var moreLabelCounts: [UInt32] = []

    init(name: String) { self.name = name }
    var count: Int { labels.count }

    func removeAll() {
        offsets.removeAll(keepingCapacity: true)
        offsets.append(0)
        tokens.removeAll(keepingCapacity: true)
        labels.removeAll(keepingCapacity: true)
        sources.removeAll(keepingCapacity: true)
        ratings.removeAll(keepingCapacity: true)
        wordCounts.removeAll(keepingCapacity: true)
        readerIndex.removeAll(keepingCapacity: true)
        softLabels.removeAll(keepingCapacity: true)
        softLabelCounts.removeAll(keepingCapacity: true)
        moreLabels.removeAll(keepingCapacity: true)
        moreLabelCounts.removeAll(keepingCapacity: true)
    }
}

/// The tokenizer side of prep, one per worker. Word-level vocabularies depend
/// on the whole training split, so words are interned during the pass and
/// mapped to final ids in the merge; WordPiece ids are final at once.
struct Tokenization {
    /// What tokenizes: the configuration's, with a tokenizer.json's own settings when it was given one.
    private(set) var spec: TokenizerSpec
    private var workspace = TokenizerWorkspace()
    private(set) var wordPiece: WordPieceTokenizer?
    /// Word-level: this worker's words, by first appearance, and their training counts.
    private(set) var interned = ByteTable(minimumCapacity: 1 << 16)
    private(set) var trainCounts: [Int] = []
    /// Word-level: a trained model's vocabulary, used instead of one counted from the training split.
    private(set) var fixedVocabulary: Vocabulary?

    /// The word table, leaving this worker an empty one: the merge grows the largest in place instead of copying it.
    mutating func takeInterned() -> ByteTable {
        defer { interned = ByteTable(minimumCapacity: 16) }
        return interned
    }

    init(model: ModelVocabulary) {
        spec = model.spec
        switch model.tokenizer {
        case .word(let word): fixedVocabulary = word.vocabulary
        case .wordPiece(let tokenizer): wordPiece = tokenizer
        }
    }

    init(spec: TokenizerSpec, vocabularyFile: String?) throws {
        self.spec = spec
        if spec.kind == .wordpiece {
            guard let vocabularyFile else {
                throw DataError(file: "--vocab-file", "WordPiece needs a vocab.txt (pass --vocab-file)")
            }
            let loaded = try HuggingFaceTokenizer.load(path: vocabularyFile, options: spec.wordPiece ?? .init())
            do { wordPiece = try WordPieceTokenizer(vocabulary: loaded.vocabulary, options: loaded.options) } catch {
                throw DataError(file: vocabularyFile, "\(error)")
            }
            self.spec.wordPiece = loaded.options
        }
    }

    mutating func add(_ example: RawExample, to split: SplitBuilder, reader: UInt16, labelTexts: inout ByteTable) {
        let isTrain = split.name == "train"
        example.text.withUnsafeBufferPointer { text in
            if let wordPiece {
                wordPiece.encode(text, into: &split.tokens, workspace: &workspace)
            } else {
                let first = split.tokens.count
                WordLevelTokenizer.intern(text, into: &interned, appendingTo: &split.tokens, workspace: &workspace)
                if isTrain {
                    if trainCounts.count < interned.count {
                        trainCounts.append(contentsOf: repeatElement(0, count: 2 * interned.count - trainCounts.count))
                    }
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
        case .name(let name): split.labels.append(labelTexts.insert(name).id)
        case .names(let names):
            split.labels.append(labelTexts.insert(names[0]).id)
            for name in names.dropFirst() { split.moreLabels.append(labelTexts.insert(name).id) }
        case .unlabeled: split.labels.append(-1)
        }
        if case .names(let names) = example.label {
            split.moreLabelCounts.append(UInt32(names.count - 1))
        } else {
            split.moreLabelCounts.append(0)
        }
        split.sources.append(example.source)
        split.ratings.append(example.rating)
        split.readerIndex.append(reader)
        split.softLabels += example.softLabel
        split.softLabelCounts.append(UInt32(example.softLabel.count))
    }

}

/// A numbered batch of examples from one reader.
struct Batch {
    var sequence: Int
    var reader: UInt16
    var examples: [RawExample]
}

/// Where a stored run of examples is: reading order is (sequence, first).
struct StoredChunk {
    var sequence: Int
    /// The run's first example's position in its batch.
    var first: Int
    var split: String
    var count: Int
    var offset: Int
    var bytes: Int
}

/// Append-only bytes: kept in memory up to `bufferLimit`, then written to a
/// file that is read back by offset in the merge.
final class SpillStore {
    let path: String
    let bufferLimit: Int
    private var buffer: [UInt8] = []
    /// Bytes already in the file; the buffer holds those after them.
    private var flushed = 0
    private var descriptor: Int32 = -1

    init(path: String, bufferLimit: Int) {
        self.path = path
        self.bufferLimit = bufferLimit
    }

    deinit { remove() }

    /// Frees the file; the store is empty afterwards.
    func remove() {
        if descriptor >= 0 {
            close(descriptor)
            unlink(path)
            descriptor = -1
        }
        buffer = []
        flushed = 0
    }

    var count: Int { flushed + buffer.count }

    /// Appends the `count` bytes `body` writes. The buffer grows as data comes
    /// but never past `bufferLimit` (an array left to itself doubles its
    /// capacity), except for one run larger than the whole buffer, which goes
    /// to the file at once.
    func append(count: Int, _ body: (inout [UInt8]) -> Void) throws {
        if buffer.count + count > bufferLimit && !buffer.isEmpty { try flush() }
        let needed = buffer.count + count
        if needed > buffer.capacity { buffer.reserveCapacity(max(needed, min(bufferLimit, 2 * buffer.capacity))) }
        body(&buffer)
        if buffer.count >= bufferLimit { try flush() }
    }

    private func flush() throws {
        if descriptor < 0 {
            descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw DataError(file: path, "cannot create: \(String(cString: strerror(errno)))")
            }
        }
        var written = 0
        while written < buffer.count {
            let result = buffer.withUnsafeBytes {
                pwrite(descriptor, $0.baseAddress! + written, $0.count - written, off_t(flushed + written))
            }
            guard result > 0 else {
                throw DataError(file: path, "cannot write: \(String(cString: strerror(errno)))")
            }
            written += result
        }
        flushed += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// Bytes `offset..<offset + count`, from the file or the buffer.
    func read(offset: Int, count: Int, into target: inout [UInt8]) throws {
        target.removeAll(keepingCapacity: true)
        if offset >= flushed {
            target.append(contentsOf: buffer[(offset - flushed)..<(offset - flushed + count)])
            return
        }
        target = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            initialized = 0
            while initialized < count {
                let result = pread(
                    descriptor, storage.baseAddress! + initialized, count - initialized, off_t(offset + initialized))
                guard result > 0 else { return }
                initialized += result
            }
        }
        guard target.count == count else {
            throw DataError(file: path, "cannot read back: \(String(cString: strerror(errno)))")
        }
    }
}

/// One tokenizer thread's share: its word table and counts, its label texts,
/// and the examples it tokenized, stored a batch at a time.
final class TokenizerWorker {
    var tokenization: Tokenization
    let store: SpillStore
    var chunks: [StoredChunk] = []
    var labelKinds = Set<String>()
    var labelTexts = ByteTable(minimumCapacity: 16)
    /// The label texts (by code) each split uses.
    var labelCodes: [String: Set<Int32>] = [:]
    /// Whether any example had several labels: the dataset is then multi-label.
    var sawLabelSets = false
    var failure: Error?
    private var scratch: [String: SplitBuilder] = [:]

    init(_ tokenization: Tokenization, store: SpillStore) {
        self.tokenization = tokenization
        self.store = store
    }

    func process(_ batch: Batch) {
        guard failure == nil else { return }
        var runs: [(split: SplitBuilder, first: Int)] = []
        for (position, example) in batch.examples.enumerated() {
            let split: SplitBuilder
            if let existing = scratch[example.split] {
                split = existing
            } else {
                split = SplitBuilder(name: example.split)
                scratch[example.split] = split
            }
            if runs.last?.split !== split {
                if let previous = runs.last { store(previous.split, batch: batch, first: previous.first) }
                split.removeAll()
                runs.append((split, position))
            }
            tokenization.add(example, to: split, reader: batch.reader, labelTexts: &labelTexts)
            switch example.label {
            case .index: labelKinds.insert("index")
            case .name: labelKinds.insert("name")
            case .names:
                labelKinds.insert("name")
                sawLabelSets = true
            case .unlabeled: break
            }
        }
        if let last = runs.last { store(last.split, batch: batch, first: last.first) }
    }

    /// Per example: token count, label, source, word count, soft-label count, further-label count (4 bytes
    /// each), reader (2), rating (1), padding (1); then the tokens (i32), the soft labels (f32) and the
    /// further labels (i32).
    static let exampleHeader = 28

    private func store(_ run: SplitBuilder, batch: Batch, first: Int) {
        let offset = store.count
        do {
            let values = run.tokens.count + run.softLabels.count + run.moreLabels.count
            try store.append(count: run.count * Self.exampleHeader + values * 4) { bytes in
                for i in 0..<run.count {
                    appendLittleEndian(UInt32(run.offsets[i + 1] - run.offsets[i]), to: &bytes)
                    appendLittleEndian(UInt32(bitPattern: run.labels[i]), to: &bytes)
                    appendLittleEndian(run.sources[i], to: &bytes)
                    appendLittleEndian(UInt32(run.wordCounts[i]), to: &bytes)
                    appendLittleEndian(run.softLabelCounts[i], to: &bytes)
                    appendLittleEndian(run.moreLabelCounts[i], to: &bytes)
                    appendLittleEndian(run.readerIndex[i], to: &bytes)
                    bytes.append(run.ratings[i])
                    bytes.append(0)
                }
                run.tokens.withUnsafeBytes { bytes.append(contentsOf: $0) }
                run.softLabels.withUnsafeBytes { bytes.append(contentsOf: $0) }
                run.moreLabels.withUnsafeBytes { bytes.append(contentsOf: $0) }
            }
        } catch {
            failure = error
        }
        var codes = labelCodes[run.name, default: []]
        for label in run.labels + run.moreLabels where label >= 0 { codes.insert(label) }
        labelCodes[run.name] = codes
        chunks.append(
            StoredChunk(
                sequence: batch.sequence, first: first, split: run.name, count: run.count, offset: offset,
                bytes: store.count - offset))
    }
}

private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
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
