import RNNInterop

/// libFuzzer entry: any bytes given to the safetensors reader, and then to the
/// PyTorch mapping, end in weights of the right count or an error naming the
/// problem — never a crash, a hang or an out-of-bounds read (ASan). The seeds
/// are the committed PyTorch fixtures (vocabulary 40, 3 classes), so mutations
/// reach the mapping behind the parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensorsReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let file = try? Safetensors(bytes: bytes) else { return 0 }
    for tensor in file.tensors {
        if let values = try? file.floats(tensor) {
            precondition(values.count == tensor.shape.reduce(1, *))
        }
    }
    if let (architecture, parameters) = try? PyTorchWeights.map(file, vocabularySize: 40, classes: 3, paddingID: 0) {
        precondition(architecture.problem == nil && parameters.allSatisfy(\.isFinite))
    }
    return 0
}
