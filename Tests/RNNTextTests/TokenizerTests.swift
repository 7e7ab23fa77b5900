import Foundation
import TestSupport
import XCTest

@testable import RNNText

final class WordPieceUnicodeTests: XCTestCase {
    struct Case: Decodable { var text: String; var ids: [Int32] }

    /// Accented, non-Latin, CJK, emoji, control and over-long inputs, with the
    /// ids Hugging Face gave (Tools/fixtures/wordpiece-unicode.py).
    func testMatchesHuggingFaceOnManyScripts() throws {
        let tokenizer = try WordPieceGoldenTests.bertTokenizer()
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/wordpiece-unicode.json")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
        XCTAssertGreaterThan(cases.count, 20)
        for c in cases {
            XCTAssertEqual(tokenizer.encodeWithMarkers(c.text), c.ids, "text: \(c.text.debugDescription)")
        }
    }

    func testGreedyLongestMatchAndUnknownWords() throws {
        let vocabulary = try Vocabulary(tokens: [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "unaff", "##a", ",", "x",
        ])
        let tokenizer = try WordPieceTokenizer(vocabulary: vocabulary)
        func ids(_ text: String) -> [String] {
            var out: [Int32] = []
            var workspace = TokenizerWorkspace()
            var text = text
            text.withUTF8 { tokenizer.encode($0, into: &out, workspace: &workspace) }
            return out.map { vocabulary.token($0) }
        }
        XCTAssertEqual(ids("unaffable"), ["unaff", "##able"])  // longest first piece wins
        XCTAssertEqual(ids("UNAFFABLE,x"), ["unaff", "##able", ",", "x"])
        XCTAssertEqual(ids("unaffz"), ["[UNK]"])  // any unmatched rest makes the whole word unknown
        XCTAssertEqual(ids("x" + String(repeating: "a", count: 100)), ["[UNK]"])  // over 100 characters
        XCTAssertEqual(ids(""), [])
    }

    func testInvalidUTF8GetsADefinedResult() throws {
        let tokenizer = try WordPieceGoldenTests.bertTokenizer()
        var ids: [Int32] = []
        var workspace = TokenizerWorkspace()
        let bytes: [UInt8] = Array("caf".utf8) + [0xC3] + Array(" ok \u{FF}".utf8) + [0xFF, 0xFE]
        bytes.withUnsafeBufferPointer { tokenizer.encode($0, into: &ids, workspace: &workspace) }
        // Invalid bytes become U+FFFD, which BERT's cleaning removes.
        XCTAssertEqual(ids, tokenizer.encode("caf ok \u{FF}"))
    }
}

final class WordLevelTests: XCTestCase {
    func words(_ text: String) -> [String] {
        var out: [String] = []
        var workspace = TokenizerWorkspace()
        var text = text
        text.withUTF8 {
            WordLevelTokenizer.words($0, workspace: &workspace) { out.append(String(decoding: $0, as: UTF8.self)) }
        }
        return out
    }

    func testSplitsWordsAndPunctuationAndDropsLineBreaks() {
        XCTAssertEqual(
            words("This movie was GREAT!<br /><br />I'd see it again... 10/10"),
            ["this", "movie", "was", "great", "!", "i'd", "see", "it", "again", ".", ".", ".", "10", "/", "10"])
        XCTAssertEqual(words("'Quoted' rock'n'roll <BR>end<br/>x"), ["'", "quoted", "'", "rock'n'roll", "end", "x"])
        XCTAssertEqual(words("Crème BRÛLÉE, naïve — 東京"), ["crème", "brûlée", ",", "naïve", "—", "東京"])
        XCTAssertEqual(words("  \t\n "), [])
        XCTAssertEqual(words("a<b c>d"), ["a", "<", "b", "c", ">", "d"])
    }

    func testVocabularyIsTopKWithSpecialsFirstAndDeterministicTies() throws {
        let counts = [("b", 5), ("a", 5), ("c", 9), ("d", 1), ("e", 2)].map { (word: $0.0, count: $0.1) }
        let vocabulary = WordLevelTokenizer.buildVocabulary(counts: counts, size: 3)
        XCTAssertEqual(vocabulary.tokens, ["<pad>", "<start>", "<unk>", "c", "a", "b"])
        XCTAssertEqual(WordLevelTokenizer.buildVocabulary(counts: counts.reversed(), size: 3).tokens, vocabulary.tokens)
        XCTAssertEqual(
            WordLevelTokenizer.buildVocabulary(counts: counts, size: 10, minimumCount: 2).tokens,
            ["<pad>", "<start>", "<unk>", "c", "a", "b", "e"])
        let tokenizer = try Tokenizer(spec: TokenizerSpec(kind: .word), vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.encode("C a zzz B"), [3, 4, 2, 5])
        XCTAssertEqual(tokenizer.encodeWithMarkers("c"), [1, 3])
    }

    func testVocabularyFileRoundTripAndErrors() throws {
        let vocabulary = try Vocabulary(tokens: ["<pad>", "<start>", "<unk>", "héllo", "wörld"])
        XCTAssertEqual(try Vocabulary(fileBytes: vocabulary.fileBytes()).tokens, vocabulary.tokens)
        XCTAssertEqual(try Vocabulary(fileBytes: Array("a\r\nb \r\nc".utf8)).tokens, ["a", "b", "c"])
        XCTAssertThrowsError(try Vocabulary(fileBytes: Array("a\nb\na\n".utf8))) { error in
            XCTAssertEqual(error as? VocabularyError, .duplicate(token: "a", line: 3))
        }
        XCTAssertThrowsError(try Vocabulary(fileBytes: [0x61, 0x0A, 0xFF, 0x0A])) { error in
            XCTAssertEqual(error as? VocabularyError, .invalidUTF8(line: 2))
        }
        XCTAssertThrowsError(try Vocabulary(fileBytes: []))
        XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: vocabulary)) { error in
            XCTAssertEqual(error as? VocabularyError, .missingSpecial("[UNK]"))
        }
    }

    func testInterningMatchesTheWordsOnLongTextsAndLongerLowercaseForms() {
        // U+0130 and U+023A lowercase to longer UTF-8; one word outgrows the
        // initial word buffer; thousands of words outgrow the initial word list.
        let samples =
            ["İstanbul", "ȺȺȺ", "Don't", "a", String(repeating: "Ab", count: 5_000)]
            + (1...40).map { "W" + String(repeating: "q", count: $0 - 1) }
        let spelled = (0..<6_000).map { samples[$0 % samples.count] }
        let expected = spelled.map { $0.lowercased() }
        var text = spelled.joined(separator: " \n")
        var table = ByteTable(minimumCapacity: 4)
        var ids: [Int32] = []
        var workspace = TokenizerWorkspace()
        text.withUTF8 { WordLevelTokenizer.intern($0, into: &table, appendingTo: &ids, workspace: &workspace) }
        XCTAssertEqual(ids.map { table.key($0) }, expected)
        XCTAssertEqual(words(text), expected)
        // Interning hashes words with whole-word loads, lookups by String byte by byte: the two must agree.
        for (id, word) in zip(ids, expected) { XCTAssertEqual(table.find(word), id) }
        XCTAssertEqual(table.count, samples.count)
    }

    func testByteTableHoldsManyKeysOfAllLengths() {
        var table = ByteTable(minimumCapacity: 4)
        let keys = (0..<20_000).map { "k\($0)" + String(repeating: "x", count: $0 % 23) }
        for (i, key) in keys.enumerated() { XCTAssertEqual(table.insert(key).id, Int32(i)) }
        for (i, key) in keys.enumerated() {
            XCTAssertEqual(table.find(key), Int32(i))
            XCTAssertEqual(table.key(Int32(i)), key)
        }
        XCTAssertNil(table.find("absent"))
        XCTAssertFalse(table.insert(keys[7]).inserted)
        XCTAssertEqual(table.count, keys.count)
    }
}
