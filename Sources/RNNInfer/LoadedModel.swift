import RNNBinary
import RNNModel
import RNNText

#if canImport(Glibc)
import Glibc
#endif

/// What a `rnn_model*` points to: the classifier plus per-call workspaces,
/// handed out from a pool so concurrent calls never share buffers.
final class LoadedModel {
    let classifier: Classifier
    let formatVersion: (major: UInt16, minor: UInt16)
    private var pool: [Workspace] = []
    private var lock = pthread_mutex_t()

    /// One call's buffers: the tokenizer's and the forward pass's, and an explanation's once one is asked for.
    final class Workspace {
        let network = Network.Workspace()
        var tokenizer = TokenizerWorkspace()
        lazy var explanation = Classifier.ExplanationWorkspace()
    }

    init(bytes: UnsafeRawBufferPointer) throws(ModelFileError) {
        // Before any product: inference GEMMs are small and parallelism comes from
        // callers' threads, and the token tables built at load must not depend on
        // OpenBLAS's thread count. Built with two threads (the first load in a
        // process ran before this call), OpenBLAS's Haswell sgemm summed some
        // entries in another order: 226 of 600 IMDB probabilities differed in
        // their last bits from those of every later load of the same file.
        useSingleThreadedBLAS()
        let file = try ModelFile(bytes: bytes)
        classifier = try Classifier(file: file)
        formatVersion = file.version
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    func withWorkspace<R>(_ body: (Workspace) -> R) -> R {
        pthread_mutex_lock(&lock)
        let workspace = pool.popLast() ?? Workspace()
        pthread_mutex_unlock(&lock)
        defer {
            pthread_mutex_lock(&lock)
            pool.append(workspace)
            pthread_mutex_unlock(&lock)
        }
        return body(workspace)
    }

    /// The model's input for one text.
    func sequence(_ text: UnsafeBufferPointer<UInt8>, workspace: Workspace) -> [Int32] {
        classifier.sequence(text, workspace: &workspace.tokenizer)
    }

    /// Probabilities, a row per text.
    func classify(_ texts: [UnsafeBufferPointer<UInt8>]) -> [Float] {
        withWorkspace { workspace in
            let sequences = texts.map { sequence($0, workspace: workspace)[...] }
            return classifier.probabilities(sequences, workspace: workspace.network)
        }
    }
}
