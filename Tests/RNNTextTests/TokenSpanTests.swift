import Foundation
import TestSupport
import XCTest

@testable import RNNText

/// Each id's span: the ids equal `encode`'s, spans are ordered and inside the
/// text, and a token's characters are the normalized bytes of its span.
final class TokenSpanTests: XCTestCase {
    func encoded(_ tokenizer: Tokenizer, _ bytes: [UInt8]) -> (ids: [Int32], spans: [Range<Int>], plain: [Int32]) {
        var ids: [Int32] = [], plain: [Int32] = [], spans: [Range<Int>] = []
        var workspace = TokenizerWorkspace()
        bytes.withUnsafeBufferPointer {
            tokenizer.encode($0, into: &ids, spans: &spans, workspace: &workspace)
            tokenizer.encode($0, into: &plain, workspace: &workspace)
        }
        return (ids, spans, plain)
    }

    func pieces(_ tokenizer: Tokenizer, _ text: String) -> [String] {
        let bytes = Array(text.utf8)
        let (ids, spans, _) = encoded(tokenizer, bytes)
        return zip(ids, spans).map { id, span in
            "\(tokenizer.vocabulary.token(id))=\(String(decoding: bytes[span], as: UTF8.self))"
        }
    }

    func checkInvariants(_ tokenizer: Tokenizer, _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let (ids, spans, plain) = encoded(tokenizer, bytes)
        XCTAssertEqual(ids, plain, "ids with spans differ: \(bytes)", file: file, line: line)
        XCTAssertEqual(spans.count, ids.count, file: file, line: line)
        for (span, next) in zip(spans, spans.dropFirst()) {
            XCTAssertLessThanOrEqual(span.upperBound, next.lowerBound, "overlap in \(bytes)", file: file, line: line)
        }
        for span in spans {
            XCTAssert(!span.isEmpty && span.lowerBound >= 0 && span.upperBound <= bytes.count, file: file, line: line)
        }
    }

    func testWordLevelSpansAreTheWordsAsWritten() throws {
        let vocabulary = try Vocabulary(
            tokens: WordLevelTokenizer.specialTokens + ["don't", "stop", "naïve", "!", ","])
        let tokenizer = Tokenizer.word(try WordLevelTokenizer(vocabulary: vocabulary))
        XCTAssertEqual(
            pieces(tokenizer, "Don't<br />STOP, naïve 日本!"),
            ["don't=Don't", "stop=STOP", ",=,", "naïve=naïve", "<unk>=日本", "!=!"])
    }

    func testWordPieceSpansArePiecesWithinWords() throws {
        let vocabulary = try Vocabulary(tokens: [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "unaff", ",", "cafe", "日", "本", "x",
        ])
        let tokenizer = Tokenizer.wordPiece(try WordPieceTokenizer(vocabulary: vocabulary))
        XCTAssertEqual(
            pieces(tokenizer, "UnAffable, Café 日本 unaffz x"),
            [
                "unaff=UnAff", "##able=able", ",=,", "cafe=Café", "日=日", "本=本", "[UNK]=unaffz", "x=x",
            ])
        // An accent given as a combining mark belongs to its letter's span.
        XCTAssertEqual(pieces(tokenizer, "cafe\u{301}!x"), ["cafe=cafe\u{301}", "[UNK]=!", "x=x"])
    }

    func testRandomBytesKeepTheIdsAndGiveOrderedSpans() throws {
        let fragments: [[UInt8]] =
            [
                "the", "Movie", " ", "\n", "!", "don't", "<br />", "é", "e\u{301}\u{323}", "ǅ", "日本", "😀", "İ", "ﬁ",
                "\u{0F73}", "\u{0344}", "\u{200B}", "\u{0B}", "ß",
            ].map { Array($0.utf8) } + [[0xFF], [0xE6, 0x97], [0xC3], [0xED, 0xA0, 0x80]]
        let word = Tokenizer.word(
            try WordLevelTokenizer(
                vocabulary: try Vocabulary(tokens: WordLevelTokenizer.specialTokens + ["the", "movie", "é", "日"])))
        var tokenizers = [word, try WordPieceGoldenTests.bertTokenizer()]
        var keepAccents = WordPieceTokenizer.Options()
        keepAccents.stripAccents = false
        if case .wordPiece(let bert) = tokenizers[1] {
            tokenizers.append(.wordPiece(try WordPieceTokenizer(vocabulary: bert.vocabulary, options: keepAccents)))
        }
        var rng = Xorshift(state: 0x9E37_79B9_7F4A_7C15)
        for tokenizer in tokenizers {
            for _ in 0..<400 {
                let bytes = (0..<Int.random(in: 0..<25, using: &rng)).flatMap { _ in
                    fragments.randomElement(using: &rng)!
                }
                checkInvariants(tokenizer, bytes)
            }
        }
    }
}

/// A fixed sequence of random numbers, so a failure repeats.
struct Xorshift: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
