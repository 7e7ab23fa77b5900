import CRNNInfer
import RNNBinary
import RNNModel
import RNNText

#if canImport(Glibc)
import Glibc
#endif

// The C ABI of librnninfer (Sources/CRNNInfer/rnninfer.h, whose types this
// side imports). Only C types cross it: opaque handles, status codes,
// caller-owned buffers.

/// Per-thread error messages: a malloc'd C string under a pthread key.
let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

func fail(_ status: rnn_status, _ message: String) -> rnn_status {
    free(pthread_getspecific(errorKey))
    pthread_setspecific(errorKey, strdup(message))
    return status
}

func model(_ handle: OpaquePointer?) -> LoadedModel? {
    handle.map { Unmanaged<LoadedModel>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

/// A size_t from the caller as a count Swift can index with, or nil when it is
/// beyond any buffer (above Int.max: SIZE_MAX read as a signed Int would be -1).
func count(_ value: UInt) -> Int? { value <= UInt(Int.max) ? Int(value) : nil }

/// Why the text `argument` of `function` was refused.
func textProblem(_ function: String, _ argument: String, _ pointer: UnsafePointer<CChar>?, _ length: UInt)
    -> String
{
    pointer == nil
        ? "\(function): \(argument) is NULL with length \(length) (NULL only with length 0)"
        : "\(function): \(argument) has length \(length), larger than any buffer"
}

/// A text given as (pointer, length): NULL only with length 0.
func rnnText(_ pointer: UnsafePointer<CChar>?, _ length: UInt) -> UnsafeBufferPointer<UInt8>? {
    if length == 0 { return UnsafeBufferPointer(start: nil, count: 0) }
    guard let pointer, let length = count(length) else { return nil }
    return UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: length)
}

func load(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<OpaquePointer?>, source: String) -> rnn_status
{
    do {
        let loaded = try LoadedModel(bytes: bytes)
        out.pointee = OpaquePointer(Unmanaged.passRetained(loaded).toOpaque())
        return RNN_OK
    } catch {
        if case .unsupportedVersion = error { return fail(RNN_ERROR_VERSION, "\(source): \(error)") }
        return fail(RNN_ERROR_FORMAT, "\(source): \(error)")
    }
}

@c(rnn_abi_version)
public func rnnABIVersion() -> UInt32 { UInt32(RNN_ABI_VERSION) }

@c(rnn_library_version)
public func rnnLibraryVersion() -> UnsafePointer<CChar> {
    UnsafeRawPointer(rnnkitVersion.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c(rnn_supported_format)
public func rnnSupportedFormat(_ major: UnsafeMutablePointer<UInt32>?, _ maxMinor: UnsafeMutablePointer<UInt32>?) {
    major?.pointee = UInt32(ModelFile.major)
    maxMinor?.pointee = UInt32(ModelFile.minor)
}

@c(rnn_last_error)
public func rnnLastError() -> UnsafePointer<CChar>? {
    pthread_getspecific(errorKey).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
}

@c(rnn_model_load)
public func rnnModelLoad(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rnn_status {
    guard let path, let out else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_load: path and model must not be NULL")
    }
    out.pointee = nil
    let name = String(cString: path)
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return fail(RNN_ERROR_IO, "\(name): cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        return fail(RNN_ERROR_IO, "\(name): not a regular file")
    }
    let size = Int(info.st_size)
    guard size > 0 else { return fail(RNN_ERROR_FORMAT, "\(name): the file is empty (expected an rnnkit model file)") }
    guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
        return fail(RNN_ERROR_IO, "\(name): cannot map: \(String(cString: strerror(errno)))")
    }
    defer { munmap(address, size) }
    // The model copies what it keeps, so the mapping can go once loading is done.
    return load(UnsafeRawBufferPointer(start: address, count: size), into: out, source: name)
}

@c(rnn_model_load_buffer)
public func rnnModelLoadBuffer(_ data: UnsafeRawPointer?, _ size: UInt, _ out: UnsafeMutablePointer<OpaquePointer?>?)
    -> rnn_status
{
    guard let out else { return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_load_buffer: model must not be NULL") }
    out.pointee = nil
    guard let byteCount = count(size) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_load_buffer: size \(size) is larger than any buffer")
    }
    guard data != nil || byteCount == 0 else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT, "rnn_model_load_buffer: data is NULL with size \(size) (expected a buffer)")
    }
    return load(UnsafeRawBufferPointer(start: data, count: byteCount), into: out, source: "buffer")
}

@c(rnn_model_free)
public func rnnModelFree(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<LoadedModel>.fromOpaque(UnsafeRawPointer(handle)).release()
}

@c(rnn_model_get_info)
public func rnnModelGetInfo(_ handle: OpaquePointer?, _ info: UnsafeMutablePointer<rnn_model_info>?) -> rnn_status {
    guard let loaded = model(handle), let info else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_get_info: model and info must not be NULL")
    }
    let a = loaded.classifier.architecture
    info.pointee = rnn_model_info(
        format_major: UInt32(loaded.formatVersion.major), format_minor: UInt32(loaded.formatVersion.minor),
        cell: ["rnn": 0, "lstm": 1, "gru": 2][a.cell.rawValue]!, layers: UInt32(a.layers),
        bidirectional: a.bidirectional ? 1 : 0,
        embedding: UInt32(a.embedding), hidden: UInt32(a.hidden), vocabulary_size: UInt32(a.vocabularySize),
        labels: UInt32(a.classes),
        tokenizer: loaded.classifier.tokenizerSpec.kind == .word ? 0 : 1,
        max_length: UInt32(loaded.classifier.policy.maxLength ?? 0))
    return RNN_OK
}

@c(rnn_model_label_count)
public func rnnModelLabelCount(_ handle: OpaquePointer?) -> UInt {
    UInt(model(handle)?.classifier.labels.count ?? 0)
}

@c(rnn_model_label)
public func rnnModelLabel(
    _ handle: OpaquePointer?, _ index: UInt, _ name: UnsafeMutablePointer<CChar>?, _ capacity: UInt,
    _ length: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_label: model must not be NULL")
    }
    let labels = loaded.classifier.labels
    guard index < UInt(labels.count) else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_model_label: index \(index) is out of range (expected 0…\(labels.count - 1): the model has \(labels.count) labels)"
        )
    }
    guard name != nil || capacity == 0 else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_model_label: name is NULL with capacity \(capacity) (NULL only with capacity 0, to ask for the length)"
        )
    }
    let bytes = Array(labels[Int(index)].utf8)
    length?.pointee = UInt(bytes.count)
    guard let name, capacity > UInt(bytes.count) else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL,
            "rnn_model_label: label \(index) needs a name buffer of \(bytes.count + 1) bytes, capacity is \(capacity)")
    }
    for (i, byte) in bytes.enumerated() { name[i] = CChar(bitPattern: byte) }
    name[bytes.count] = 0
    return RNN_OK
}

@c(rnn_classify)
public func rnnClassify(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt,
    _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt, _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    classify(handle, "rnn_classify", count: 1, text: { _ in (pointer, length, "text") }, probabilities, capacity, best)
}

@c(rnn_classify_batch)
public func rnnClassifyBatch(
    _ handle: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<UInt>?,
    _ textCount: UInt, _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt,
    _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    guard textCount == 0 || (texts != nil && lengths != nil) else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_classify_batch: texts and lengths must not be NULL when count is \(textCount) (NULL only with count 0)"
        )
    }
    return classify(
        handle, "rnn_classify_batch", count: textCount, text: { (texts![$0], lengths![$0], "texts[\($0)]") },
        probabilities, capacity, best)
}

/// Both classify calls: every size checked against the caller's before any text is read or memory
/// allocated, then the probabilities (a row of one per label for each text) and the argmax of each row.
func classify(
    _ handle: OpaquePointer?, _ function: String, count textCount: UInt,
    text: (Int) -> (pointer: UnsafePointer<CChar>?, length: UInt, argument: String),
    _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt, _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): model must not be NULL")
    }
    let classes = loaded.classifier.labels.count
    if let refused = checkProbabilities(function, rows: textCount, classes: classes, probabilities, capacity) {
        return refused
    }
    var buffers: [UnsafeBufferPointer<UInt8>] = []
    for i in 0..<Int(textCount) {
        let (pointer, length, argument) = text(i)
        guard let buffer = rnnText(pointer, length) else {
            return fail(RNN_ERROR_INVALID_ARGUMENT, textProblem(function, argument, pointer, length))
        }
        buffers.append(buffer)
    }
    deliver(loaded.classify(buffers), classes: classes, probabilities!, best)
    return RNN_OK
}

/// Why `rows` rows of `classes` probabilities cannot go to the caller's buffer, or nil: a
/// count no buffer could hold is refused, never multiplied into an overflow.
func checkProbabilities(
    _ function: String, rows: UInt, classes: Int, _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt
) -> rnn_status? {
    let (needed, overflow) = rows.multipliedReportingOverflow(by: UInt(classes))
    guard !overflow, count(needed) != nil else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT, "\(function): count \(rows) × \(classes) labels is larger than any buffer")
    }
    guard probabilities != nil else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): probabilities must not be NULL")
    }
    guard capacity >= needed else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL,
            "\(function): probabilities needs \(needed) floats (\(classes) per text), capacity is \(capacity)")
    }
    return nil
}

/// Rows of probabilities into the caller's buffer, and each row's argmax into `best` unless it is NULL.
func deliver(
    _ output: [Float], classes: Int, _ probabilities: UnsafeMutablePointer<Float>, _ best: UnsafeMutablePointer<Int32>?
) {
    for i in output.indices { probabilities[i] = output[i] }
    guard let best else { return }
    for row in 0..<output.count / classes { best[row] = Int32(argmax(output[row * classes..<(row + 1) * classes])) }
}

@c(rnn_top_k)
public func rnnTopK(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt, _ k: UInt,
    _ labels: UnsafeMutablePointer<Int32>?, _ probabilities: UnsafeMutablePointer<Float>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_top_k: model must not be NULL")
    }
    let classes = loaded.classifier.labels.count
    guard k >= 1, k <= UInt(classes) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_top_k: k is \(k) (expected 1…\(classes), the model's label count)")
    }
    guard let labels else { return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_top_k: labels must not be NULL") }
    guard let buffer = rnnText(pointer, length) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, textProblem("rnn_top_k", "text", pointer, length))
    }
    let output = loaded.classify([buffer])
    let ranked = (0..<classes).sorted { output[$0] != output[$1] ? output[$0] > output[$1] : $0 < $1 }
    for i in 0..<Int(k) {
        labels[i] = Int32(ranked[i])
        probabilities?[i] = output[ranked[i]]
    }
    return RNN_OK
}

@c(rnn_tokenize)
public func rnnTokenize(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt,
    _ ids: UnsafeMutablePointer<Int32>?, _ capacity: UInt, _ idCount: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_tokenize: model must not be NULL")
    }
    guard let idCount else { return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_tokenize: count must not be NULL") }
    guard ids != nil || capacity == 0 else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_tokenize: ids is NULL with capacity \(capacity) (NULL only with capacity 0, to ask for the count)")
    }
    guard let buffer = rnnText(pointer, length) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, textProblem("rnn_tokenize", "text", pointer, length))
    }
    let sequence = loaded.withWorkspace { loaded.sequence(buffer, workspace: $0) }
    idCount.pointee = UInt(sequence.count)
    guard UInt(sequence.count) <= capacity else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL, "rnn_tokenize: the text has \(sequence.count) ids, capacity is \(capacity)")
    }
    for (i, id) in sequence.enumerated() { ids![i] = id }
    return RNN_OK
}

@c(rnn_explain)
public func rnnExplain(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt, _ label: UInt,
    _ tokens: UnsafeMutablePointer<rnn_token_score>?, _ capacity: UInt, _ tokenCount: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_explain: model must not be NULL")
    }
    let labels = loaded.classifier.labels.count
    guard label < UInt(labels) else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_explain: label \(label) is out of range (expected 0…\(labels - 1): the model has \(labels) labels)")
    }
    guard let tokenCount else { return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_explain: count must not be NULL") }
    guard tokens != nil || capacity == 0 else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_explain: tokens is NULL with capacity \(capacity) (NULL only with capacity 0, to ask for the count)")
    }
    guard let text = rnnText(pointer, length) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, textProblem("rnn_explain", "text", pointer, length))
    }
    let scores = loaded.withWorkspace {
        loaded.classifier.explain(text, label: Int(label), workspace: $0.explanation)
    }
    tokenCount.pointee = UInt(scores.count)
    guard UInt(scores.count) <= capacity else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL, "rnn_explain: the text has \(scores.count) tokens, capacity is \(capacity)")
    }
    for (i, token) in scores.enumerated() {
        tokens![i] = rnn_token_score(
            start: token.span.lowerBound, end: token.span.upperBound, id: token.id, score: token.score)
    }
    return RNN_OK
}
