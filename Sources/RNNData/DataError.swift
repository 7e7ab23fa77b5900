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
