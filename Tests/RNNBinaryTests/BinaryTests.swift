import RNNBinary
import XCTest

final class CRC32Tests: XCTestCase {
    /// Bit by bit, straight from the polynomial: what the sliced tables must reproduce.
    func bitwise(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return ~crc
    }

    func testKnownValues() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
        XCTAssertEqual(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)), 0x414F_A339)
    }

    func testEveryLengthAndSplitMatchesTheBitwiseDefinition() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertEqual(CRC32.checksum(bytes), bitwise(bytes), "length \(length)")
            let cut = length / 3
            let continued = bytes.withUnsafeBytes {
                CRC32.checksum(
                    UnsafeRawBufferPointer(rebasing: $0[cut...]),
                    continuing: CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[..<cut])))
            }
            XCTAssertEqual(continued, bitwise(bytes), "length \(length) split at \(cut)")
        }
    }
}

final class LittleEndianTests: XCTestCase {
    func testWhatIsWrittenReadsBack() throws {
        var bytes: [UInt8] = [7]
        bytes.appendLittleEndian(UInt16(0x0102))
        bytes.appendLittleEndian(UInt32(0x0304_0506))
        bytes.appendLittleEndian(UInt64(0x0708_090A_0B0C_0D0E))
        bytes.appendString("naïve")
        XCTAssertEqual(Array(bytes[1..<3]), [0x02, 0x01])
        try bytes.withUnsafeBytes { raw in
            var reader = LittleEndianReader(raw)
            XCTAssertEqual(try reader.u8(), 7)
            XCTAssertEqual(try reader.u16(), 0x0102)
            XCTAssertEqual(try reader.u32(), 0x0304_0506)
            XCTAssertEqual(try reader.u64(), 0x0708_090A_0B0C_0D0E)
            XCTAssertEqual(try reader.string(), "naïve")
            XCTAssertEqual(reader.remaining, 0)
        }
    }

    func testReadsPastTheLimitOrBadUTF8AreErrorsNamingTheByte() throws {
        let bytes: [UInt8] = [1, 0, 0, 0, 0xFF, 9, 9, 9]
        try bytes.withUnsafeBytes { raw in
            var reader = LittleEndianReader(raw)
            XCTAssertThrowsError(try reader.string()) { XCTAssertEqual($0 as? BinaryReadError, .notUTF8(offset: 4)) }
            reader.limit = 6
            XCTAssertThrowsError(try reader.u32()) {
                XCTAssertEqual($0 as? BinaryReadError, .pastEnd(offset: 5, count: 4))
            }
            // A length field larger than the buffer never reads past it.
            var huge = LittleEndianReader(raw, offset: 4)
            XCTAssertThrowsError(try huge.string()) {
                XCTAssertEqual(String(describing: $0), "a field runs past the end of its section at byte 8")
            }
        }
    }
}
