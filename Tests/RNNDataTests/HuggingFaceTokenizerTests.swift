import Foundation
import RNNSupport
import RNNText
import TestSupport
import XCTest

@testable import RNNData

final class HuggingFaceTokenizerTests: XCTestCase {
    func testBertTokenizerJSONReadsAsItsVocabTxt() throws {
        let json = try HuggingFaceTokenizer(
            json: Array(try Data(contentsOf: TestData.file("bert-base-uncased/tokenizer.json"))), file: "tokenizer.json"
        )
        let text = try Vocabulary(
            fileBytes: Array(try Data(contentsOf: TestData.file("bert-base-uncased/vocab.txt"))))
        // strip_accents is null there: it follows lowercase. The model has no "type" key (an older file).
        XCTAssertEqual(json.options, WordPieceTokenizer.Options())
        XCTAssertEqual(json.vocabulary.tokens, text.tokens)
    }

    /// What we write is what we read, and what Hugging Face `tokenizers` reads
    /// (when installed) tokenizes as we do.
    func testWrittenTokenizerJSONRoundTripsAndHuggingFaceAgrees() throws {
        var options = WordPieceTokenizer.Options()
        options.lowercase = false
        options.stripAccents = false
        let vocabulary = try Vocabulary(
            tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "Caf", "##é", "\"", "q", "##uote", "\\", "naïve", ",", "the"])
        let written = HuggingFaceTokenizer.json(try WordPieceTokenizer(vocabulary: vocabulary, options: options))
        let read = try HuggingFaceTokenizer(json: written, file: "written")
        XCTAssertEqual(read.options, options)
        XCTAssertEqual(read.vocabulary.tokens, vocabulary.tokens)

        guard (try? Command.run("/usr/bin/env", ["python3", "-c", "import tokenizers"]).status) == 0 else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tokenizer.json").path
        try Data(written).write(to: URL(fileURLWithPath: path))
        let texts = ["Café \"quote\" \\ naïve, the", "CAFÉ the\tunknown", "", "   q"]
        let script = """
            import json, sys
            from tokenizers import Tokenizer
            t = Tokenizer.from_file(sys.argv[1])
            print(json.dumps([t.encode(x).ids for x in json.loads(sys.argv[2])]))
            """
        let result = try Command.run(
            "/usr/bin/env",
            ["python3", "-c", script, path, String(decoding: try JSONEncoder().encode(texts), as: UTF8.self)])
        XCTAssertEqual(result.status, 0, result.stderr)
        let theirs = try JSONDecoder().decode([[Int32]].self, from: Data(result.stdout.utf8))
        let ours = try Tokenizer(spec: TokenizerSpec(kind: .wordpiece, wordPiece: options), vocabulary: vocabulary)
        XCTAssertEqual(texts.map { ours.encodeWithMarkers($0) }, theirs)
    }

    func testWhatWouldTokenizeDifferentlyIsRefusedByKey() throws {
        let base: [String: Any] = [
            "normalizer": ["type": "BertNormalizer", "lowercase": true],
            "pre_tokenizer": ["type": "BertPreTokenizer"],
            "model": ["unk_token": "[UNK]", "vocab": ["[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4]],
        ]
        func refusal(_ change: (inout [String: Any]) -> Void) throws -> String {
            var document = base
            change(&document)
            let bytes = Array(try JSONSerialization.data(withJSONObject: document))
            do {
                _ = try HuggingFaceTokenizer(json: bytes, file: "t.json")
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(try refusal { _ in }, "accepted")
        XCTAssertTrue(
            try refusal { $0["model"] = ["type": "BPE", "unk_token": "[UNK]", "vocab": [:] as [String: Int]] }
                .contains("t.json: model.type: \"BPE\""))
        XCTAssertTrue(
            try refusal { $0["normalizer"] = ["type": "BertNormalizer", "clean_text": false] }
                .contains("normalizer.clean_text"))
        XCTAssertTrue(
            try refusal { $0["normalizer"] = ["type": "BertNormalizer", "handle_chinese_chars": false] }
                .contains("normalizer.handle_chinese_chars"))
        XCTAssertTrue(try refusal { $0["pre_tokenizer"] = ["type": "Whitespace"] }.contains("pre_tokenizer"))
        XCTAssertTrue(
            try refusal {
                $0["model"] = ["unk_token": "[UNK]", "vocab": ["[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 5]]
            }
            .contains("model.vocab: ids must be 0…3"))
        XCTAssertTrue(try refusal { $0["added_tokens"] = [["id": 9, "content": "<x>"]] }.contains("added_tokens"))
        XCTAssertTrue(
            try refusal { $0["model"] = ["unk_token": "<unk>", "vocab": ["[PAD]": 0, "[CLS]": 1, "[SEP]": 2]] }
                .contains("<unk>"))
        XCTAssertTrue(try refusal { $0["model"] = nil }.contains("missing key \"model\""))
    }
}
