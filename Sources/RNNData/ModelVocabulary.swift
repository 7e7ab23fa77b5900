import RNNBinary
import RNNSupport
import RNNText

/// A trained model's tokenizer and labels, read from its file: prep then
/// writes shards in that model's ids and label indices, so the model can be
/// scored on any labeled file.
public struct ModelVocabulary: Sendable {
    public let path: String
    public let spec: TokenizerSpec
    public let tokenizer: Tokenizer
    public let labels: [String]

    public init(path: String) throws {
        self.path = path
        let bytes = try MappedFile(path: path).contents
        do {
            let file = try bytes.withUnsafeBytes { try ModelFile(bytes: $0) }
            let (spec, vocabulary) = try TokenizerSpec.read(from: file)
            self.spec = spec
            tokenizer = try Tokenizer(spec: spec, vocabulary: vocabulary)
            labels = try file.strings("labels")
        } catch {
            throw DataError(file: path, "\(error)")
        }
    }
}
