import CRNNInfer
import RNNBinary
import RNNKernels
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

/// The kernel set and thread count `options` ask for (NULL: the defaults), or the status that refuses them.
func loadSettings(_ function: String, _ options: UnsafePointer<rnn_load_options>?) -> Result<
    (kernels: KernelSet, threads: Int), LoadRefusal
> {
    var name: String?
    var threads = 1
    if let options {
        // size_t comes into Swift as Int: a SIZE_MAX reads as -1, which no struct is.
        let size = UInt(bitPattern: options.pointee.size)
        guard size >= UInt(MemoryLayout<Int>.size) else {
            return .failure(
                LoadRefusal(
                    RNN_ERROR_INVALID_ARGUMENT,
                    "\(function): options->size is \(size) (expected sizeof(rnn_load_options), at least \(MemoryLayout<Int>.size))"
                ))
        }
        // Only the fields the caller's struct has: an older header's is shorter.
        func has<Field>(_ field: KeyPath<rnn_load_options, Field>) -> Bool {
            UInt(MemoryLayout<rnn_load_options>.offset(of: field)! + MemoryLayout<Field>.size) <= size
        }
        if has(\.kernels), let kernels = options.pointee.kernels { name = String(cString: kernels) }
        if has(\.threads) { threads = max(1, Int(options.pointee.threads)) }
    }
    do {
        return .success((try KernelSet.named(name), threads))
    } catch {
        let source = name == nil ? "RNNKIT_KERNELS" : "options->kernels"
        if case .unknown = error {
            return .failure(LoadRefusal(RNN_ERROR_INVALID_ARGUMENT, "\(function): \(source): \(error)"))
        }
        return .failure(LoadRefusal(RNN_ERROR_UNSUPPORTED, "\(function): \(source): \(error)"))
    }
}

struct LoadRefusal: Error {
    let status: rnn_status
    let message: String
    init(_ status: rnn_status, _ message: String) {
        self.status = status
        self.message = message
    }
}

func load(
    _ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<OpaquePointer?>, source: String,
    settings: (kernels: KernelSet, threads: Int)
) -> rnn_status {
    do {
        let loaded = try LoadedModel(bytes: bytes, kernels: settings.kernels, threads: settings.threads)
        out.pointee = OpaquePointer(Unmanaged.passRetained(loaded).toOpaque())
        return RNN_OK
    } catch {
        switch error {
        case .unsupportedVersion, .unsupportedFeature: return fail(RNN_ERROR_VERSION, "\(source): \(error)")
        default: break
        }
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

@c(rnn_status_string)
public func rnnStatusString(_ status: rnn_status) -> UnsafePointer<CChar> {
    let name: StaticString
    switch status {
    case RNN_OK: name = "ok"
    case RNN_ERROR_INVALID_ARGUMENT: name = "invalid argument"
    case RNN_ERROR_IO: name = "I/O error"
    case RNN_ERROR_FORMAT: name = "format error"
    case RNN_ERROR_VERSION: name = "unsupported format version"
    case RNN_ERROR_BUFFER_TOO_SMALL: name = "buffer too small"
    case RNN_ERROR_UNSUPPORTED: name = "unsupported"
    case RNN_ERROR_NOT_FOUND: name = "not found"
    default: name = "unknown status"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c(rnn_last_error)
public func rnnLastError() -> UnsafePointer<CChar>? {
    pthread_getspecific(errorKey).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
}

@c(rnn_model_load)
public func rnnModelLoad(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rnn_status {
    loadFile("rnn_model_load", path, nil, out)
}

@c(rnn_model_load_with_options)
public func rnnModelLoadWithOptions(
    _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<rnn_load_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> rnn_status {
    loadFile("rnn_model_load_with_options", path, options, out)
}

func loadFile(
    _ function: String, _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<rnn_load_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> rnn_status {
    guard let path, let out else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): path and model must not be NULL")
    }
    out.pointee = nil
    let settings: (kernels: KernelSet, threads: Int)
    switch loadSettings(function, options) {
    case .success(let chosen): settings = chosen
    case .failure(let refusal): return fail(refusal.status, refusal.message)
    }
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
    return load(UnsafeRawBufferPointer(start: address, count: size), into: out, source: name, settings: settings)
}

@c(rnn_model_load_buffer)
public func rnnModelLoadBuffer(_ data: UnsafeRawPointer?, _ size: UInt, _ out: UnsafeMutablePointer<OpaquePointer?>?)
    -> rnn_status
{
    loadBuffer("rnn_model_load_buffer", data, size, nil, out)
}

@c(rnn_model_load_buffer_with_options)
public func rnnModelLoadBufferWithOptions(
    _ data: UnsafeRawPointer?, _ size: UInt, _ options: UnsafePointer<rnn_load_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> rnn_status {
    loadBuffer("rnn_model_load_buffer_with_options", data, size, options, out)
}

func loadBuffer(
    _ function: String, _ data: UnsafeRawPointer?, _ size: UInt, _ options: UnsafePointer<rnn_load_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> rnn_status {
    guard let out else { return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): model must not be NULL") }
    out.pointee = nil
    guard let byteCount = count(size) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): size \(size) is larger than any buffer")
    }
    guard data != nil || byteCount == 0 else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): data is NULL with size \(size) (expected a buffer)")
    }
    switch loadSettings(function, options) {
    case .success(let settings):
        return load(
            UnsafeRawBufferPointer(start: data, count: byteCount), into: out, source: "buffer", settings: settings)
    case .failure(let refusal): return fail(refusal.status, refusal.message)
    }
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
    let size = UInt(bitPattern: info.pointee.size)
    guard size >= UInt(MemoryLayout<Int>.size) else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_model_get_info: info->size is \(size) (expected sizeof(rnn_model_info), at least \(MemoryLayout<Int>.size))"
        )
    }
    let a = loaded.classifier.architecture
    var full = rnn_model_info()
    full.size = Int(min(size, UInt(MemoryLayout<rnn_model_info>.size)))
    full.format_major = UInt32(loaded.formatVersion.major)
    full.format_minor = UInt32(loaded.formatVersion.minor)
    full.cell = ["rnn": 0, "lstm": 1, "gru": 2][a.cell.rawValue]!
    full.layers = UInt32(a.layers)
    full.bidirectional = a.bidirectional ? 1 : 0
    full.embedding = UInt32(a.embedding)
    full.hidden = UInt32(a.hidden)
    full.vocabulary_size = UInt32(a.vocabularySize)
    full.labels = UInt32(a.classes)
    full.tokenizer = loaded.classifier.tokenizerSpec.kind == .word ? 0 : 1
    full.max_length = UInt32(loaded.classifier.policy.maxLength ?? 0)
    full.threads = UInt32(loaded.threads)
    full.multi_label = a.output == .sigmoid ? 1 : 0
    full.threshold = loaded.classifier.threshold ?? 0
    withUnsafeMutableBytes(of: &full.kernels) { kernels in
        for (i, byte) in loaded.classifier.network.kernels.instructionSet.utf8.prefix(kernels.count - 1).enumerated() {
            kernels[i] = byte
        }
    }
    // Only the bytes the caller's struct has: an older header's is shorter.
    let byteCount = full.size
    withUnsafeBytes(of: &full) { UnsafeMutableRawPointer(info).copyMemory(from: $0.baseAddress!, byteCount: byteCount) }
    return RNN_OK
}

@c(rnn_model_label_count)
public func rnnModelLabelCount(_ handle: OpaquePointer?) -> UInt {
    UInt(model(handle)?.classifier.labels.count ?? 0)
}

@c(rnn_model_label)
public func rnnModelLabel(
    _ handle: OpaquePointer?, _ index: Int32, _ name: UnsafeMutablePointer<CChar>?, _ capacity: UInt,
    _ length: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_label: model must not be NULL")
    }
    let labels = loaded.classifier.labels
    guard index >= 0, index < labels.count else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_model_label: index \(index) is out of range (expected 0…\(labels.count - 1): the model has \(labels.count) labels)"
        )
    }
    return copyText("rnn_model_label", "name", labels[Int(index)], name, capacity, length)
}

/// `text`, NUL-terminated, into the caller's buffer, its byte length into `length`; a NULL buffer with
/// capacity 0 is a size query.
func copyText(
    _ function: String, _ argument: String, _ text: String, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: UInt,
    _ length: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard buffer != nil || capacity == 0 else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "\(function): \(argument) is NULL with capacity \(capacity) (NULL only with capacity 0, to ask for the length)"
        )
    }
    let bytes = Array(text.utf8)
    length?.pointee = UInt(bytes.count)
    guard let buffer else { return RNN_OK }
    guard capacity > UInt(bytes.count) else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL,
            "\(function): \(argument) needs \(bytes.count + 1) bytes with its NUL, capacity is \(capacity)")
    }
    for (i, byte) in bytes.enumerated() { buffer[i] = CChar(bitPattern: byte) }
    buffer[bytes.count] = 0
    return RNN_OK
}

@c(rnn_model_metadata_count)
public func rnnModelMetadataCount(_ handle: OpaquePointer?) -> UInt {
    UInt(model(handle)?.classifier.file.metadata.count ?? 0)
}

@c(rnn_model_metadata_key)
public func rnnModelMetadataKey(
    _ handle: OpaquePointer?, _ index: UInt, _ key: UnsafeMutablePointer<CChar>?, _ capacity: UInt,
    _ length: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_metadata_key: model must not be NULL")
    }
    let metadata = loaded.classifier.file.metadata
    guard index < UInt(metadata.count) else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_model_metadata_key: index \(index) is out of range (the model has \(metadata.count) metadata keys)")
    }
    return copyText("rnn_model_metadata_key", "key", metadata[Int(index)].key, key, capacity, length)
}

@c(rnn_model_metadata)
public func rnnModelMetadata(
    _ handle: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<CChar>?, _ capacity: UInt,
    _ length: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle), let key else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_model_metadata: model and key must not be NULL")
    }
    let name = String(cString: key)
    guard let found = loaded.classifier.file[name] else {
        return fail(RNN_ERROR_NOT_FOUND, "rnn_model_metadata: the model file has no metadata key \"\(name)\"")
    }
    return copyText("rnn_model_metadata", "value", metadataText(found), value, capacity, length)
}

/// A metadata value as the header promises it: strings as they are, lists of them as a JSON array.
func metadataText(_ value: ModelFile.Value) -> String {
    switch value {
    case .int(let v): return String(v)
    case .double(let v): return "\(v)"
    case .string(let v): return v
    case .bool(let v): return v ? "true" : "false"
    case .strings(let v): return "[" + v.map(jsonStringLiteral).joined(separator: ",") + "]"
    }
}

@c(rnn_classify)
public func rnnClassify(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt,
    _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt, _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    classify(
        handle, "rnn_classify", count: 1, text: { _ in (pointer, length, "text") }, logits: false, probabilities,
        capacity, best)
}

@c(rnn_classify_batch)
public func rnnClassifyBatch(
    _ handle: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<UInt>?,
    _ textCount: UInt, _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt,
    _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    classifyBatch(handle, "rnn_classify_batch", texts, lengths, textCount, logits: false, probabilities, capacity, best)
}

@c(rnn_logits)
public func rnnLogits(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt,
    _ logits: UnsafeMutablePointer<Float>?, _ capacity: UInt
) -> rnn_status {
    classify(
        handle, "rnn_logits", count: 1, text: { _ in (pointer, length, "text") }, logits: true, logits, capacity, nil)
}

@c(rnn_logits_batch)
public func rnnLogitsBatch(
    _ handle: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<UInt>?,
    _ textCount: UInt, _ logits: UnsafeMutablePointer<Float>?, _ capacity: UInt
) -> rnn_status {
    classifyBatch(handle, "rnn_logits_batch", texts, lengths, textCount, logits: true, logits, capacity, nil)
}

func classifyBatch(
    _ handle: OpaquePointer?, _ function: String, _ texts: UnsafePointer<UnsafePointer<CChar>?>?,
    _ lengths: UnsafePointer<UInt>?, _ textCount: UInt, logits: Bool, _ output: UnsafeMutablePointer<Float>?,
    _ capacity: UInt, _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    guard textCount == 0 || (texts != nil && lengths != nil) else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "\(function): texts and lengths must not be NULL when count is \(textCount) (NULL only with count 0)")
    }
    return classify(
        handle, function, count: textCount, text: { (texts![$0], lengths![$0], "texts[\($0)]") }, logits: logits,
        output, capacity, best)
}

/// Every classify call: every size checked against the caller's before any text is read or memory
/// allocated, then the probabilities or logits (a row of one per label for each text) and the argmax of each row.
func classify(
    _ handle: OpaquePointer?, _ function: String, count textCount: UInt,
    text: (Int) -> (pointer: UnsafePointer<CChar>?, length: UInt, argument: String), logits: Bool,
    _ output: UnsafeMutablePointer<Float>?, _ capacity: UInt, _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): model must not be NULL")
    }
    let classes = loaded.classifier.labels.count
    let argument = logits ? "logits" : "probabilities"
    if let refused = checkOutput(function, argument, rows: textCount, classes: classes, output, capacity) {
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
    deliver(loaded.outputs(buffers, logits: logits), classes: classes, output!, best)
    return RNN_OK
}

@c(rnn_classify_ids)
public func rnnClassifyIDs(
    _ handle: OpaquePointer?, _ ids: UnsafePointer<Int32>?, _ idCount: UInt,
    _ probabilities: UnsafeMutablePointer<Float>?, _ capacity: UInt, _ best: UnsafeMutablePointer<Int32>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_classify_ids: model must not be NULL")
    }
    let classes = loaded.classifier.labels.count
    if let refused = checkOutput(
        "rnn_classify_ids", "probabilities", rows: 1, classes: classes, probabilities, capacity)
    {
        return refused
    }
    guard let length = count(idCount), ids != nil || length == 0 else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            ids == nil
                ? "rnn_classify_ids: ids is NULL with count \(idCount) (NULL only with count 0)"
                : "rnn_classify_ids: count \(idCount) is larger than any buffer")
    }
    let sequence = UnsafeBufferPointer(start: ids, count: length)
    let vocabulary = loaded.classifier.architecture.vocabularySize
    if let bad = sequence.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT,
            "rnn_classify_ids: ids[\(bad)] is \(sequence[bad]) (expected 0…\(vocabulary - 1), the model's vocabulary)")
    }
    let output = loaded.withWorkspace {
        loaded.classifier.probabilities([Array(sequence)[...]], workspace: $0.network)
    }
    deliver(output, classes: classes, probabilities!, best)
    return RNN_OK
}

/// Why `rows` rows of `classes` floats cannot go to the caller's buffer, or nil: a
/// count no buffer could hold is refused, never multiplied into an overflow.
func checkOutput(
    _ function: String, _ argument: String, rows: UInt, classes: Int, _ output: UnsafeMutablePointer<Float>?,
    _ capacity: UInt
) -> rnn_status? {
    let (needed, overflow) = rows.multipliedReportingOverflow(by: UInt(classes))
    guard !overflow, count(needed) != nil else {
        return fail(
            RNN_ERROR_INVALID_ARGUMENT, "\(function): count \(rows) × \(classes) labels is larger than any buffer")
    }
    guard output != nil else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "\(function): \(argument) must not be NULL")
    }
    guard capacity >= needed else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL,
            "\(function): \(argument) needs \(needed) floats (\(classes) per text), capacity is \(capacity)")
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
    let output = loaded.outputs([buffer], logits: false)
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
    guard ids != nil else { return RNN_OK }
    guard UInt(sequence.count) <= capacity else {
        return fail(
            RNN_ERROR_BUFFER_TOO_SMALL, "rnn_tokenize: the text has \(sequence.count) ids, capacity is \(capacity)")
    }
    for (i, id) in sequence.enumerated() { ids![i] = id }
    return RNN_OK
}

@c(rnn_explain)
public func rnnExplain(
    _ handle: OpaquePointer?, _ pointer: UnsafePointer<CChar>?, _ length: UInt, _ label: Int32,
    _ tokens: UnsafeMutablePointer<rnn_token_score>?, _ capacity: UInt, _ tokenCount: UnsafeMutablePointer<UInt>?
) -> rnn_status {
    guard let loaded = model(handle) else {
        return fail(RNN_ERROR_INVALID_ARGUMENT, "rnn_explain: model must not be NULL")
    }
    let labels = loaded.classifier.labels.count
    guard label >= 0, label < labels else {
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
    guard tokens != nil else { return RNN_OK }
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
