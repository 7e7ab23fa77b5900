import XCTest

@testable import RNNText

final class SequencePolicyTests: XCTestCase {
    func testSequencePolicyPadsTruncatesAndMarks() {
        let word = SpecialIDs(padding: 0, unknown: 2, start: 1, end: nil)
        let bert = SpecialIDs(padding: 0, unknown: 100, start: 101, end: 102)
        let content: [Int32] = [7, 8, 9, 10]
        XCTAssertEqual(SequencePolicy().apply(content, special: word), [1, 7, 8, 9, 10])
        XCTAssertEqual(SequencePolicy(markers: false).apply(content, special: word), [7, 8, 9, 10])
        XCTAssertEqual(SequencePolicy(maxLength: 3, truncation: .tail).apply(content, special: word), [1, 7, 8])
        XCTAssertEqual(SequencePolicy(maxLength: 3, truncation: .head).apply(content, special: word), [1, 9, 10])
        XCTAssertEqual(
            SequencePolicy(maxLength: 7, padding: .post).apply(content, special: word), [1, 7, 8, 9, 10, 0, 0])
        XCTAssertEqual(
            SequencePolicy(maxLength: 7, padding: .pre).apply(content, special: word), [0, 0, 1, 7, 8, 9, 10])
        XCTAssertEqual(SequencePolicy(maxLength: 4).apply(content, special: bert), [101, 7, 8, 102])
        XCTAssertEqual(SequencePolicy(maxLength: 1).apply(content, special: bert), [101])
        XCTAssertNotNil(SequencePolicy(padding: .post).problem)
    }
}
