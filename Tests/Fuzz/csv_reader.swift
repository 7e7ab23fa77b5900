import Foundation
import RNNData

/// libFuzzer entry: any bytes given to the CSV table reader (by header names
/// and by column indices) end in examples or a DataError naming the place —
/// never a crash, a hang or an out-of-bounds read (ASan).
let path = "/dev/shm/rnnkit-fuzz-\(getpid())-train.csv"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSVReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    for (text, label) in [(ColumnReference("text"), ColumnReference("label")), (.index(0), .index(1))] {
        guard
            let reader = try? CSVTableReader(
                path: path, split: "train", textColumn: text, labelColumn: label, hasHeader: nil)
        else { continue }
        var examples = 0
        _ = try? reader.read(progress: { _ in }) { example in
            precondition(example.split == "train")
            examples += 1
        }
    }
    return 0
}
