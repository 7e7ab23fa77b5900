import ArgumentParser
import Foundation
import RNNBinary
import RNNCommandLine
import RNNModel
import RNNSupport
import RNNText

/// A model checked on a file from the shell before it is embedded: texts in
/// (lines, or JSON lines), labels and probabilities out, in input order.
public struct ClassifyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify texts with a model file: one text per input line, a result per output line.",
        discussion: """
            Reads FILEs (or standard input when none is given) and writes, in input order, TSV with a header \
            (label, then one probability column per label; with --top-k, label_1 p_1 … label_K p_K) or, with \
            --output jsonl, one JSON object per text. The model runs as librnninfer runs it. --explain N adds \
            the text with the N tokens that pushed most towards the predicted label in [brackets] (TSV column \
            "explanation"; JSON fields "explanation", with each of those tokens' bytes and score, and "marked").
            """,
        version: rnnkitVersion.description)

    @Option(help: "A model file written by train.")
    var model: String

    @Argument(help: "Text files, one text per line (default: standard input).")
    var files: [String] = []

    @Flag(help: "Input lines are JSON objects; the text is in --text-field.")
    var jsonl = false

    @Option(help: "With --jsonl: the field holding the text.")
    var textField = "text"

    @Option(help: "Output: tsv or jsonl.")
    var output: OutputFormat = .tsv

    @Option(help: "Write the K most likely labels and their probabilities instead of every label's.")
    var topK: Int?

    @Option(help: "Mark the N tokens that pushed most towards the predicted label (gradient × input, as rnn_explain).")
    var explain: Int?

    @Option(help: "Texts per forward pass.")
    var batchSize = 256

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    enum OutputFormat: String, ExpressibleByArgument { case tsv, jsonl }

    public init() {}

    public func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if let explain, explain < 1 { throw ValidationError("--explain must be at least 1") }
    }

    public func run() throws {
        try reportingErrors {
            let classifier = try loadClassifier(model)
            let labels = classifier.labels
            if let topK, topK > labels.count {
                throw ValidationError("--top-k must be at most \(labels.count), the model's label count")
            }
            let texts = try readTexts()
            var out = FileHandleOutput()
            if output == .tsv {
                out.write(
                    ((topK.map { k in (1...k).map { "label_\($0)\tp_\($0)" } } ?? ["label"] + labels.map { "p_\($0)" })
                        + (explain == nil ? [] : ["explanation"])).joined(separator: "\t") + "\n")
            }
            let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
            var start = 0
            // A round of one batch per thread at a time keeps memory bounded on large inputs.
            while start < texts.count {
                let batches = stride(from: start, to: min(texts.count, start + batchSize * threadCount), by: batchSize)
                    .map { $0..<min($0 + batchSize, texts.count) }
                var results = [[String]](repeating: [], count: batches.count)
                let lock = NSLock()
                DispatchQueue.concurrentPerform(iterations: batches.count) { b in
                    var tokenizer = TokenizerWorkspace()
                    let sequences = batches[b].map { i in
                        withBytes(texts[i]) { classifier.sequence($0, workspace: &tokenizer)[...] }
                    }
                    let probabilities = classifier.probabilities(sequences, workspace: Network.Workspace())
                    let explanationWorkspace = Classifier.ExplanationWorkspace()
                    let lines = batches[b].enumerated().map { k, i in
                        let row = Array(probabilities[k * labels.count..<(k + 1) * labels.count])
                        let marks = explain.map { count in
                            withBytes(texts[i]) {
                                let scores = classifier.explain(
                                    $0, label: argmax(row), workspace: explanationWorkspace)
                                return Marks(text: Array($0), scores: scores, count: count)
                            }
                        }
                        return line(row, labels: labels, marks: marks)
                    }
                    lock.lock()
                    results[b] = lines
                    lock.unlock()
                }
                for lines in results { for text in lines { out.write(text) } }
                start = batches.last!.upperBound
            }
            out.flush()
        }
    }

    /// Every input line's text, in order.
    func readTexts() throws -> [String] {
        var texts: [String] = []
        let sources: [(name: String, data: Data)] =
            files.isEmpty
            ? [("<stdin>", FileHandle.standardInput.readDataToEndOfFile())]
            : try files.map { path in
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw DataError(file: path, "cannot read the file")
                }
                return (path, data)
            }
        for (name, data) in sources {
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }
            for (number, line) in lines.enumerated() {
                let text = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
                guard jsonl else {
                    texts.append(text)
                    continue
                }
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    throw DataError(
                        file: name, place: "line \(number + 1)", "not a JSON object (expected one per line)")
                }
                guard let value = object[textField] as? String else {
                    throw DataError(file: name, place: "line \(number + 1)", "no string field \"\(textField)\"")
                }
                texts.append(value)
            }
        }
        return texts
    }

    /// One output line for one text's probabilities (and its explanation).
    func line(_ probabilities: [Float], labels: [String], marks: Marks?) -> String {
        let ranked = labels.indices.sorted {
            probabilities[$0] != probabilities[$1] ? probabilities[$0] > probabilities[$1] : $0 < $1
        }
        func number(_ p: Float) -> String { String(format: "%.6f", p) }
        switch (output, topK) {
        case (.tsv, nil):
            return ([labels[argmax(probabilities)]] + probabilities.map(number) + tsvExplanation(marks))
                .joined(separator: "\t") + "\n"
        case (.tsv, let k?):
            return (ranked.prefix(k).map { "\(labels[$0])\t\(number(probabilities[$0]))" } + tsvExplanation(marks))
                .joined(separator: "\t") + "\n"
        case (.jsonl, nil):
            let fields = labels.indices.map { "\(json(labels[$0])):\(number(probabilities[$0]))" }
            return
                "{\"label\":\(json(labels[argmax(probabilities)])),\"probabilities\":{\(fields.joined(separator: ","))}\(jsonExplanation(marks))}\n"
        case (.jsonl, let k?):
            let top = ranked.prefix(k).map { "{\"label\":\(json(labels[$0])),\"p\":\(number(probabilities[$0]))}" }
            return
                "{\"label\":\(json(labels[ranked[0]])),\"top\":[\(top.joined(separator: ","))]\(jsonExplanation(marks))}\n"
        }
    }

    /// The TSV column: the marked text, its tabs made spaces so the columns stay put.
    func tsvExplanation(_ marks: Marks?) -> [String] {
        marks.map { [$0.markedText.replacingOccurrences(of: "\t", with: " ")] } ?? []
    }

    func jsonExplanation(_ marks: Marks?) -> String {
        guard let marks else { return "" }
        let tokens = marks.top.map {
            "{\"token\":\(json(String(decoding: marks.text[$0.span], as: UTF8.self))),\"start\":\($0.span.lowerBound),"
                + "\"end\":\($0.span.upperBound),\"score\":\(String(format: "%.6g", $0.score))}"
        }
        return ",\"explanation\":[\(tokens.joined(separator: ","))],\"marked\":\(json(marks.markedText))"
    }

    func json(_ string: String) -> String {
        String(
            decoding: try! JSONSerialization.data(withJSONObject: string, options: [.fragmentsAllowed]), as: UTF8.self)
    }
}

/// A text's tokens with the highest scores for its predicted label, most first.
struct Marks {
    let text: [UInt8]
    let top: [TokenScore]

    init(text: [UInt8], scores: [TokenScore], count: Int) {
        self.text = text
        top = Array(
            scores.sorted { $0.score != $1.score ? $0.score > $1.score : $0.span.lowerBound < $1.span.lowerBound }
                .prefix(count))
    }

    /// The text with each of `top` in [brackets].
    var markedText: String {
        var bytes: [UInt8] = []
        let marked = top.map(\.span).sorted { $0.lowerBound < $1.lowerBound }
        var next = 0
        for span in marked {
            bytes += text[next..<span.lowerBound] + Array("[".utf8) + text[span] + Array("]".utf8)
            next = span.upperBound
        }
        return String(decoding: bytes + text[next...], as: UTF8.self)
    }
}

/// The UTF-8 bytes of `text` for the tokenizer.
func withBytes<R>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    var text = text
    return text.withUTF8(body)
}

/// Standard output in large writes.
struct FileHandleOutput {
    private var buffer = ""

    mutating func write(_ text: String) {
        buffer += text
        if buffer.utf8.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        FileHandle.standardOutput.write(Data(buffer.utf8))
        buffer = ""
    }
}
