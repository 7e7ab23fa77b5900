import Foundation
import RNNSupport
import TestSupport
import XCTest

@testable import RNNData

/// Word vectors files as word2vec, fastText and GloVe write them: with and without a header,
/// compressed, words with spaces; every malformed form refused naming its line.
final class PretrainedVectorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    let vocabulary = ["<pad>", "<start>", "<unk>", "good", "bad", "film", "new york"]

    func write(_ text: String, name: String = "vectors.vec") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func read(_ text: String, dimension: Int = 3) throws -> PretrainedVectors {
        try PretrainedVectors(path: try write(text), vocabulary: vocabulary, dimension: dimension, skipping: [0])
    }

    func refusal(_ text: String, dimension: Int = 3) -> String {
        do {
            _ = try read(text, dimension: dimension)
            return "accepted"
        } catch { return "\(error)" }
    }

    func testHeaderOrNotCompressedOrNotTheSameRows() throws {
        // fastText's .vec: a header and a trailing space; words outside the vocabulary are skipped.
        let vec = "5 3\ngood 0.5 -1 2e-1 \nfilm 1 2 3 \ncinema 9 9 9 \n<pad> 7 7 7 \nnew york 4 5 6\n"
        let withHeader = try read(vec)
        XCTAssertEqual(withHeader.found, [false, false, false, true, false, true, true])
        XCTAssertEqual(withHeader.foundCount, 3)
        XCTAssertEqual(withHeader.words, 5)
        XCTAssertEqual(Array(withHeader.rows[9..<12]), [0.5, -1, 0.2])
        XCTAssertEqual(Array(withHeader.rows[15..<21]), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Array(withHeader.rows[0..<3]), [0, 0, 0], "the padding row is never read")
        // GloVe: no header.
        let glove = try read(String(vec.drop { $0 != "\n" }.dropFirst()))
        XCTAssertEqual(glove.rows, withHeader.rows)
        XCTAssertEqual(glove.found, withHeader.found)
        // gzip, told from the bytes.
        let plain = try write(vec, name: "plain.vec")
        let compressed = directory.appendingPathComponent("vectors.bin")
        try TestData.gzip(["-c", "-n", plain]).write(to: compressed)
        let gzipped = try PretrainedVectors(path: compressed.path, vocabulary: vocabulary, dimension: 3, skipping: [0])
        XCTAssertEqual(gzipped.rows, withHeader.rows)
    }

    func testMalformedFilesAreRefusedNamingTheLine() {
        XCTAssertTrue(
            refusal("2 4\ngood 1 2 3 4\n").contains("line 1: the header says the vectors have 4 values; --embed is 3"),
            refusal("2 4\ngood 1 2 3 4\n"))
        XCTAssertTrue(
            refusal("good 1 2 3 4\n").contains("line 1: the vectors have 4 values; --embed is 3"),
            refusal("good 1 2 3 4\n"))
        XCTAssertTrue(refusal("good 1 2 3\nbad 1 2\n").contains("line 2: expected a word and 3 values"))
        XCTAssertTrue(
            refusal("good 1 2 3\nfilm 1 x 3\n").contains("line 2, value 2: \"x\" is not a finite number"),
            refusal("good 1 2 3\nfilm 1 x 3\n"))
        XCTAssertTrue(refusal("good 1 2 3\nfilm 1 nan 3\n").contains("is not a finite number"))
        XCTAssertTrue(
            refusal("good 1 2 3\n\nfilm 1 2 3\ngood 3 2 1\n").contains(
                "line 4: \"good\" has a vector already (line 1)"),
            refusal("good 1 2 3\n\nfilm 1 2 3\ngood 3 2 1\n"))
        XCTAssertEqual(
            refusal("cinema 1 2 3\ncinema 3 2 1\ngood 1 1 1\n"), "accepted", "duplicates outside the vocabulary")
        XCTAssertTrue(refusal("\n\n").contains("no vectors in the file"))
        XCTAssertTrue(
            (try? PretrainedVectors(path: "/nonexistent.vec", vocabulary: vocabulary, dimension: 3)) == nil)
    }
}
