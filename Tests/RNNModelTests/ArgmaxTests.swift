import RNNModel
import XCTest

final class ArgmaxTests: XCTestCase {
    func testTheFirstLargestWins() {
        XCTAssertEqual(argmax([0.1, 0.7, 0.2] as [Float]), 1)
        XCTAssertEqual(argmax([0.25, 0.5, 0.5, 0.25] as [Float]), 1)
        XCTAssertEqual(argmax([-3] as [Float]), 0)
        XCTAssertEqual(argmax(([9, 1, 4, 6] as [Float])[2...]), 1, "a slice's position, not its index")
    }
}
