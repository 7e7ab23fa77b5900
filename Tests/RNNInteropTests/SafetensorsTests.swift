import Foundation
import XCTest

@testable import RNNInterop

/// The safetensors reader on files written byte by byte here: what Hugging
/// Face's reader accepts is read, everything malformed is refused by name.
final class SafetensorsTests: XCTestCase {
    /// A file with `header` (padded to 8 bytes) and `data`.
    static func file(_ header: String, _ data: [UInt8]) -> [UInt8] {
        var json = Array(header.utf8)
        json += repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
        return bytes + json + data
    }

    static func parse(_ bytes: [UInt8]) throws -> Safetensors {
        try bytes.withUnsafeBytes { try Safetensors(bytes: $0) }
    }

    static func refusal(_ bytes: [UInt8]) -> String {
        do {
            _ = try parse(bytes)
            return "accepted"
        } catch { return "\(error)" }
    }

    func testHalfBfloatAndDoubleConvertExactly() throws {
        // 1.0, -2.5, 65504 (largest half), 2^-24 (smallest subnormal half), infinity.
        let half: [UInt16] = [0x3C00, 0xC100, 0x7BFF, 0x0001, 0x7C00]
        let bfloat: [UInt16] = [0x3F80, 0xC020]
        var data: [UInt8] = []
        for value in half { withUnsafeBytes(of: value.littleEndian) { data += $0 } }
        for value in bfloat { withUnsafeBytes(of: value.littleEndian) { data += $0 } }
        withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian) { data += $0 }
        let header = """
            {"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]},\
            "d":{"dtype":"F64","shape":[1],"data_offsets":[14,22]},"__metadata__":{"format":"pt"}}
            """
        let file = try Self.parse(Self.file(header, data))
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(
            try file.floats(file.tensor("h")!),
            [1, -2.5, 65504, Float(sign: .plus, exponent: -24, significand: 1), .infinity])
        XCTAssertEqual(try file.floats(file.tensor("b")!), [1, -2.5])
        XCTAssertEqual(try file.floats(file.tensor("d")!), [Float(0.1)])
    }

    func testMalformedFilesAreRefusedNamingTheTensor() {
        let eight = [UInt8](repeating: 0, count: 8)
        let cases: [(String, [UInt8], String)] = [
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                eight, "overlaps"
            ),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", eight, "outside the 8 bytes"),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight + eight,
                "is 12 bytes, data_offsets span 8"
            ),
            ("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight, "unknown dtype \"Q4\""),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight,
                "bytes 0..<4 of the data belong to no tensor"
            ),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", eight,
                "bytes 4..<8 of the data belong to no tensor"
            ),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight, "tensor \"a\" needs dtype"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", eight, "tensor \"a\" needs dtype"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]}}", [], "too large"),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967295,4294967295],\"data_offsets\":[0,8]}}", eight,
                "too large"
            ),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", eight,
                "unknown key \"extra\""
            ),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", eight, "outside"),
            ("{\"__metadata__\":{\"n\":3}}", [], "__metadata__ must map strings to strings"),
            ("[1,2]", [], "not a JSON object"),
            ("{\"a\":", [], "not valid JSON"),
        ]
        for (header, data, message) in cases {
            let refusal = Self.refusal(Self.file(header, data))
            XCTAssertTrue(refusal.contains(message), "\(header): \(refusal)")
        }
        XCTAssertTrue(Self.refusal([1, 2, 3]).contains("too short"))
        var huge = [UInt8](repeating: 0xFF, count: 8)
        XCTAssertTrue(Self.refusal(huge).contains("exceeds"))
        huge = [64, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "{"), UInt8(ascii: "}")]
        XCTAssertTrue(Self.refusal(huge).contains("runs past the end"))
    }

    func testIntegerTensorsAreReadButNotTakenAsWeights() throws {
        let file = try Self.parse(
            Self.file(
                "{\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}", [UInt8](repeating: 0, count: 8)))
        XCTAssertThrowsError(try file.floats(file.tensor("n")!)) {
            XCTAssertTrue("\($0)".contains("\"n\" is I64"), "\($0)")
        }
    }
}
