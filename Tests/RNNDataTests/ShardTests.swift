import RNNBinary
import RNNSupport
import XCTest

@testable import RNNData

final class ShardTests: XCTestCase {
    func sample(labeled: Bool = true) -> Shard {
        var shard = Shard()
        shard.append(tokens: [5, 6, 7], label: labeled ? 1 : -1, source: 42, rating: 9)
        shard.append(tokens: [], label: labeled ? 0 : -1, source: 7, rating: 0)
        shard.append(tokens: [65_535, 3], label: labeled ? 1 : -1, source: 1, rating: 2)
        return shard
    }

    func testRoundTripWithSixteenAndThirtyTwoBitIds() throws {
        let shard = sample()
        let narrow = ShardFormat.encode(shard, vocabularySize: 65_536)
        XCTAssertEqual(narrow[12], 2)
        XCTAssertEqual(try ShardFormat.decode(narrow, file: "s", vocabularySize: 65_536, labelCount: 2), shard)
        var wide = shard
        wide.append(tokens: [70_000], label: 0, source: 3, rating: 1)
        let wideBytes = ShardFormat.encode(wide, vocabularySize: 70_001)
        XCTAssertEqual(wideBytes[12], 4)
        XCTAssertEqual(try ShardFormat.decode(wideBytes, file: "s", vocabularySize: 70_001, labelCount: 2), wide)
        let unlabeled = sample(labeled: false)
        XCTAssertEqual(
            try ShardFormat.decode(
                ShardFormat.encode(unlabeled, vocabularySize: 70_000), file: "s", vocabularySize: 70_000, labelCount: 2),
            unlabeled)
    }

    func softLabeled() -> Shard {
        var shard = Shard()
        shard.append(
            tokens: [5, 6], label: 1, source: 2, rating: 0,
            targets: [.init(label: 0, weight: 0.25), .init(label: 1, weight: 0.75)])
        shard.append(tokens: [], label: 0, source: 3, rating: 0, targets: [.init(label: 0, weight: 1)])
        shard.append(tokens: [7], label: 1, source: 4, rating: 0, targets: [])
        return shard
    }

    /// Format 1.1: soft labels round-trip, read by any range; a shard without them stays 1.0.
    func testSoftLabelsRoundTripAndOnlyTheyMakeAShardOnePointOne() throws {
        let shard = softLabeled()
        let bytes = ShardFormat.encode(shard, vocabularySize: 100)
        XCTAssertEqual(bytes[10], 1, "minor version")
        XCTAssertEqual(bytes[13], 3, "flags: labeled, targets")
        XCTAssertEqual(try ShardFormat.decode(bytes, file: "s", vocabularySize: 100, labelCount: 2), shard)
        let file = try ShardFile(bytes: bytes, path: "s", vocabularySize: 100, labelCount: 2)
        XCTAssertEqual(try file.read(1..<3), shard.subset([1, 2]))
        XCTAssertEqual(try file.read(1..<3).targets(of: 0), [Target(label: 0, weight: 1)])
        var withoutTargets = shard
        withoutTargets.targetOffsets = []
        withoutTargets.targets = []
        let plain = ShardFormat.encode(withoutTargets, vocabularySize: 100)
        XCTAssertEqual(plain[10], 0, "a shard without soft labels is still 1.0")
        XCTAssertEqual(plain[13], 1)
        XCTAssertEqual(plain.count, bytes.count - 8 * 4 - 8 * 3, "1.1 adds the target offsets and pairs, nothing else")
        XCTAssertEqual(Array(plain[14..<20]), Array(bytes[14..<20]))
        XCTAssertEqual(Array(plain[24..<plain.count - 4]), Array(bytes[24..<plain.count - 4]))
    }

    func testBadSoftLabelsAreRejectedNamingTheTarget() {
        let bytes = ShardFormat.encode(softLabeled(), vocabularySize: 100)
        assertEveryBitFlipIsRejected(bytes, vocabularySize: 100)
        func withChecksum(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var changed = bytes
            change(&changed)
            let crc = CRC32.checksum(Array(changed[0..<changed.count - 4]))
            withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { changed[changed.count - 4 + i] = $0[i] } }
            return changed
        }
        let targetsAt = bytes.count - 4 - 8 * 3
        Fixtures.assertDataError(["s: target 0: class 2 out of range"]) {
            _ = try ShardFormat.decode(
                withChecksum { $0[targetsAt] = 2 }, file: "s", vocabularySize: 100, labelCount: 2)
        }
        Fixtures.assertDataError(["s: target 1: weight -0.75"]) {
            _ = try ShardFormat.decode(
                withChecksum { $0[targetsAt + 15] |= 0x80 }, file: "s", vocabularySize: 100, labelCount: 2)
        }
        Fixtures.assertDataError(["flags 2 (expected bit 0, and bit 1 from format 1.1 on)"]) {
            _ = try ShardFormat.decode(
                withChecksum {
                    $0[10] = 0; $0[13] = 2
                }, file: "s", vocabularySize: 100, labelCount: 2)
        }
    }

    /// Found by Tools/fuzz shard: an example offset above Int.max, with the checksum recomputed, trapped.
    func testAnOffsetPastEveryTokenIsAnErrorNotATrap() {
        var bytes = ShardFormat.encode(sample(), vocabularySize: 65_536)
        bytes[32 + 8 + 7] = 0xFB  // the high byte of example 1's start offset
        let crc = CRC32.checksum(Array(bytes[0..<bytes.count - 4]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[bytes.count - 4 + i] = $0[i] } }
        XCTAssertThrowsError(try ShardFormat.decode(bytes, file: "s", vocabularySize: 65_536, labelCount: 2)) {
            XCTAssertTrue("\($0)".contains("s: example 1: offset 18086456103519911939 is past the 5 tokens"), "\($0)")
        }
    }

    func assertEveryBitFlipIsRejected(
        _ bytes: [UInt8], vocabularySize: Int, file: StaticString = #filePath, line: UInt = #line
    ) {
        for byte in 0..<bytes.count {
            for bit in 0..<8 {
                var corrupt = bytes
                corrupt[byte] ^= 1 << bit
                XCTAssertThrowsError(
                    try ShardFormat.decode(corrupt, file: "s", vocabularySize: vocabularySize, labelCount: 2),
                    "byte \(byte) bit \(bit)", file: file, line: line)
            }
        }
    }

    func testEveryTruncationAndEveryBitFlipIsRejected() {
        let bytes = ShardFormat.encode(sample(), vocabularySize: 65_536)
        for length in 0..<bytes.count {
            XCTAssertThrowsError(
                try ShardFormat.decode(Array(bytes[0..<length]), file: "s", vocabularySize: 65_536, labelCount: 2),
                "length \(length)")
        }
        assertEveryBitFlipIsRejected(bytes, vocabularySize: 65_536)
    }

    func testValidatesIdsLabelsAndVersionWithClearMessages() {
        let bytes = ShardFormat.encode(sample(), vocabularySize: 65_536)
        Fixtures.assertDataError(["s.shard", "outside the vocabulary of 100"]) {
            _ = try ShardFormat.decode(bytes, file: "s.shard", vocabularySize: 100, labelCount: 2)
        }
        Fixtures.assertDataError(["label 1 out of range"]) {
            _ = try ShardFormat.decode(bytes, file: "s.shard", vocabularySize: 65_536, labelCount: 1)
        }
        var newer = bytes
        newer[8] = 2
        Fixtures.assertDataError(["shard format 2.0 is not supported", "1.x"]) {
            _ = try ShardFormat.decode(newer, file: "s.shard", vocabularySize: 65_536, labelCount: 2)
        }
        Fixtures.assertDataError(["bad magic"]) {
            _ = try ShardFormat.decode(
                Array(repeating: 0, count: 64), file: "s.shard", vocabularySize: 65_536, labelCount: 2)
        }
    }
}
