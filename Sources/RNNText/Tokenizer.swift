import RNNBinary

/// What a dataset's tokenizer is, recorded in the manifest and the model file
/// so that inference tokenizes exactly as prep did.
public struct TokenizerSpec: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case word, wordpiece }
    public var kind: Kind
    /// Word-level: how many corpus words to keep (specials come on top).
    public var vocabularySize: Int?
    /// Word-level: words seen fewer times than this stay `<unk>`.
    public var minimumCount: Int?
    public var wordPiece: WordPieceTokenizer.Options?

    public init(
        kind: Kind, vocabularySize: Int? = nil, minimumCount: Int? = nil, wordPiece: WordPieceTokenizer.Options? = nil
    ) {
        self.kind = kind
        self.vocabularySize = vocabularySize
        self.minimumCount = minimumCount
        self.wordPiece = wordPiece
    }
}

extension TokenizerSpec {
    /// Its keys in a model file (Artifacts/model-format.md), with the whole vocabulary.
    public func write(vocabulary: Vocabulary, to file: inout ModelFile) {
        file.set("tokenizer.kind", .string(kind.rawValue))
        if let wordPiece {
            file.set("tokenizer.lowercase", .bool(wordPiece.lowercase))
            file.set("tokenizer.strip_accents", .bool(wordPiece.stripAccents))
            file.set("tokenizer.max_chars_per_word", .int(Int64(wordPiece.maxCharactersPerWord)))
            file.set("tokenizer.continuation_prefix", .string(wordPiece.continuationPrefix))
            file.set("tokenizer.unknown_token", .string(wordPiece.unknownToken))
            file.set("tokenizer.classify_token", .string(wordPiece.classifyToken))
            file.set("tokenizer.separator_token", .string(wordPiece.separatorToken))
            file.set("tokenizer.padding_token", .string(wordPiece.paddingToken))
        }
        file.set("tokenizer.vocabulary", .strings(vocabulary.tokens))
    }

    /// Reads what `write` wrote.
    public static func read(from file: ModelFile) throws(ModelFileError) -> (
        spec: TokenizerSpec, vocabulary: Vocabulary
    ) {
        let name = try file.string("tokenizer.kind")
        guard let kind = Kind(rawValue: name) else { throw .invalid("unknown tokenizer \"\(name)\"") }
        var spec = TokenizerSpec(kind: kind)
        if kind == .wordpiece {
            var options = WordPieceTokenizer.Options()
            options.lowercase = try file.bool("tokenizer.lowercase")
            options.stripAccents = try file.bool("tokenizer.strip_accents")
            options.maxCharactersPerWord = try file.int("tokenizer.max_chars_per_word")
            options.continuationPrefix = try file.string("tokenizer.continuation_prefix")
            options.unknownToken = try file.string("tokenizer.unknown_token")
            options.classifyToken = try file.string("tokenizer.classify_token")
            options.separatorToken = try file.string("tokenizer.separator_token")
            options.paddingToken = try file.string("tokenizer.padding_token")
            spec.wordPiece = options
        }
        let tokens = try file.strings("tokenizer.vocabulary")
        do { return (spec, try Vocabulary(tokens: tokens)) } catch { throw .invalid("tokenizer: \(error)") }
    }
}

/// The one tokenizer interface used by prep, the trainer and the runtime.
public enum Tokenizer: Sendable {
    case word(WordLevelTokenizer)
    case wordPiece(WordPieceTokenizer)

    public init(spec: TokenizerSpec, vocabulary: Vocabulary) throws(VocabularyError) {
        switch spec.kind {
        case .word: self = .word(try WordLevelTokenizer(vocabulary: vocabulary))
        case .wordpiece:
            self = .wordPiece(try WordPieceTokenizer(vocabulary: vocabulary, options: spec.wordPiece ?? .init()))
        }
    }

    public var vocabulary: Vocabulary {
        switch self {
        case .word(let t): return t.vocabulary
        case .wordPiece(let t): return t.vocabulary
        }
    }

    public var specialIDs: SpecialIDs {
        switch self {
        case .word:
            return SpecialIDs(
                padding: WordLevelTokenizer.paddingID, unknown: WordLevelTokenizer.unknownID,
                start: WordLevelTokenizer.startID, end: nil)
        case .wordPiece(let t):
            return SpecialIDs(padding: t.paddingID, unknown: t.unknownID, start: t.classifyID, end: t.separatorID)
        }
    }

    /// Appends the content ids of `text`, without start/end markers:
    /// shards store content only, and the sequence policy adds markers.
    public func encode(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], workspace: inout TokenizerWorkspace)
    {
        switch self {
        case .word(let t): t.encode(text, into: &ids, workspace: &workspace)
        case .wordPiece(let t): t.encode(text, into: &ids, workspace: &workspace)
        }
    }

    /// The length of the longest prefix of `text` whose ids do not depend on
    /// what follows it — encoding the prefix and then the rest gives the ids of
    /// the whole — or 0; only prefixes longer than `known` are considered (a
    /// stream's text before its last piece has none). Both tokenizers end every
    /// word at ASCII whitespace and carry nothing across it, except the
    /// word-level line-break tag `<br />`, whose spaces are inside it.
    public func stableLength(_ text: UnsafeBufferPointer<UInt8>, longerThan known: Int = 0) -> Int {
        var end = text.count
        while end > known {
            let byte = text[end - 1]
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                if case .word = self, byte == 0x20, let tag = WordLevelTokenizer.openLineBreakTag(text[..<end]) {
                    end = tag
                    continue
                }
                return end
            }
            end -= 1
        }
        return 0
    }

    /// As `encode`, and for each id the bytes of `text` it stands for: a word,
    /// or a WordPiece piece's own bytes within its word (the whole word for the
    /// unknown token). Normalization may map several input bytes to one
    /// character (an accented letter to its base) or drop some; a span covers
    /// the input bytes its token's characters came from.
    public func encode(
        _ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], spans: inout [Range<Int>],
        workspace: inout TokenizerWorkspace
    ) {
        switch self {
        case .word(let t): t.encode(text, into: &ids, spans: &spans, workspace: &workspace)
        case .wordPiece(let t): t.encode(text, into: &ids, spans: &spans, workspace: &workspace)
        }
    }

    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        var workspace = TokenizerWorkspace()
        var text = text
        text.withUTF8 { encode($0, into: &ids, workspace: &workspace) }
        return ids
    }

    /// Content ids wrapped in the start and end markers, as a model sees them
    /// (for WordPiece this is Hugging Face's `encode(text).ids`).
    public func encodeWithMarkers(_ text: String) -> [Int32] {
        let special = specialIDs
        return [special.start] + encode(text) + (special.end.map { [$0] } ?? [])
    }
}

public struct SpecialIDs: Codable, Equatable, Sendable {
    public var padding: Int32
    public var unknown: Int32
    /// `<start>` for word-level, `[CLS]` for WordPiece.
    public var start: Int32
    /// `[SEP]` for WordPiece; word-level sequences have no end marker.
    public var end: Int32?
}
