/// The versioned, flat, self-contained model file (`Artifacts/model-format.md`):
/// typed metadata (architecture, tokenizer with its vocabulary, sequence policy,
/// labels, provenance) and a table of 64-byte-aligned little-endian tensors,
/// closed by a CRC-32 over every byte before it.
public struct ModelFile: Equatable, Sendable {
    public static let magic: [UInt8] = Array("RNNKMODL".utf8)
    /// A file is written with the oldest version that describes it: 1.0; 1.1 when a tensor is
    /// int8; 2.0 when it requires a feature (`format.requires`) that a 1.x reader would ignore
    /// and so misread. A major-2 reader refuses a required feature it does not know, so later
    /// features need no new major.
    public static let major: UInt16 = 2
    /// The newest minor version of `major`.
    public static let minor: UInt16 = 0
    /// What a major-2 file may require that this build reads.
    public static let features: Set<String> = ["pooling", "multi-label"]
    static let requiresKey = "format.requires"
    static let headerSize = 64
    static let alignment = 64

    public enum Value: Equatable, Sendable {
        case int(Int64)
        case double(Double)
        case string(String)
        case strings([String])
        case bool(Bool)
    }

    /// f32 values, or int8 ones (dtype 2, since 1.1), whose scales are another tensor's (see Classifier).
    public struct Tensor: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public var int8: [Int8]?
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
        public init(name: String, shape: [Int], int8: [Int8]) {
            self.name = name
            self.shape = shape
            values = []
            self.int8 = int8
        }
        var byteCount: Int { int8?.count ?? 4 * values.count }
    }

    /// As read; `encoded()` writes the oldest version that describes the file.
    public var version: (major: UInt16, minor: UInt16) = (1, 0)
    /// Keys in the order written; readers look them up by name.
    public var metadata: [(key: String, value: Value)] = []
    public var tensors: [Tensor] = []

    public init() {}

    public static func == (lhs: ModelFile, rhs: ModelFile) -> Bool {
        lhs.version == rhs.version && lhs.tensors == rhs.tensors
            && lhs.metadata.map(\.key) == rhs.metadata.map(\.key)
            && lhs.metadata.map(\.value) == rhs.metadata.map(\.value)
    }

    public subscript(key: String) -> Value? { metadata.first { $0.key == key }?.value }

    /// The features a reader must know to read this file correctly.
    public var requiredFeatures: [String] {
        if case .strings(let features) = self[Self.requiresKey] { return features }
        return []
    }

    /// Marks the file as readable only by readers that know `feature` (one of `features`).
    public mutating func require(_ feature: String) {
        precondition(Self.features.contains(feature), "unknown model file feature \(feature)")
        guard !requiredFeatures.contains(feature) else { return }
        set(Self.requiresKey, .strings(requiredFeatures + [feature]))
    }

    public mutating func set(_ key: String, _ value: Value) {
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name } }

    // Typed reads of required keys: a missing key or another type is a load error naming the key.

    /// A non-negative integer below 2^31.
    public func int(_ key: String) throws(ModelFileError) -> Int {
        guard case .int(let v)? = self[key], v >= 0, v < 1 << 31 else { throw .invalid("missing or bad \"\(key)\"") }
        return Int(v)
    }

    public func string(_ key: String) throws(ModelFileError) -> String {
        guard case .string(let v)? = self[key] else { throw .invalid("missing \"\(key)\"") }
        return v
    }

    public func bool(_ key: String) throws(ModelFileError) -> Bool {
        guard case .bool(let v)? = self[key] else { throw .invalid("missing \"\(key)\"") }
        return v
    }

    public func strings(_ key: String) throws(ModelFileError) -> [String] {
        guard case .strings(let v)? = self[key] else { throw .invalid("missing \"\(key)\"") }
        return v
    }

    // MARK: Writing

    public func encoded() -> [UInt8] {
        var meta: [UInt8] = []
        for (key, value) in metadata {
            meta.appendString(key)
            switch value {
            case .int(let v): meta.append(1); meta.appendLittleEndian(UInt64(bitPattern: v))
            case .double(let v): meta.append(2); meta.appendLittleEndian(v.bitPattern)
            case .string(let v): meta.append(3); meta.appendString(v)
            case .strings(let v):
                meta.append(4); meta.appendLittleEndian(UInt32(v.count)); for s in v { meta.appendString(s) }
            case .bool(let v): meta.append(5); meta.append(v ? 1 : 0)
            }
        }
        var table: [UInt8] = []
        var dataOffsets: [Int] = []
        var dataSize = 0
        for tensor in tensors {
            dataOffsets.append(dataSize)
            dataSize = align(dataSize + tensor.byteCount)
        }
        for (tensor, offset) in zip(tensors, dataOffsets) {
            table.appendString(tensor.name)
            table.append(tensor.int8 == nil ? 1 : 2)  // dtype: f32 or int8
            table.append(UInt8(tensor.shape.count))
            table.appendLittleEndian(UInt16(0))
            for dimension in tensor.shape { table.appendLittleEndian(UInt64(dimension)) }
            table.appendLittleEndian(UInt64(offset))
            table.appendLittleEndian(UInt64(tensor.byteCount))
        }
        let major: UInt16 = requiredFeatures.isEmpty ? 1 : 2
        let minor: UInt16 = major == 1 && tensors.contains { $0.int8 != nil } ? 1 : 0
        let metadataOffset = Self.headerSize
        let tableOffset = metadataOffset + meta.count
        let dataOffset = align(tableOffset + table.count)
        let fileSize = dataOffset + dataSize + 4
        var out: [UInt8] = []
        out.reserveCapacity(fileSize)
        out += Self.magic
        out.appendLittleEndian(major)
        out.appendLittleEndian(minor)
        out.appendLittleEndian(UInt32(Self.headerSize))
        out.appendLittleEndian(UInt64(fileSize))
        out.appendLittleEndian(UInt64(metadataOffset))
        out.appendLittleEndian(UInt64(meta.count))
        out.appendLittleEndian(UInt64(tableOffset))
        out.appendLittleEndian(UInt32(tensors.count))
        out.appendLittleEndian(UInt32(metadata.count))
        out.appendLittleEndian(UInt64(dataOffset))
        out += meta
        out += table
        out += [UInt8](repeating: 0, count: dataOffset - out.count)
        for (tensor, offset) in zip(tensors, dataOffsets) {
            out += [UInt8](repeating: 0, count: dataOffset + offset - out.count)
            if let int8 = tensor.int8 {
                out += int8.map { UInt8(bitPattern: $0) }
            } else {
                for value in tensor.values { out.appendLittleEndian(value.bitPattern) }
            }
        }
        out += [UInt8](repeating: 0, count: dataOffset + dataSize - out.count)
        out.appendLittleEndian(CRC32.checksum(out))
        return out
    }

    /// A 1.x file cannot require anything (its readers would not look); a 2.x file must
    /// require something, and only what this build reads.
    private func checkRequiredFeatures(major: UInt16) throws(ModelFileError) {
        let value = self[Self.requiresKey]
        if major == 1 {
            guard value == nil else { throw .corrupt("\(Self.requiresKey) is set in a format 1 file") }
            return
        }
        guard case .strings(let features) = value, !features.isEmpty else {
            throw .corrupt("a format \(major) file must list the features it requires in \(Self.requiresKey)")
        }
        if let unknown = features.first(where: { !Self.features.contains($0) }) {
            throw .unsupportedFeature(unknown)
        }
    }

    private func align(_ n: Int) -> Int { (n + Self.alignment - 1) / Self.alignment * Self.alignment }

    // MARK: Reading

    /// Parses and validates a model file: every offset, length and shape is
    /// checked against the buffer before use, so a corrupt file fails here.
    public init(bytes: UnsafeRawBufferPointer) throws(ModelFileError) {
        do { try self.init(parsing: bytes) } catch let error as ModelFileError { throw error } catch {
            throw .corrupt("\(error)")
        }
    }

    private init(parsing bytes: UnsafeRawBufferPointer) throws {
        var reader = LittleEndianReader(bytes)
        guard bytes.count >= Self.headerSize + 4 else {
            throw ModelFileError.truncated(
                "the file has \(bytes.count) bytes; a model file has at least \(Self.headerSize + 4)")
        }
        guard Array(bytes[0..<8]) == Self.magic else { throw ModelFileError.notAModel }
        reader.offset = 8
        let major = try reader.u16(), minor = try reader.u16()
        guard major >= 1 && major <= Self.major else {
            throw ModelFileError.unsupportedVersion(major: major, minor: minor)
        }
        version = (major, minor)
        let headerSize = Int(try reader.u32())
        let fileSize = try reader.u64()
        guard fileSize == UInt64(bytes.count) else {
            throw ModelFileError.truncated("the header says \(fileSize) bytes but the file has \(bytes.count)")
        }
        let stored = bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self).littleEndian
        let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<bytes.count - 4]))
        guard stored == computed else { throw ModelFileError.checksumMismatch(stored: stored, computed: computed) }
        let metadataOffset = try reader.u64(), metadataSize = try reader.u64(), tableOffset = try reader.u64()
        let tensorCount = Int(try reader.u32()), metadataCount = Int(try reader.u32())
        let dataOffset = try reader.u64()
        let end = UInt64(bytes.count - 4)
        guard headerSize >= 64, metadataOffset >= UInt64(headerSize), metadataOffset <= end,
            metadataSize <= end - metadataOffset,
            tableOffset >= metadataOffset + metadataSize, tableOffset <= end, dataOffset >= tableOffset,
            dataOffset <= end,
            dataOffset % UInt64(Self.alignment) == 0
        else {
            throw ModelFileError.corrupt("section offsets out of bounds")
        }
        reader.offset = Int(metadataOffset)
        reader.limit = Int(metadataOffset + metadataSize)
        var keys = Set<String>()
        for _ in 0..<metadataCount {
            let key = try reader.string()
            guard keys.insert(key).inserted else { throw ModelFileError.corrupt("metadata key \(key) appears twice") }
            let value: Value
            switch try reader.u8() {
            case 1: value = .int(Int64(bitPattern: try reader.u64()))
            case 2: value = .double(Double(bitPattern: try reader.u64()))
            case 3: value = .string(try reader.string())
            case 4:
                let count = Int(try reader.u32())
                guard count <= reader.remaining / 4 else {
                    throw ModelFileError.corrupt("metadata \(key): list of \(count) strings exceeds its section")
                }
                var list: [String] = []
                list.reserveCapacity(count)
                for _ in 0..<count { list.append(try reader.string()) }
                value = .strings(list)
            case 5:
                let byte = try reader.u8()
                guard byte <= 1 else { throw ModelFileError.corrupt("metadata \(key): bool \(byte) (expected 0 or 1)") }
                value = .bool(byte == 1)
            case let type: throw ModelFileError.corrupt("metadata \(key): unknown value type \(type)")
            }
            metadata.append((key, value))
        }
        guard reader.remaining == 0 else {
            throw ModelFileError.corrupt(
                "metadata: \(reader.remaining) bytes left after the \(metadataCount) entries the header counts")
        }
        try checkRequiredFeatures(major: major)
        reader.offset = Int(tableOffset)
        reader.limit = Int(dataOffset)
        let dataEnd = end
        var ranges: [(name: String, data: Range<UInt64>)] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try reader.string()
            guard names.insert(name).inserted else {
                throw ModelFileError.corrupt("tensor \(name) appears twice")
            }
            let dtype = try reader.u8(), rank = Int(try reader.u8())
            let reserved = try reader.u16()
            guard reserved == 0 else {
                throw ModelFileError.corrupt("tensor \(name): reserved field \(reserved) (expected 0)")
            }
            let readsInt8 = major > 1 || minor >= 1
            guard dtype == 1 || (dtype == 2 && readsInt8) else {
                throw ModelFileError.corrupt(
                    "tensor \(name): unknown dtype \(dtype) (expected 1 = f32\(readsInt8 ? " or 2 = int8" : ""))")
            }
            guard rank <= 4 else { throw ModelFileError.corrupt("tensor \(name): rank \(rank) (at most 4)") }
            var shape: [Int] = []
            var elements: UInt64 = 1
            for _ in 0..<rank {
                let dimension = try reader.u64()
                guard dimension < 1 << 32 else {
                    throw ModelFileError.corrupt("tensor \(name): dimension \(dimension) too large")
                }
                elements = elements.multipliedReportingOverflow(by: dimension).partialValue
                guard elements < 1 << 40 else { throw ModelFileError.corrupt("tensor \(name): too many elements") }
                shape.append(Int(dimension))
            }
            let offset = try reader.u64(), size = try reader.u64()
            let elementSize: UInt64 = dtype == 1 ? 4 : 1
            guard size == elementSize * elements else {
                throw ModelFileError.corrupt("tensor \(name): \(size) bytes for shape \(shape)")
            }
            guard offset % UInt64(Self.alignment) == 0, offset <= dataEnd - dataOffset,
                size <= dataEnd - dataOffset - offset
            else {
                throw ModelFileError.corrupt("tensor \(name): data out of bounds")
            }
            ranges.append((name, offset..<offset + size))
            let start = Int(dataOffset + offset)
            if dtype == 2 {
                tensors.append(
                    Tensor(
                        name: name, shape: shape, int8: (0..<Int(elements)).map { Int8(bitPattern: bytes[start + $0]) })
                )
                continue
            }
            let values = (0..<Int(elements)).map {
                Float(bitPattern: bytes.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self).littleEndian)
            }
            tensors.append(Tensor(name: name, shape: shape, values: values))
        }
        // The table is followed only by the zeros that align the data.
        let padding = UnsafeRawBufferPointer(rebasing: bytes[reader.offset..<reader.limit])
        guard padding.count < Self.alignment, padding.allSatisfy({ $0 == 0 }) else {
            throw ModelFileError.corrupt(
                "tensor table: \(padding.count) bytes left after the \(tensorCount) entries the header counts")
        }
        let sorted = ranges.filter { !$0.data.isEmpty }.sorted { $0.data.lowerBound < $1.data.lowerBound }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where next.data.lowerBound < previous.data.upperBound {
            throw ModelFileError.corrupt("tensors \(previous.name) and \(next.name) share data bytes")
        }
    }
}

public enum ModelFileError: Error, Equatable, CustomStringConvertible {
    case notAModel
    case unsupportedVersion(major: UInt16, minor: UInt16)
    case unsupportedFeature(String)
    case truncated(String)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case corrupt(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notAModel: return "not an rnnkit model file (bad magic; expected \"RNNKMODL\")"
        case .unsupportedVersion(let major, let minor):
            return
                "model format \(major).\(minor) is not supported (this build reads formats 1.x to \(ModelFile.major).x)"
        case .unsupportedFeature(let feature):
            return
                "the model requires \"\(feature)\", which this build does not read (it reads: \(ModelFile.features.sorted().joined(separator: ", "))); update rnnkit"
        case .truncated(let detail): return "truncated model file: \(detail)"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch (stored \(hex32(stored)), computed \(hex32(computed))): the file is corrupt"
        case .corrupt(let detail): return "corrupt model file: \(detail)"
        case .invalid(let detail): return "invalid model: \(detail)"
        }
    }
}
