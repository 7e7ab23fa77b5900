import RNNBinary
import RNNKernels
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
    /// The most threads one batch call may use, the caller's included.
    let threads: Int
    private var pool: [Workspace] = []
    private var lock = pthread_mutex_t()

    /// One call's buffers: the tokenizer's and the forward pass's, and an explanation's once one is asked for.
    final class Workspace {
        let network = Network.Workspace()
        var tokenizer = TokenizerWorkspace()
        lazy var explanation = Classifier.ExplanationWorkspace()
    }

    init(bytes: UnsafeRawBufferPointer, kernels: KernelSet, threads: Int) throws(ModelFileError) {
        let file = try ModelFile(bytes: bytes)
        classifier = try Classifier(file: file, kernels: kernels)
        formatVersion = file.version
        self.threads = threads
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

    /// Probabilities, or logits, a row per text. A batch is cut into contiguous slices, one per thread:
    /// a row's values do not depend on the other rows of its batch, so the slices give the same bits.
    func outputs(_ texts: [UnsafeBufferPointer<UInt8>], logits: Bool) -> [Float] {
        let slices = min(threads, texts.count)
        guard slices > 1 else { return outputs(texts[...], logits: logits) }
        let size = (texts.count + slices - 1) / slices
        let ranges = stride(from: 0, to: texts.count, by: size).map { $0..<min($0 + size, texts.count) }
        let results = SliceResults(count: ranges.count)
        runConcurrently(ranges.count) { results.values[$0] = self.outputs(texts[ranges[$0]], logits: logits) }
        return results.values.flatMap { $0 }
    }

    func outputs(_ texts: ArraySlice<UnsafeBufferPointer<UInt8>>, logits: Bool) -> [Float] {
        withWorkspace { workspace in
            let sequences = texts.map { sequence($0, workspace: workspace)[...] }
            return logits
                ? classifier.logits(sequences, workspace: workspace.network)
                : classifier.probabilities(sequences, workspace: workspace.network)
        }
    }
}

/// Each slice writes only its own element.
private final class SliceResults: @unchecked Sendable {
    var values: [[Float]]
    init(count: Int) { values = Array(repeating: [], count: count) }
}

private final class ThreadJob {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// body(0) … body(count − 1): all but the first on threads of their own, the first on the caller's; every
/// thread joined before it returns. A thread that cannot be started runs its part on the caller's thread.
func runConcurrently(_ count: Int, _ body: @escaping (Int) -> Void) {
    var started: [pthread_t] = []
    for part in 1..<max(count, 1) {
        let job = Unmanaged.passRetained(ThreadJob { body(part) }).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, job)
        if status == 0 {
            started.append(thread)
        } else {
            Unmanaged<ThreadJob>.fromOpaque(job).takeRetainedValue().run()
        }
    }
    if count > 0 { body(0) }
    for thread in started { pthread_join(thread, nil) }
}
