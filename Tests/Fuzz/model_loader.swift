import RNNBinary
import RNNModel

/// libFuzzer entry: any bytes given to the model loader must end in a model or
/// a ModelFileError, never a crash, a hang or an out-of-bounds read (ASan).
/// Each input is tried as given, and again with its size field and CRC
/// repaired, so that mutations reach the parsers behind the checksum.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    load(UnsafeRawBufferPointer(start: data, count: size))
    if size >= 68 {
        var repaired = Array(UnsafeBufferPointer(start: data, count: size))
        withUnsafeBytes(of: UInt64(size).littleEndian) { for i in 0..<8 { repaired[16 + i] = $0[i] } }
        let crc = repaired.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<size - 4])) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { repaired[size - 4 + i] = $0[i] } }
        repaired.withUnsafeBytes { load($0) }
    }
    return 0
}

func load(_ bytes: UnsafeRawBufferPointer) {
    guard let file = try? ModelFile(bytes: bytes), let classifier = try? Classifier(file: file) else { return }
    // A model that loads must also classify.
    var box = TokenizerWorkspaceBox()
    let text: [UInt8] = Array("a fuzzed model still classifies".utf8)
    let sequence = text.withUnsafeBufferPointer { classifier.sequence($0, workspace: &box.workspace) }
    let probabilities = classifier.probabilities([sequence[...]], workspace: Network.Workspace())
    precondition(probabilities.count == classifier.labels.count)
}
