import RNNSupport

/// Calls `body` with each non-blank line of a block (without its LF or CRLF) and its line number.
func forEachLine(in block: RecordBlock, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws {
    var start = block.bytes.startIndex
    if block.isFirst, block.bytes.count >= 3, block.bytes[0] == 0xEF, block.bytes[1] == 0xBB,
        block.bytes[2] == 0xBF
    {
        start = 3
    }
    var line = block.firstLine
    while start < block.bytes.endIndex {
        let end = block.bytes[start...].firstIndex(of: 0x0A) ?? block.bytes.endIndex
        var contentEnd = end
        if contentEnd > start, block.bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
        let content = UnsafeBufferPointer(rebasing: block.bytes[start..<contentEnd])
        if content.contains(where: { $0 != 0x20 && $0 != 0x09 }) { try body(content, line) }
        line += 1
        start = end + 1
    }
}

/// JSON lines: one object per line; the text is one field or several joined
/// with a space, each named by a dotted path into nested objects
/// (`meta.title`, `sentences.0`). A label may be a string, a number (as
/// written), a boolean, or an array of those: a multi-label example's labels.
public struct JSONLinesReader: ExampleReader {
    public let path: String
    public let split: String
    public let textFields: [String]
    public let labelField: String
    /// A field holding a teacher's probabilities (an array, in the dataset's label order): read from
    /// training files only (validation and test are scored against the label field).
    public let softLabelField: String?
    public var labelNames: [String]? { nil }
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    public init(
        path: String, split: String?, textFields: [String], labelField: String, softLabelField: String? = nil
    ) throws {
        self.path = path
        self.split = try splitName(for: path, override: split)
        guard !textFields.isEmpty else { throw DataError(file: path, "no text field given") }
        self.textFields = textFields
        self.labelField = labelField
        self.softLabelField = self.split == "train" ? softLabelField : nil
        totalBytes = try fileSize(path)
    }

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        let textPaths = textFields.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        let labelPath = labelField.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let softLabelPath = softLabelField?.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var records = 0
        try RecordBlocks.read(path: path, quoted: false, progress: progress) { block in
            try forEachLine(in: block) { bytes, line in
                let place = "line \(line)"
                let record: JSONValue
                do {
                    record = try JSONParser.parse(bytes)
                } catch let failure as JSONParser.Failure {
                    throw DataError(file: path, place: "\(place), column \(failure.column)", failure.problem)
                }
                guard case .object = record else {
                    throw DataError(file: path, place: place, "expected a JSON object per line, found \(record.kind)")
                }
                var text: [UInt8] = []
                for (index, (field, fieldPath)) in zip(textFields, textPaths).enumerated() {
                    guard let value = record.value(at: fieldPath) else {
                        throw DataError(file: path, place: place, "no field \"\(field)\" (expected the text there)")
                    }
                    guard case .string(let part) = value else {
                        throw DataError(
                            file: path, place: place, "field \"\(field)\" is \(value.kind) (expected a string)")
                    }
                    if index > 0 { text.append(0x20) }
                    text += part
                }
                try validateUTF8(text, file: path, place: place)
                let label = try labels(record.value(at: labelPath), place: place)
                let probabilities = try softLabelPath.map { try softLabel(record.value(at: $0), place: place) } ?? []
                try body(
                    RawExample(
                        split: split, text: text, label: label, source: UInt32(truncatingIfNeeded: line),
                        softLabel: probabilities))
                records += 1
            }
        }
        if records == 0 { throw DataError(file: path, "the file has no records (expected one JSON object per line)") }
        return 0
    }

    private func softLabel(_ value: JSONValue?, place: String) throws -> [Float] {
        let field = softLabelField ?? ""
        guard case .array(let elements)? = value, !elements.isEmpty else {
            throw DataError(
                file: path, place: place,
                "field \"\(field)\" is \(value?.kind ?? "missing") (expected an array of probabilities, one per class)")
        }
        let values = try elements.map { element -> Double in
            guard case .number(let literal) = element, let number = Double(literal) else {
                throw DataError(
                    file: path, place: place, "field \"\(field)\" holds \(element.kind) (expected numbers)")
            }
            return number
        }
        return try RNNData.softLabel(values, file: path, place: place)
    }

    /// A label, or an array of them: a multi-label example's set.
    private func labels(_ value: JSONValue?, place: String) throws -> RawLabel {
        guard case .array(let elements)? = value else { return .name(try labelName(value, place: place)) }
        guard !elements.isEmpty else {
            throw DataError(
                file: path, place: place, "no label (field \"\(labelField)\" is an empty array; expected a label)")
        }
        return .from(names: try elements.map { try labelName($0, place: place) })
    }

    private func labelName(_ value: JSONValue?, place: String) throws -> String {
        switch value {
        case nil, .null?:
            throw DataError(file: path, place: place, "no label (expected a value in field \"\(labelField)\")")
        case .string(let bytes)?:
            try validateUTF8(bytes, file: path, place: place)
            let name = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else {
                throw DataError(file: path, place: place, "empty label (expected a value in field \"\(labelField)\")")
            }
            return name
        case .number(let literal)?: return literal
        case .bool(let flag)?: return flag ? "true" : "false"
        case .array?:
            throw DataError(
                file: path, place: place,
                "field \"\(labelField)\" holds an array inside an array (expected a label or an array of labels)")
        case .object?:
            throw DataError(
                file: path, place: place, "field \"\(labelField)\" is an object (expected a string, number or boolean)")
        }
    }
}

/// fastText's supervised format: `__label__pos __label__x text…` — the label
/// words before the text, each starting with the prefix (fastText's `-label`).
public struct FastTextReader: ExampleReader {
    public let path: String
    public let split: String
    public let labelPrefix: String
    public var labelNames: [String]? { nil }
    public var inputDescription: String { path }
    public var splits: [String] { [split] }
    public let totalBytes: Int64

    public init(path: String, split: String?, labelPrefix: String = "__label__") throws {
        self.path = path
        self.split = try splitName(for: path, override: split)
        guard !labelPrefix.isEmpty else { throw DataError(file: path, "the label prefix is empty") }
        self.labelPrefix = labelPrefix
        totalBytes = try fileSize(path)
    }

    @discardableResult
    public func read(progress: (Int64) -> Void, _ body: (RawExample) throws -> Void) throws -> Int {
        let prefix = Array(labelPrefix.utf8)
        var records = 0
        try RecordBlocks.read(path: path, quoted: false, progress: progress) { block in
            try forEachLine(in: block) { bytes, line in
                let place = "line \(line)"
                try validateUTF8(Array(bytes), file: path, place: place)
                var labels: [String] = []
                var position = bytes.startIndex
                while true {
                    while position < bytes.endIndex, bytes[position] == 0x20 || bytes[position] == 0x09 {
                        position += 1
                    }
                    let wordEnd =
                        bytes[position...].firstIndex { $0 == 0x20 || $0 == 0x09 } ?? bytes.endIndex
                    let word = bytes[position..<wordEnd]
                    guard word.starts(with: prefix) else { break }
                    let name = String(decoding: word.dropFirst(prefix.count), as: UTF8.self)
                    guard !name.isEmpty else {
                        throw DataError(file: path, place: place, "empty label (expected a name after \(labelPrefix))")
                    }
                    labels.append(name)
                    position = wordEnd
                }
                guard !labels.isEmpty else {
                    throw DataError(
                        file: path, place: place, "no label (expected \(labelPrefix)<name> before the text)")
                }
                try body(
                    RawExample(
                        split: split, text: Array(bytes[position...]), label: .from(names: labels),
                        source: UInt32(truncatingIfNeeded: line)))
                records += 1
            }
        }
        if records == 0 { throw DataError(file: path, "the file has no records (expected __label__<name> text lines)") }
        return 0
    }
}
