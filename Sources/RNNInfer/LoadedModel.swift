#if canImport(Glibc)
import Glibc
#endif
import RNNModel
import RNNText

/// What a `rnn_model*` points to: the classifier plus per-thread working
/// memory, handed out from a pool so concurrent calls never share buffers.
final class LoadedModel {
    static let maxTokens = 65_536

    let classifier: Classifier
    let formatVersion: (major: UInt16, minor: UInt16)
    private var pool: [Working] = []
    private var lock = pthread_mutex_t()

    final class Working {
        let workspace = Network.Workspace()
        var scratch = TokenizerScratch()
    }

    init(bytes: UnsafeRawBufferPointer) throws(ModelFileError) {
        let file = try ModelFile(bytes: bytes)
        classifier = try Classifier(file: file)
        formatVersion = file.version
        pthread_mutex_init(&lock, nil)
        // Inference GEMMs are small; parallelism comes from callers' threads.
        useSingleThreadedBLAS()
    }

    deinit { pthread_mutex_destroy(&lock) }

    func withWorking<R>(_ body: (Working) -> R) -> R {
        pthread_mutex_lock(&lock)
        let working = pool.popLast() ?? Working()
        pthread_mutex_unlock(&lock)
        defer {
            pthread_mutex_lock(&lock)
            pool.append(working)
            pthread_mutex_unlock(&lock)
        }
        return body(working)
    }

    /// The model's input for one text, at most `maxTokens` long.
    func sequence(_ text: UnsafeBufferPointer<UInt8>, working: Working) -> [Int32] {
        let sequence = classifier.sequence(text, scratch: &working.scratch)
        guard sequence.count > Self.maxTokens else { return sequence }
        return classifier.policy.truncation == .tail ? Array(sequence.prefix(Self.maxTokens)) : Array(sequence.suffix(Self.maxTokens))
    }

    /// Probabilities, a row per text.
    func classify(_ texts: [UnsafeBufferPointer<UInt8>]) -> [Float] {
        withWorking { working in
            let sequences = texts.map { sequence($0, working: working)[...] }
            return classifier.probabilities(sequences, workspace: working.workspace)
        }
    }
}
