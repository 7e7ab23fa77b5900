import Foundation
import RNNData

/// libFuzzer entry: any bytes given to every text reader — CSV (columns by
/// name and by index), TSV without quoting, semicolons, JSON lines with nested
/// paths, fastText — plain or, when the bytes say so, gzip or zstd, and as
/// rows in memory (librnnkit's MemoryReader: a line's text and label split at
/// its first tab), word vectors (`--pretrained-vectors`) — end in examples or a
/// DataError naming the place: never a crash, a hang or an out-of-bounds read (ASan).
let path = "/dev/shm/rnnkit-fuzz-\(getpid())-train.data"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTextReaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    let readers: [() throws -> ExampleReader] = [
        {
            try CSVTableReader(
                path: path, split: "train", textColumn: .name("text"), labelColumn: .name("label"), hasHeader: nil)
        },
        {
            try CSVTableReader(
                path: path, split: "train", textColumns: [.index(0), .index(2)], labelColumn: .index(1),
                hasHeader: false)
        },
        {
            try CSVTableReader(
                path: path, split: "train", textColumns: [.index(1)], labelColumn: .index(0), hasHeader: false,
                delimiter: 0x09, quoted: false)
        },
        {
            try CSVTableReader(
                path: path, split: "train", textColumns: [.index(0)], labelColumn: .index(1), hasHeader: false,
                delimiter: UInt8(ascii: ";"))
        },
        { try JSONLinesReader(path: path, split: "train", textFields: ["text", "meta.title"], labelField: "label") },
        { try JSONLinesReader(path: path, split: "train", textFields: ["a.0.b"], labelField: "y") },
        { try FastTextReader(path: path, split: "train") },
    ]
    let rows = UnsafeBufferPointer(start: data, count: size).split(separator: 0x0A, omittingEmptySubsequences: false)
        .enumerated().map { index, line in
            let tab = line.firstIndex(of: 0x09) ?? line.endIndex
            return MemoryReader.Row(
                text: Array(line[..<tab]), label: Array(line[tab...].dropFirst()),
                split: ["train", "validation", "test"][index % 3])
        }
    let memory = MemoryReader(description: "rows", rows: rows)
    _ = try? memory.read(progress: { _ in }) { example in precondition(!example.split.isEmpty) }
    for dimension in [1, 3] {
        _ = try? PretrainedVectors(
            path: path, vocabulary: ["<pad>", "good", "film", "new york", "é"], dimension: dimension, skipping: [0])
    }
    for make in readers {
        guard let reader = try? make() else { continue }
        _ = try? reader.read(progress: { _ in }) { example in
            precondition(example.split == "train")
        }
    }
    return 0
}
