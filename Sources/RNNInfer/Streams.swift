import CRNNInfer
import RNNModel

// rnn_stream_*: a ClassifierStream behind an opaque handle. The handle keeps
// its model alive, so the caller may free the model first.

final class OpenStream {
    let model: LoadedModel
    var stream: ClassifierStream

    init(model: LoadedModel, stream: ClassifierStream) {
        self.model = model
        self.stream = stream
    }
}

func openStream(_ handle: OpaquePointer?) -> OpenStream? {
    handle.map { Unmanaged<OpenStream>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

@c(rnn_stream_open)
public func rnnStreamOpen(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rnn_status {
    guard let loaded = model(handle), let out else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_stream_open: model and stream must not be NULL")
    }
    out.pointee = nil
    do {
        let opened = OpenStream(model: loaded, stream: try ClassifierStream(loaded.classifier))
        out.pointee = OpaquePointer(Unmanaged.passRetained(opened).toOpaque())
        return RNN_OK
    } catch {
        return fail(RNN_ERROR_UNSUPPORTED, "rnn_stream_open: this model cannot be streamed: \(error)")
    }
}

@c(rnn_stream_feed)
public func rnnStreamFeed(_ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt) -> rnn_status {
    guard let opened = openStream(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_stream_feed: stream must not be NULL")
    }
    guard let text = rnnText(pointer, length) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, textProblem("rnn_stream_feed", "text", pointer, length))
    }
    opened.stream.feed(text)
    return RNN_OK
}

@c(rnn_stream_probabilities)
public func rnnStreamProbabilities(
    _ handle: OpaquePointer?, _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt,
    _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    guard let opened = openStream(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_stream_probabilities: stream must not be NULL")
    }
    let classes = opened.model.classifier.labels.count
    if let refused = checkOutput(
        "rnn_stream_probabilities", "probabilities", rows: 1, classes: classes, probabilities, capacity)
    {
        return refused
    }
    deliver(opened.stream.probabilities(), classes: classes, probabilities!, best)
    return RNN_OK
}

@c(rnn_stream_reset)
public func rnnStreamReset(_ handle: OpaquePointer?) -> rnn_status {
    guard let opened = openStream(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_stream_reset: stream must not be NULL")
    }
    opened.stream.reset()
    return RNN_OK
}

@c(rnn_stream_free)
public func rnnStreamFree(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<OpenStream>.fromOpaque(UnsafeRawPointer(handle)).release()
}
