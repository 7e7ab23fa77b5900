/// BERT's tokenizer: basic tokenization (clean, split CJK, strip accents,
/// lowercase, split on whitespace and punctuation) then greedy longest-match
/// WordPiece. Its ids equal Hugging Face `tokenizers`' `BertNormalizer` +
/// `BertPreTokenizer` + `WordPiece` pipeline.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: Vocabulary
    public let options: Options
    public let unknownID: Int32
    public let classifyID: Int32
    public let separatorID: Int32
    public let paddingID: Int32
    /// Pieces that follow another piece in a word, stored without their prefix.
    private let continuations: ByteTable

    public struct Options: Sendable, Equatable, Codable {
        public var lowercase = true
        public var stripAccents = true
        public var maxCharactersPerWord = 100
        public var continuationPrefix = "##"
        public var unknownToken = "[UNK]"
        public var classifyToken = "[CLS]"
        public var separatorToken = "[SEP]"
        public var paddingToken = "[PAD]"
        public init() {}
    }

    public init(vocabulary: Vocabulary, options: Options = Options()) throws(VocabularyError) {
        func special(_ token: String) throws(VocabularyError) -> Int32 {
            guard let id = vocabulary.id(token) else { throw .missingSpecial(token) }
            return id
        }
        self.vocabulary = vocabulary
        self.options = options
        unknownID = try special(options.unknownToken)
        classifyID = try special(options.classifyToken)
        separatorID = try special(options.separatorToken)
        paddingID = try special(options.paddingToken)
        var continuations = ByteTable(minimumCapacity: vocabulary.count / 4)
        var prefix = options.continuationPrefix
        let prefixBytes = prefix.withUTF8 { Array($0) }
        for id in 0..<Int32(vocabulary.count) {
            vocabulary.table.withKey(id) { key in
                guard key.count > prefixBytes.count, key.starts(with: prefixBytes) else { return }
                let (pieceID, inserted) = continuations.insert(UnsafeBufferPointer(rebasing: key[prefixBytes.count...]))
                precondition(inserted && pieceID == Int32(continuations.count - 1))
            }
        }
        // Continuation ids are dense in their own table; map them back to vocabulary ids.
        var continuationIDs = [Int32](repeating: 0, count: continuations.count)
        for id in 0..<Int32(vocabulary.count) {
            vocabulary.table.withKey(id) { key in
                guard key.count > prefixBytes.count, key.starts(with: prefixBytes),
                    let pieceID = continuations.find(UnsafeBufferPointer(rebasing: key[prefixBytes.count...]))
                else { return }
                continuationIDs[Int(pieceID)] = id
            }
        }
        self.continuations = continuations
        self.continuationVocabularyIDs = continuationIDs
    }

    private let continuationVocabularyIDs: [Int32]

    /// Appends the ids of `text` (without `[CLS]`/`[SEP]`) to `ids`.
    /// `workspace` is reused between calls so that encoding allocates nothing in steady state.
    public func encode(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], workspace: inout TokenizerWorkspace)
    {
        var untracked = Untracked()
        normalize(text, into: &workspace, tracking: &untracked)
        workspace.forEachWord { word, _ in appendPieces(of: word, to: &ids) }
    }

    /// As `encode`, and the input bytes of each id into `spans`: a piece's own
    /// bytes within its word (the whole word for `[UNK]`).
    public func encode(
        _ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], spans: inout [Range<Int>],
        workspace: inout TokenizerWorkspace
    ) {
        var sources = ByteSources()
        normalize(text, into: &workspace, tracking: &sources)
        let prefixLength = options.continuationPrefix.utf8.count
        workspace.forEachWord { word, offset in
            let first = ids.count
            appendPieces(of: word, to: &ids)
            guard ids.count - first > 1 else {
                spans.append(sources.span(offset..<offset + word.count))
                return
            }
            var start = offset
            for (k, id) in ids[first...].enumerated() {
                let length = vocabulary.table.withKey(id) { $0.count } - (k == 0 ? 0 : prefixLength)
                spans.append(sources.span(start..<start + length))
                start += length
            }
        }
    }

    /// Words after basic tokenization, for statistics and debugging.
    public func words(
        _ text: UnsafeBufferPointer<UInt8>, workspace: inout TokenizerWorkspace,
        _ body: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        var untracked = Untracked()
        normalize(text, into: &workspace, tracking: &untracked)
        workspace.forEachWord { word, _ in body(word) }
    }

    private func normalize<Tracker: SourceTracking>(
        _ text: UnsafeBufferPointer<UInt8>, into workspace: inout TokenizerWorkspace, tracking tracker: inout Tracker
    ) {
        workspace.reset()
        var isASCII = true
        for byte in text where byte >= 0x80 { isASCII = false; break }
        if isASCII {
            let lowercase = options.lowercase
            for index in text.indices {
                let byte = text[index]
                defer { tracker.cover(upTo: workspace.bytes.count, from: index, to: index &+ 1) }
                switch byte {
                case 0x09, 0x0A, 0x0D, 0x20: workspace.separate()
                case 0..<0x20, 0x7F: continue
                default:
                    if isASCIIPunctuation(byte) {
                        workspace.isolate(byte)
                    } else if lowercase, (0x41...0x5A).contains(byte) {
                        workspace.append(byte | 0x20)
                    } else {
                        workspace.append(byte)
                    }
                }
            }
            return
        }
        // Full Unicode path, in Hugging Face's order: clean text, pad CJK,
        // strip accents (NFD, drop Mn), lowercase, then split.
        var cleaned: [Unicode.Scalar] = []
        var cleanedSources: [Range<Int>] = []
        cleaned.reserveCapacity(text.count)
        forEachScalar(text) { c, source in
            if c.value == 0 || c.value == 0xFFFD || CharClass.isControl(c) { return }
            if CharClass.isWhitespace(c) {
                cleaned.append(" ")
            } else if CharClass.isCJK(c) {
                cleaned.append(" "); cleaned.append(c); cleaned.append(" ")
            } else {
                cleaned.append(c)
            }
            if Tracker.isTracking {
                while cleanedSources.count < cleaned.count { cleanedSources.append(source) }
            }
        }
        guard !cleaned.isEmpty else { return }
        func emit(_ c: Unicode.Scalar) {
            if !options.lowercase {
                classify(c)
            } else if c.value < 0x80 {
                classify((0x41...0x5A).contains(c.value) ? Unicode.Scalar(UInt8(c.value) | 0x20) : c)
            } else {
                for lower in c.properties.lowercaseMapping.unicodeScalars { classify(lower) }
            }
        }
        func classify(_ c: Unicode.Scalar) {
            if CharClass.isWhitespace(c) {
                workspace.separate()
            } else if CharClass.isPunctuation(c) {
                workspace.separate(); workspace.append(c); workspace.separate()
            } else {
                workspace.append(c)
            }
        }
        if !options.stripAccents {
            for (i, c) in cleaned.enumerated() {
                emit(c)
                if Tracker.isTracking {
                    tracker.cover(
                        upTo: workspace.bytes.count, from: cleanedSources[i].lowerBound,
                        to: cleanedSources[i].upperBound)
                }
            }
        } else if !Tracker.isTracking {
            for c in canonicalDecomposition(cleaned) where !CharClass.isNonspacingMark(c) { emit(c) }
        } else {
            // Part by part (see beginsWithStarter): the same scalars, each part's from its own input bytes.
            var partStart = 0
            for end in 1...cleaned.count where end == cleaned.count || beginsWithStarter(cleaned[end]) {
                let source = cleanedSources[partStart].lowerBound..<cleanedSources[end - 1].upperBound
                for c in canonicalDecomposition(Array(cleaned[partStart..<end])) where !CharClass.isNonspacingMark(c) {
                    emit(c)
                }
                tracker.cover(upTo: workspace.bytes.count, from: source.lowerBound, to: source.upperBound)
                partStart = end
            }
        }
    }

    @inline(__always)
    private func appendPieces(of word: UnsafeBufferPointer<UInt8>, to ids: inout [Int32]) {
        var characters = 0
        for byte in word where byte & 0xC0 != 0x80 { characters += 1 }
        if characters > options.maxCharactersPerWord { ids.append(unknownID); return }
        let firstPieceCount = ids.count
        var start = 0
        while start < word.count {
            let table = start == 0 ? vocabulary.table : continuations
            var end = min(word.count, start + table.maxKeyLength)
            var match: Int32? = nil
            while end > start {
                if end == word.count || word[end] & 0xC0 != 0x80,
                    let id = table.find(UnsafeBufferPointer(rebasing: word[start..<end]))
                {
                    match = start == 0 ? id : continuationVocabularyIDs[Int(id)]
                    break
                }
                end -= 1
            }
            guard let id = match else {
                ids.removeSubrange(firstPieceCount...)
                ids.append(unknownID)
                return
            }
            ids.append(id)
            start = end
        }
    }
}

/// Reusable working memory for a tokenizer: for WordPiece, normalized text
/// with words separated by single spaces; for word-level, a `WordList`. One
/// per thread.
public struct TokenizerWorkspace: Sendable {
    var bytes: [UInt8] = []
    private var pendingSeparator = false
    private var words: WordList?

    public init() { bytes.reserveCapacity(4096) }

    /// This workspace's word list. Copies of one would share it, so a
    /// copy gets a list of its own on first use.
    mutating func wordList() -> WordList {
        if let words, isKnownUniquelyReferenced(&self.words) { return words }
        let fresh = WordList()
        words = fresh
        return fresh
    }

    @inline(__always) mutating func reset() { bytes.removeAll(keepingCapacity: true); pendingSeparator = false }
    @inline(__always) mutating func separate() { pendingSeparator = true }

    @inline(__always) mutating func append(_ byte: UInt8) {
        if pendingSeparator {
            if !bytes.isEmpty { bytes.append(0x20) }
            pendingSeparator = false
        }
        bytes.append(byte)
    }

    @inline(__always) mutating func append(_ scalar: Unicode.Scalar) {
        if pendingSeparator {
            if !bytes.isEmpty { bytes.append(0x20) }
            pendingSeparator = false
        }
        appendUTF8(scalar, to: &bytes)
    }

    /// A one-character word (punctuation).
    @inline(__always) mutating func isolate(_ byte: UInt8) {
        pendingSeparator = true
        append(byte)
        pendingSeparator = true
    }

    /// Each word and the offset of its first byte in the normalized text.
    func forEachWord(_ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            for index in 0...buffer.count where index == buffer.count || buffer[index] == 0x20 {
                if index > start { body(UnsafeBufferPointer(rebasing: buffer[start..<index]), start) }
                start = index + 1
            }
        }
    }
}
