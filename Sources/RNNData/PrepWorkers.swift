// Prep's tokenizer threads: each takes numbered batches of raw examples and
// builds its own splits, word table and counts (see PrepMerge.swift for how
// they become one dataset).

import Foundation
import RNNSupport
import RNNText

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
    /// What tokenizes: the configuration's, with a tokenizer.json's own settings when it was given one.
    private(set) var spec: TokenizerSpec
    private var workspace = TokenizerWorkspace()
    private(set) var wordPiece: WordPieceTokenizer?
    /// Word-level: this worker's words, by first appearance, and their training counts.
    private(set) var interned = ByteTable(minimumCapacity: 1 << 16)
    private(set) var trainCounts: [Int] = []
    /// Word-level: a trained model's vocabulary, used instead of one counted from the training split.
    private(set) var fixedVocabulary: Vocabulary?

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

    mutating func add(_ example: RawExample, to split: SplitBuilder, reader: UInt16) {
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
            if let existing = splits[example.split] {
                split = existing
            } else {
                split = SplitBuilder(name: example.split)
                splits[example.split] = split
            }
            let index = split.count
            tokenization.add(example, to: split, reader: batch.reader)
            if let last = chunks.last, last.sequence == batch.sequence, last.split == example.split,
                last.range.upperBound == index
            {
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
