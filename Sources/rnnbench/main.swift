import Foundation
import RNNData
import RNNText

// Micro-benchmarks behind Tools/bench. Usage:
//   rnnbench wordpiece VOCAB CSV...   single-thread WordPiece tokens/s on the CSV texts
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("rnnbench: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments.dropFirst()
guard let command = arguments.first else { fail("usage: rnnbench wordpiece VOCAB CSV...") }
switch command {
case "wordpiece":
    let rest = Array(arguments.dropFirst())
    guard rest.count >= 2 else { fail("usage: rnnbench wordpiece VOCAB CSV...") }
    do {
        let vocabulary = try Vocabulary(fileBytes: try MappedFile(path: rest[0]).contents)
        let tokenizer = try WordPieceTokenizer(vocabulary: vocabulary)
        var texts: [[UInt8]] = []
        for path in rest.dropFirst() {
            try AGNewsCSVReader(path: path, split: "train").read(progress: { _ in }) { texts.append($0.text) }
        }
        let bytes = texts.reduce(0) { $0 + $1.count }
        var ids: [Int32] = []
        var scratch = TokenizerScratch()
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<5 {
            tokens = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for text in texts {
                ids.removeAll(keepingCapacity: true)
                text.withUnsafeBufferPointer { tokenizer.encode($0, into: &ids, scratch: &scratch) }
                tokens += ids.count + 2
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print(String(format: "rnnkit wordpiece: %d texts, %.1f MB, %d tokens (with [CLS]/[SEP]) in %.3f s: %.2f M tokens/s, %.1f MB/s (best of 5, 1 thread)",
                     texts.count, Double(bytes) / 1e6, tokens, best, Double(tokens) / best / 1e6, Double(bytes) / best / 1e6))
    } catch {
        fail("\(error)")
    }
default:
    fail("unknown benchmark \(command)")
}
