import CRNNInfer
import RNNInfer

#if canImport(Glibc)
import Glibc
#endif

// libFuzzer entry for the C ABI itself: fuzzer-chosen calls on a real model
// (the committed fixture, or $RNNKIT_FUZZ_MODEL) with fuzzer-chosen texts,
// counts, capacities, k and NULLs. Every call must return a status — never a
// crash, a trap or a sanitizer report — and OK results must be well formed.
// Buffers are as large as the capacity the call is told, as a correct caller's
// are; only counts no buffer could hold are passed without one behind them.

let modelPath = getenv("RNNKIT_FUZZ_MODEL").map { String(cString: $0) } ?? "Tests/Fixtures/models/model-v1.0.rnnk"
let model: OpaquePointer = {
    var handle: OpaquePointer?
    precondition(rnnModelLoad(modelPath, &handle) == RNN_OK, "fuzz-abi: cannot load \(modelPath)")
    return handle!
}()
let labels = Int(rnnModelLabelCount(model))
/// The model's bytes, for loads with fuzzer-chosen options.
let fixtureBytes: UnsafeBufferPointer<UInt8> = {
    let file = fopen(modelPath, "rb")!
    defer { fclose(file) }
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 24)
    return UnsafeBufferPointer(rebasing: buffer[..<fread(buffer.baseAddress, 1, buffer.count, file)])
}()

/// Reads the fuzzer's choices from the front of its input; the rest is the text.
struct Choices {
    var bytes: UnsafeBufferPointer<UInt8>
    var next = 0

    mutating func byte() -> UInt8 {
        guard next < bytes.count else { return 0 }
        defer { next += 1 }
        return bytes[next]
    }

    /// A size: mostly small, sometimes at or around the edges of size_t.
    mutating func size(needed: Int) -> UInt {
        switch byte() % 8 {
        case 0: 0
        case 1: UInt(max(needed - 1, 0))
        case 2: UInt(needed)
        case 3: UInt.max
        case 4: UInt(Int.max) + 1
        case 5: UInt(needed) + UInt(byte())
        default: UInt(byte() % 16)
        }
    }

    /// A label index: mostly in range, sometimes just outside it or at Int32's edges.
    mutating func label() -> Int32 {
        switch byte() % 6 {
        case 0: -1
        case 1: Int32(labels)
        case 2: Int32.max
        case 3: Int32.min
        default: Int32(byte()) % Int32(labels + 1)
        }
    }

    var rest: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[min(next, bytes.count)...]) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzABI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var choices = Choices(bytes: UnsafeBufferPointer(start: data, count: size))
    let function = choices.byte() % 12
    let nullText = choices.byte() % 8 == 0
    let claimedLength = choices.byte() % 8 == 0 ? UInt.max : nil
    let text = choices.rest
    let textPointer =
        nullText
        ? nil
        : UnsafeRawPointer(text.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            .assumingMemoryBound(to: CChar.self)
    let length = claimedLength ?? UInt(text.count)
    let lengthIsReal = claimedLength == nil && (!nullText || text.isEmpty)
    var status: rnn_status
    switch function {
    case 0:  // rnn_classify
        let capacity = choices.size(needed: labels)
        let real = Int(min(capacity, UInt(labels)))
        var probabilities = [Float](repeating: 0, count: max(real, 1))
        var best: Int32 = -1
        status = probabilities.withUnsafeMutableBufferPointer {
            rnnClassify(model, textPointer, length, choices.byte() % 8 == 0 ? nil : $0.baseAddress, UInt(real), &best)
        }
        if status == RNN_OK {
            precondition(lengthIsReal && real >= labels && (0..<Int32(labels)).contains(best))
            precondition(abs(probabilities.prefix(labels).reduce(0, +) - 1) < 1e-4)
        }
        if capacity >= UInt(labels), status == RNN_OK || status == RNN_ERROR_INVALID_ARGUMENT {
            // The same call told a capacity beyond its buffer's size but above what it needs.
            status = probabilities.withUnsafeMutableBufferPointer {
                rnnClassify(model, textPointer, length, $0.baseAddress, capacity, nil)
            }
        }
    case 1:  // rnn_classify_batch: a few real texts, or a count no buffer could hold
        let huge = choices.byte() % 4 == 0
        let count: UInt = huge ? (choices.byte() % 2 == 0 ? UInt.max / 2 : UInt.max) : UInt(choices.byte() % 5)
        let real = huge ? 0 : Int(count)
        let texts = [UnsafePointer<CChar>?](repeating: textPointer, count: max(real, 1))
        let lengths = [UInt](repeating: length, count: max(real, 1))
        let capacity = huge ? UInt.max : choices.size(needed: real * labels)
        var probabilities = [Float](repeating: 0, count: huge ? 1 : max(Int(min(capacity, UInt(real * labels))), 1))
        var best = [Int32](repeating: -1, count: max(real, 1))
        let told = huge ? capacity : UInt(min(capacity, UInt(real * labels)))
        let nullTexts = choices.byte() % 8 == 0, nullLengths = choices.byte() % 8 == 0
        status = texts.withUnsafeBufferPointer { texts in
            lengths.withUnsafeBufferPointer { lengths in
                rnnClassifyBatch(
                    model, nullTexts ? nil : texts.baseAddress, nullLengths ? nil : lengths.baseAddress, count,
                    &probabilities, told, &best)
            }
        }
        if huge { precondition(status == RNN_ERROR_INVALID_ARGUMENT, "a count no buffer holds was accepted") }
    case 2:  // rnn_top_k
        let k = choices.size(needed: labels)
        let real = Int(min(k, UInt(labels)))
        var top = [Int32](repeating: -1, count: max(real, 1))
        var probabilities = [Float](repeating: 0, count: max(real, 1))
        let nullProbabilities = choices.byte() % 2 == 0
        status = probabilities.withUnsafeMutableBufferPointer {
            rnnTopK(model, textPointer, length, k, &top, nullProbabilities ? nil : $0.baseAddress)
        }
        if status == RNN_OK { precondition(k >= 1 && k <= UInt(labels) && top.allSatisfy { $0 >= 0 }) }
    case 3:  // rnn_tokenize
        let capacity = choices.size(needed: 16)
        var ids = [Int32](repeating: 0, count: 65_536 + 2)
        var count: UInt = 0
        let told = capacity > UInt(ids.count) && capacity != UInt.max ? UInt(ids.count) : capacity
        let nullIDs = choices.byte() % 4 == 0, nullCount = choices.byte() % 8 == 0
        status = ids.withUnsafeMutableBufferPointer { ids in
            withUnsafeMutablePointer(to: &count) {
                rnnTokenize(model, textPointer, length, nullIDs ? nil : ids.baseAddress, told, nullCount ? nil : $0)
            }
        }
        if status == RNN_OK { precondition(count <= 65_536 + 2) }
    case 4:  // rnn_model_label
        let index = choices.label()
        let capacity = choices.size(needed: 8)
        var name = [CChar](repeating: 0, count: Int(min(capacity, 64)) + 1)
        var nameLength: UInt = 0
        let nullName = choices.byte() % 4 == 0, nullLength = choices.byte() % 2 == 0
        status = name.withUnsafeMutableBufferPointer { name in
            withUnsafeMutablePointer(to: &nameLength) {
                rnnModelLabel(model, index, nullName ? nil : name.baseAddress, min(capacity, 64), nullLength ? nil : $0)
            }
        }
        if status == RNN_OK { precondition(index >= 0 && index < labels, "rnn_model_label: index \(index)") }
    case 5:  // a stream fed the text in fuzzer-chosen pieces must end with rnn_classify's bits
        var stream: OpaquePointer?
        status = rnnStreamOpen(model, &stream)
        guard let stream else { break }
        defer { rnnStreamFree(stream) }
        var fed = 0
        while status == RNN_OK && fed < text.count {
            let piece = min(text.count - fed, 1 + Int(choices.byte() % 8))
            status = rnnStreamFeed(stream, textPointer.map { $0 + fed }, UInt(piece))
            fed += piece
        }
        let capacity = choices.size(needed: labels)
        var streamed = [Float](repeating: 0, count: labels), whole = streamed
        if status == RNN_OK {
            status = rnnStreamProbabilities(stream, &streamed, min(capacity, UInt(labels)), nil)
        }
        if status == RNN_OK, lengthIsReal {
            precondition(rnnClassify(model, textPointer, UInt(text.count), &whole, UInt(labels), nil) == RNN_OK)
            precondition(streamed == whole, "a stream's probabilities differ from the whole text's")
        }
    case 6:  // rnn_explain: spans inside the text, in order, never more tokens than bytes
        let label = choices.label()
        let capacity = choices.size(needed: text.count)
        var scores = [rnn_token_score](repeating: rnn_token_score(), count: max(text.count, 1))
        let told = capacity > UInt(scores.count) && capacity != UInt.max ? UInt(scores.count) : capacity
        var count: UInt = 0
        let nullScores = choices.byte() % 8 == 0, nullCount = choices.byte() % 8 == 0
        status = scores.withUnsafeMutableBufferPointer { scores in
            withUnsafeMutablePointer(to: &count) {
                rnnExplain(
                    model, textPointer, length, label, nullScores ? nil : scores.baseAddress, told,
                    nullCount ? nil : $0)
            }
        }
        if status == RNN_OK || status == RNN_ERROR_BUFFER_TOO_SMALL {
            precondition(lengthIsReal && label >= 0 && label < labels && count <= UInt(text.count), "explain: count")
        }
        if status == RNN_OK && !nullScores {  // a size query (NULL, 0) writes only the count
            var end = 0
            for score in scores.prefix(Int(count)) {
                precondition(score.start >= end && score.start < score.end && score.end <= text.count, "explain: span")
                precondition(score.score.isFinite, "explain: score")
                end = score.end
            }
        }
    case 7:  // rnn_logits_batch: rows whose softmax is rnn_classify_batch's probabilities' argmax
        let count = UInt(choices.byte() % 4)
        let capacity = choices.size(needed: Int(count) * labels)
        let real = Int(min(capacity, count * UInt(labels)))
        var logits = [Float](repeating: 0, count: max(real, 1))
        let texts = [UnsafePointer<CChar>?](repeating: textPointer, count: max(Int(count), 1))
        let lengths = [UInt](repeating: length, count: max(Int(count), 1))
        let nullLogits = choices.byte() % 8 == 0
        status = logits.withUnsafeMutableBufferPointer {
            rnnLogitsBatch(
                model, texts, lengths, count, nullLogits ? nil : $0.baseAddress,
                capacity == UInt.max ? capacity : UInt(real))
        }
        if status == RNN_OK, count > 0 {
            // The largest logit is the most probable label (up to ties the softmax's rounding makes).
            var probabilities = [Float](repeating: 0, count: labels)
            precondition(rnnClassify(model, textPointer, length, &probabilities, UInt(labels), nil) == RNN_OK)
            let row = logits.prefix(labels)
            precondition(row.allSatisfy(\.isFinite), "logits: not finite")
            precondition(probabilities[row.firstIndex(of: row.max()!)!] == probabilities.max()!, "logits' argmax")
        }
    case 8:  // rnn_classify_ids: the text's bytes as ids, in and out of the vocabulary, or a count no buffer holds
        let ids = text.map { Int32($0) - 8 }
        let huge = choices.byte() % 8 == 0
        var probabilities = [Float](repeating: 0, count: labels)
        status = ids.withUnsafeBufferPointer {
            rnnClassifyIDs(
                model, nullText ? nil : $0.baseAddress, huge ? UInt.max : UInt(ids.count), &probabilities,
                choices.size(needed: labels) < UInt(labels) ? UInt(labels - 1) : UInt(labels), nil)
        }
        if huge && !ids.isEmpty { precondition(status != RNN_OK, "ids: a count no buffer holds was accepted") }
        if status == RNN_OK { precondition(ids.allSatisfy { $0 >= 0 } && abs(probabilities.reduce(0, +) - 1) < 1e-4) }
    case 9:  // rnn_model_metadata and rnn_model_metadata_key: a fuzzer-chosen key (or index) and capacity
        let capacity = min(choices.size(needed: 16), 4096)
        var value = [CChar](repeating: 0, count: Int(capacity) + 1)
        var valueLength: UInt = 0
        let key = Array(text.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }) + [0]
        let nullValue = choices.byte() % 4 == 0
        let byKey = choices.byte() % 2 == 0, index = choices.size(needed: Int(rnnModelMetadataCount(model)))
        status = value.withUnsafeMutableBufferPointer { value in
            let buffer = nullValue ? nil : value.baseAddress
            return byKey
                ? rnnModelMetadata(model, nullText ? nil : key, buffer, capacity, &valueLength)
                : rnnModelMetadataKey(model, index, buffer, capacity, &valueLength)
        }
        if status == RNN_OK && !nullValue { precondition(strlen(value) == Int(valueLength), "metadata: length") }
    case 10:  // rnn_model_load_buffer_with_options: a real model, fuzzer-chosen options
        let kernels = ["avx2", "baseline", "avx512", "avx512-vnni", "sse9", ""][Int(choices.byte() % 6)]
        let size = [MemoryLayout<rnn_load_options>.size, 0, 4, 8, 16, Int.max, -1][Int(choices.byte() % 7)]
        status = kernels.withCString { name in
            var options = rnn_load_options(
                size: size, kernels: choices.byte() % 4 == 0 ? nil : name, threads: UInt32(choices.byte() % 4))
            var loaded: OpaquePointer?
            defer { rnnModelFree(loaded) }
            let nullOptions = choices.byte() % 8 == 0
            let status = withUnsafePointer(to: &options) {
                rnnModelLoadBufferWithOptions(
                    fixtureBytes.baseAddress, UInt(fixtureBytes.count), nullOptions ? nil : $0, &loaded)
            }
            precondition((status == RNN_OK) == (loaded != nil), "load: a handle exactly on success")
            return status
        }
    default:  // rnn_model_load_buffer: any bytes, any claimed size within them
        var loaded: OpaquePointer?
        let claimed = min(length, UInt(text.count))
        status = rnnModelLoadBuffer(nullText ? nil : UnsafeRawPointer(textPointer), claimed, &loaded)
        rnnModelFree(loaded)
    }
    precondition((0...7).contains(status.rawValue), "unknown status \(status.rawValue)")
    precondition(String(cString: rnnStatusString(status)) != "unknown status", "a status without a name")
    if status != RNN_OK { precondition(rnnLastError() != nil, "a failure without a message") }
    return 0
}
