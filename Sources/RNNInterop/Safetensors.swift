import Foundation
import RNNBinary
import RNNSupport
import RNNText

/// A safetensors file (Hugging Face's format, and what `safetensors.torch.save_file`
/// writes): an 8-byte little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`,
/// then the tensors' little-endian bytes, offsets counted from the end of the header.
/// The reader treats the file as untrusted: every offset, shape and byte count is
/// checked before use, and each refusal names the tensor.
public struct Safetensors: Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
        case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

        public var size: Int {
            switch self {
            case .f64, .i64, .u64: 8
            case .f32, .i32, .u32: 4
            case .f16, .bf16, .i16, .u16: 2
            case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
            }
        }
    }

    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    public private(set) var tensors: [Tensor]
    public private(set) var metadata: [String: String]
    private let data: [UInt8]

    /// Hugging Face's reader refuses headers above 100 MB; so do we, before allocating anything.
    public static let maximumHeaderSize = 100_000_000

    public init(bytes: UnsafeRawBufferPointer) throws(SafetensorsError) {
        guard bytes.count >= 8 else { throw .invalid("\(bytes.count) bytes: too short for the 8-byte header length") }
        let headerSize = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard headerSize <= UInt64(Self.maximumHeaderSize) else {
            throw .invalid("header length \(headerSize) exceeds \(Self.maximumHeaderSize) bytes")
        }
        guard Int(headerSize) <= bytes.count - 8 else {
            throw .invalid("header length \(headerSize) runs past the end of the \(bytes.count)-byte file")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<8 + Int(headerSize)])
        guard header.first == UInt8(ascii: "{") else { throw .invalid("the header is not a JSON object") }
        let dataSize = bytes.count - 8 - Int(headerSize)
        let parsed: Header
        do { parsed = try JSONDecoder().decode(Header.self, from: Data(header)) } catch let error as SafetensorsError {
            throw error
        } catch { throw .invalid("the header is not valid JSON: \(error)") }
        let metadata = parsed.metadata
        var tensors: [Tensor] = []
        for (name, entry) in parsed.entries { tensors.append(try Self.tensor(name, entry, dataSize: dataSize)) }
        // The data must be exactly the tensors, without overlaps or holes
        // (Hugging Face's own reader refuses both).
        tensors.sort {
            ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name)
        }
        var covered = 0
        for tensor in tensors {
            guard tensor.range.lowerBound >= covered else {
                let other = tensors.last { $0.range.upperBound > tensor.range.lowerBound && $0.name != tensor.name }
                throw .invalid("tensor \"\(tensor.name)\" overlaps \"\(other?.name ?? "another tensor")\"")
            }
            guard tensor.range.lowerBound == covered else {
                throw .invalid("bytes \(covered)..<\(tensor.range.lowerBound) of the data belong to no tensor")
            }
            covered = tensor.range.upperBound
        }
        guard covered == dataSize else {
            throw .invalid("bytes \(covered)..<\(dataSize) of the data belong to no tensor")
        }
        self.tensors = tensors
        self.metadata = metadata
        data = Array(bytes[(8 + Int(headerSize))...])
    }

    /// The header as JSON types: exact unsigned integers (a float, a negative
    /// number or a bool where an integer belongs is a decoding error), entries by name.
    private struct Header: Decodable {
        struct Entry: Decodable {
            var dtype: String
            var shape: [UInt64]
            var dataOffsets: [UInt64]

            enum CodingKeys: String, CodingKey, CaseIterable {
                case dtype, shape, dataOffsets = "data_offsets"
            }
        }

        var entries: [(String, Entry)] = []
        var metadata: [String: String] = [:]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    do { metadata = try container.decode([String: String].self, forKey: key) } catch {
                        throw SafetensorsError.invalid("__metadata__ must map strings to strings")
                    }
                    continue
                }
                let fields = try container.nestedContainer(keyedBy: Key.self, forKey: key)
                let known = Entry.CodingKeys.allCases.map(\.rawValue)
                if let unknown = fields.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
                    throw SafetensorsError.invalid("tensor \"\(key.stringValue)\" has an unknown key \"\(unknown)\"")
                }
                do { entries.append((key.stringValue, try container.decode(Entry.self, forKey: key))) } catch {
                    throw SafetensorsError.invalid(
                        "tensor \"\(key.stringValue)\" needs dtype (a string), shape and data_offsets (lists of non-negative integers)"
                    )
                }
            }
        }
    }

    private static func tensor(_ name: String, _ entry: Header.Entry, dataSize: Int) throws(SafetensorsError) -> Tensor
    {
        guard let dtype = DType(rawValue: entry.dtype) else {
            throw .invalid("tensor \"\(name)\" has an unknown dtype \"\(entry.dtype)\"")
        }
        let offsets = entry.dataOffsets
        guard offsets.count == 2 else { throw .invalid("tensor \"\(name)\": data_offsets must be two integers") }
        guard offsets[0] <= offsets[1], offsets[1] <= UInt64(dataSize) else {
            throw .invalid("tensor \"\(name)\": data_offsets \(offsets) lie outside the \(dataSize) bytes of data")
        }
        // Bounded by the data size at every step, so the product cannot overflow.
        var byteCount = UInt64(dtype.size)
        for dimension in entry.shape {
            guard dimension <= UInt64(Int32.max) else {
                throw .invalid("tensor \"\(name)\": dimension \(dimension) in shape \(entry.shape) is too large")
            }
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= UInt64(dataSize) else {
                throw .invalid("tensor \"\(name)\": shape \(entry.shape) needs more bytes than the file holds")
            }
            byteCount = product
        }
        guard byteCount == offsets[1] - offsets[0] else {
            throw .invalid(
                "tensor \"\(name)\": shape \(entry.shape) of \(entry.dtype) is \(byteCount) bytes, data_offsets span \(offsets[1] - offsets[0])"
            )
        }
        return Tensor(
            name: name, dtype: dtype, shape: entry.shape.map { Int($0) }, range: Int(offsets[0])..<Int(offsets[1]))
    }

    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// A tensor's values as f32 (F32, F16, BF16 and F64 convert; other dtypes are refused by name).
    public func floats(_ tensor: Tensor) throws(SafetensorsError) -> [Float] {
        let element: (UnsafeRawPointer) -> Float
        switch tensor.dtype {
        case .f32: element = { Float(bitPattern: $0.loadUnaligned(as: UInt32.self).littleEndian) }
        case .f64: element = { Float(Double(bitPattern: $0.loadUnaligned(as: UInt64.self).littleEndian)) }
        case .f16: element = { halfToFloat($0.loadUnaligned(as: UInt16.self).littleEndian) }
        case .bf16: element = { Float(bitPattern: UInt32($0.loadUnaligned(as: UInt16.self).littleEndian) << 16) }
        default:
            throw .invalid(
                "tensor \"\(tensor.name)\" is \(tensor.dtype.rawValue); weights must be F32, F16, BF16 or F64")
        }
        let size = tensor.dtype.size
        return data.withUnsafeBytes { raw in
            tensor.range.isEmpty
                ? []
                : stride(from: tensor.range.lowerBound, to: tensor.range.upperBound, by: size).map {
                    element(raw.baseAddress! + $0)
                }
        }
    }

    /// A file of f32 tensors, in the order given, with the header padded by
    /// spaces to a multiple of 8 bytes so the data stays aligned (as Hugging Face writes it).
    public static func encode(tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String])
        -> [UInt8]
    {
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(jsonStringLiteral($0)):\(jsonStringLiteral(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + 4 * tensor.values.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append(
                "\(jsonStringLiteral(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"
            )
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        bytes.appendLittleEndian(UInt64(header.count))
        bytes += header
        for tensor in tensors {
            for value in tensor.values { bytes.appendLittleEndian(value.bitPattern) }
        }
        return bytes
    }
}

public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let message): "safetensors: \(message)"
        }
    }
}

/// IEEE half to single precision, subnormals and infinities included.
func halfToFloat(_ half: UInt16) -> Float {
    let sign = UInt32(half & 0x8000) << 16
    let exponent = Int(half >> 10) & 0x1F
    let mantissa = UInt32(half & 0x3FF)
    switch exponent {
    case 0:
        // Subnormal (or zero): mantissa × 2^-24, exact in f32.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign == 0 ? magnitude : -magnitude
    case 31:
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    default:
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }
}
