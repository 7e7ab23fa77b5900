import Foundation
import RNNSupport
import RNNText

/// A Hugging Face `tokenizer.json` of the BERT family (BertNormalizer,
/// BertPreTokenizer, WordPiece): the options and vocabulary of our WordPiece
/// tokenizer, which gives the same ids. Anything that would tokenize
/// differently — another model or pre-tokenizer, a normalizer setting we do not
/// implement, an added token outside the vocabulary — is refused by its key.
public struct HuggingFaceTokenizer {
    public var options: WordPieceTokenizer.Options
    public var vocabulary: Vocabulary

    public init(options: WordPieceTokenizer.Options, vocabulary: Vocabulary) {
        self.options = options
        self.vocabulary = vocabulary
    }

    /// A WordPiece tokenizer from `path`: a `tokenizer.json`, or a `vocab.txt`
    /// read with `options` (a JSON object is told apart by its first byte).
    public static func load(path: String, options: WordPieceTokenizer.Options) throws -> HuggingFaceTokenizer {
        let bytes = Array(try MappedFile(path: path).contents)
        if bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") {
            return try HuggingFaceTokenizer(json: bytes, file: path)
        }
        do { return HuggingFaceTokenizer(options: options, vocabulary: try Vocabulary(fileBytes: bytes)) } catch {
            throw DataError(file: path, "\(error)")
        }
    }

    public init(json bytes: [UInt8], file: String) throws(DataError) {
        let document: Document
        do { document = try JSONDecoder().decode(Document.self, from: Data(bytes)) } catch {
            throw DataError(file: file, describe(decodingError: error))
        }
        func refuse(_ place: String, _ problem: String) -> DataError { DataError(file: file, place: place, problem) }

        let model = document.model
        if let type = model.type, type != "WordPiece" {
            throw refuse("model.type", "\"\(type)\": only WordPiece models are read (BERT's family)")
        }
        guard let normalizer = document.normalizer, normalizer.type == "BertNormalizer" else {
            throw refuse("normalizer", "must be a BertNormalizer (got \(document.normalizer?.type ?? "none"))")
        }
        // Our basic tokenizer always cleans control characters and splits CJK
        // ideographs into words of their own, as BERT's defaults do.
        if normalizer.cleanText == false {
            throw refuse("normalizer.clean_text", "false is not supported: rnnkit's WordPiece always cleans text")
        }
        if normalizer.handleChineseChars == false {
            throw refuse(
                "normalizer.handle_chinese_chars", "false is not supported: rnnkit's WordPiece always splits CJK")
        }
        guard document.preTokenizer?.type == "BertPreTokenizer" else {
            throw refuse("pre_tokenizer", "must be a BertPreTokenizer (got \(document.preTokenizer?.type ?? "none"))")
        }

        var options = WordPieceTokenizer.Options()
        options.lowercase = normalizer.lowercase ?? true
        // null means "strip accents when lowercasing", as in BERT's Python tokenizer.
        options.stripAccents = normalizer.stripAccents ?? options.lowercase
        options.unknownToken = model.unkToken
        options.continuationPrefix = model.continuingSubwordPrefix ?? "##"
        options.maxCharactersPerWord = model.maxInputCharsPerWord ?? 100
        guard options.maxCharactersPerWord >= 1 else {
            throw refuse("model.max_input_chars_per_word", "must be at least 1")
        }
        if let markers = try document.postProcessor?.markers(refuse) {
            (options.classifyToken, options.separatorToken) = markers
        }
        if let padding = document.padding { options.paddingToken = padding.padToken }

        // Ids must be 0..<n, each once: the vocabulary is a list indexed by id.
        var tokens = [String?](repeating: nil, count: model.vocab.count)
        for (token, id) in model.vocab {
            guard id >= 0, id < tokens.count, tokens[id] == nil else {
                throw refuse("model.vocab", "ids must be 0…\(tokens.count - 1), each once (\"\(token)\" has \(id))")
            }
            tokens[id] = token
        }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(tokens: tokens.map { $0! }) } catch {
            throw refuse("model.vocab", "\(error)")
        }
        // Added tokens are matched before normalization; ours must be the
        // vocabulary's own specials, or the text would be split differently.
        for added in document.addedTokens ?? [] where vocabulary.id(added.content) != Int32(exactly: added.id) {
            throw refuse(
                "added_tokens", "\"\(added.content)\" (id \(added.id)) is not that entry of the vocabulary")
        }
        do { _ = try WordPieceTokenizer(vocabulary: vocabulary, options: options) } catch {
            throw DataError(file: file, "\(error)")
        }
        self.init(options: options, vocabulary: vocabulary)
    }

    /// The file Hugging Face `tokenizers` reads (`Tokenizer.from_file`) and
    /// tokenizes with exactly as `tokenizer` does; markers as a `[CLS] $A [SEP]` template.
    public static func json(_ tokenizer: WordPieceTokenizer) -> [UInt8] {
        let o = tokenizer.options
        let vocabulary = tokenizer.vocabulary
        let specials = [tokenizer.paddingID, tokenizer.unknownID, tokenizer.classifyID, tokenizer.separatorID]
        let added = Set(specials).sorted().map {
            "{\"id\":\($0),\"content\":\(jsonStringLiteral(vocabulary.token($0))),\"single_word\":false,\"lstrip\":false,"
                + "\"rstrip\":false,\"normalized\":false,\"special\":true}"
        }
        func special(_ id: Int32) -> String {
            let token = jsonStringLiteral(vocabulary.token(id))
            return "\(token):{\"id\":\(token),\"ids\":[\(id)],\"tokens\":[\(token)]}"
        }
        let cls = "{\"SpecialToken\":{\"id\":\(jsonStringLiteral(o.classifyToken)),\"type_id\":0}}"
        let sep = "{\"SpecialToken\":{\"id\":\(jsonStringLiteral(o.separatorToken)),\"type_id\":0}}"
        let vocab = (0..<Int32(vocabulary.count)).map { "\(jsonStringLiteral(vocabulary.token($0))):\($0)" }
        let text = """
            {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(added.joined(separator: ","))],\
            "normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,\
            "strip_accents":\(o.stripAccents),"lowercase":\(o.lowercase)},\
            "pre_tokenizer":{"type":"BertPreTokenizer"},\
            "post_processor":{"type":"TemplateProcessing",\
            "single":[\(cls),{"Sequence":{"id":"A","type_id":0}},\(sep)],\
            "pair":[\(cls),{"Sequence":{"id":"A","type_id":0}},\(sep),{"Sequence":{"id":"B","type_id":1}},\
            {"SpecialToken":{"id":\(jsonStringLiteral(o.separatorToken)),"type_id":1}}],\
            "special_tokens":{\(special(tokenizer.classifyID)),\(special(tokenizer.separatorID))}},\
            "decoder":{"type":"WordPiece","prefix":\(jsonStringLiteral(o.continuationPrefix)),"cleanup":true},\
            "model":{"type":"WordPiece","unk_token":\(jsonStringLiteral(o.unknownToken)),\
            "continuing_subword_prefix":\(jsonStringLiteral(o.continuationPrefix)),\
            "max_input_chars_per_word":\(o.maxCharactersPerWord),"vocab":{\(vocab.joined(separator: ","))}}}

            """
        return Array(text.utf8)
    }

    private struct Document: Decodable {
        struct Normalizer: Decodable {
            var type: String?
            var cleanText: Bool?
            var handleChineseChars: Bool?
            var stripAccents: Bool?
            var lowercase: Bool?
            enum CodingKeys: String, CodingKey {
                case type, lowercase, cleanText = "clean_text", handleChineseChars = "handle_chinese_chars"
                case stripAccents = "strip_accents"
            }
        }
        struct Typed: Decodable { var type: String? }
        struct Padding: Decodable {
            var padToken: String
            enum CodingKeys: String, CodingKey { case padToken = "pad_token" }
        }
        struct AddedToken: Decodable {
            var id: Int
            var content: String
        }
        struct Model: Decodable {
            var type: String?
            var unkToken: String
            var continuingSubwordPrefix: String?
            var maxInputCharsPerWord: Int?
            var vocab: [String: Int]
            enum CodingKeys: String, CodingKey {
                case type, vocab, unkToken = "unk_token", continuingSubwordPrefix = "continuing_subword_prefix"
                case maxInputCharsPerWord = "max_input_chars_per_word"
            }
        }
        /// TemplateProcessing (`single`: special, `$A`, special) or BertProcessing (`cls`, `sep`).
        struct PostProcessor: Decodable {
            enum Piece: Decodable {
                case special(String), sequence
                enum CodingKeys: String, CodingKey { case special = "SpecialToken", sequence = "Sequence" }
                struct Identified: Decodable { var id: String }
                init(from decoder: any Decoder) throws {
                    let container = try decoder.container(keyedBy: CodingKeys.self)
                    if let special = try container.decodeIfPresent(Identified.self, forKey: .special) {
                        self = .special(special.id)
                    } else {
                        _ = try container.decode(Identified.self, forKey: .sequence)
                        self = .sequence
                    }
                }
            }
            struct Marker: Decodable {
                var token: String
                init(from decoder: any Decoder) throws {
                    var pair = try decoder.unkeyedContainer()
                    token = try pair.decode(String.self)
                }
            }
            var type: String
            var single: [Piece]?
            var cls: Marker?
            var sep: Marker?

            func markers(_ refuse: (String, String) -> DataError) throws(DataError) -> (String, String) {
                switch type {
                case "BertProcessing", "RobertaProcessing":
                    guard let cls, let sep else { throw refuse("post_processor", "\(type) needs cls and sep") }
                    return (cls.token, sep.token)
                case "TemplateProcessing":
                    guard let single, single.count == 3, case .special(let first) = single[0],
                        case .sequence = single[1], case .special(let last) = single[2]
                    else {
                        throw refuse("post_processor.single", "must be a special token, $A, a special token")
                    }
                    return (first, last)
                default:
                    throw refuse("post_processor.type", "\"\(type)\" is not supported")
                }
            }
        }
        var normalizer: Normalizer?
        var preTokenizer: Typed?
        var postProcessor: PostProcessor?
        var padding: Padding?
        var addedTokens: [AddedToken]?
        var model: Model
        enum CodingKeys: String, CodingKey {
            case normalizer, padding, model, preTokenizer = "pre_tokenizer", postProcessor = "post_processor"
            case addedTokens = "added_tokens"
        }
    }
}
