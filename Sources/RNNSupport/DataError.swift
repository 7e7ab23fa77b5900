/// A failure reading input or writing output. Its description is the one line
/// the user sees: the file, the place in it, and what was expected.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public var file: String
    /// "line 12", "entry aclImdb/train/pos/3_9.txt", "row group 2, column text"…
    public var place: String?
    public var problem: String

    public init(file: String, place: String? = nil, _ problem: String) {
        self.file = file
        self.place = place
        self.problem = problem
    }

    public var description: String {
        [file, place].compactMap { $0 }.joined(separator: ": ") + ": " + problem
    }
}

/// What is wrong with a JSON file, in the words of its keys.
public func describe(decodingError error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, let context):
        return "missing key \"\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))\""
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
        return
            "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\": \(context.debugDescription)"
    case DecodingError.dataCorrupted(let context):
        return context.debugDescription
    default:
        return "\(error)"
    }
}
