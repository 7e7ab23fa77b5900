import Foundation
import RNNBinary
import RNNModel
import RNNSupport

/// A model file, read and checked: a missing file or any load error ends as a DataError naming the file.
public func loadClassifier(_ path: String) throws -> Classifier {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DataError(file: path, "cannot read the model file")
    }
    do { return try Array(data).withUnsafeBytes { try Classifier(file: ModelFile(bytes: $0)) } } catch {
        throw DataError(file: path, "\(error)")
    }
}
