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
            Reads FILEs (or standard input when none is given) as a stream and writes, in input order, one \
            line per text as soon as its batch is done (a batch ends when full, at the end of the input, or \
            100 ms after its first line when the input pauses, so `tail -f log | classify` answers), TSV with a header \
            (label, then one probability column per label; with --top-k, label_1 p_1 … label_K p_K) or, with \
            --output jsonl, one JSON object per text. The model runs as librnninfer runs it. --explain N adds \
            the text with the N tokens that pushed most towards the predicted label in [brackets] (TSV column \
            "explanation"; JSON fields "explanation", with each of those tokens' bytes and score, and "marked"). \
            A multi-label model (train --loss ova) gives each label's own probability; its label column holds \
            every label at or above the model's threshold, comma-separated (JSON: "labels", besides the most \
            probable "label").
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

    @Option(help: "With --jsonl: a field carried through to the output as \"id\" (TSV: a first column).")
    var idField: String?

    @Option(
        name: .customLong("files"),
        help: """
            Classify one document per file instead of one per line: every regular file in a directory, or the \
            files a glob pattern matches (quote it); the path is the id.
            """)
    var documents: String?

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
        if idField != nil && !jsonl { throw ValidationError("--id-field needs --jsonl") }
        if documents != nil && (jsonl || !files.isEmpty) {
            throw ValidationError("--files reads whole files: no FILE arguments and no --jsonl")
        }
    }

    public func run() throws {
        try reportingErrors {
            let classifier = try loadClassifier(model)
            let labels = classifier.labels
            if let topK, topK > labels.count {
                throw ValidationError("--top-k must be at most \(labels.count), the model's label count")
            }
            let identified = idField != nil || documents != nil
            let feed = try documents.map { try LineFeed(documents: $0) } ?? LineFeed(files: files)
            var out = FileHandleOutput()
            if output == .tsv {
                out.write(
                    ((identified ? ["id"] : [])
                        + (topK.map { k in (1...k).map { "label_\($0)\tp_\($0)" } } ?? ["label"]
                            + labels.map { "p_\($0)" })
                        + (explain == nil ? [] : ["explanation"])).joined(separator: "\t") + "\n")
                out.flush()
            }
            let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
            // A round of one batch per thread at a time keeps memory bounded on large inputs; a round is cut
            // short when the input pauses, so every line gets its answer within 100 ms of arriving.
            while let round = try feed.next(limit: batchSize * threadCount, pause: 0.1) {
                let texts = try round.map(text)
                let batches = stride(from: 0, to: texts.count, by: batchSize).map {
                    $0..<min($0 + batchSize, texts.count)
                }
                var results = [[String]](repeating: [], count: batches.count)
                let lock = NSLock()
                DispatchQueue.concurrentPerform(iterations: batches.count) { b in
                    var tokenizer = TokenizerWorkspace()
                    let sequences = batches[b].map { i in
                        withBytes(texts[i].text) { classifier.sequence($0, workspace: &tokenizer)[...] }
                    }
                    let probabilities = classifier.probabilities(sequences, workspace: Network.Workspace())
                    let explanationWorkspace = Classifier.ExplanationWorkspace()
                    let lines = batches[b].enumerated().map { k, i in
                        let row = Array(probabilities[k * labels.count..<(k + 1) * labels.count])
                        let marks = explain.map { count in
                            withBytes(texts[i].text) {
                                let scores = classifier.explain(
                                    $0, label: argmax(row), workspace: explanationWorkspace)
                                return Marks(text: Array($0), scores: scores, count: count)
                            }
                        }
                        return line(
                            row, labels: labels, threshold: classifier.threshold, marks: marks, id: texts[i].id)
                    }
                    lock.lock()
                    results[b] = lines
                    lock.unlock()
                }
                for lines in results { for text in lines { out.write(text) } }
                out.flush()
            }
        }
    }

    /// A line's text, and its id as a JSON value when one is carried through.
    func text(_ line: LineFeed.Line) throws -> (text: String, id: String?) {
        if documents != nil { return (line.text, json(line.source)) }
        guard jsonl else { return (line.text, nil) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.text.utf8)) as? [String: Any] else {
            throw DataError(
                file: line.source, place: "line \(line.number)", "not a JSON object (expected one per line)")
        }
        guard let value = object[textField] as? String else {
            throw DataError(file: line.source, place: "line \(line.number)", "no string field \"\(textField)\"")
        }
        guard let idField else { return (value, nil) }
        guard let id = object[idField] else {
            throw DataError(file: line.source, place: "line \(line.number)", "no field \"\(idField)\" (--id-field)")
        }
        let encoded = try JSONSerialization.data(
            withJSONObject: id, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        return (value, String(decoding: encoded, as: UTF8.self))
    }

    /// One output line for one text's probabilities (and its explanation). A multi-label model's
    /// (`threshold` set) label column holds every label at or above it, comma-separated (none: empty),
    /// and its JSON a "labels" array besides the most probable "label".
    func line(_ probabilities: [Float], labels: [String], threshold: Float?, marks: Marks?, id: String?) -> String {
        let chosen = threshold.map { t in labels.indices.filter { probabilities[$0] >= t } }
        let labelSet = chosen.map { ",\"labels\":[\($0.map { json(labels[$0]) }.joined(separator: ","))]" } ?? ""
        let ranked = labels.indices.sorted {
            probabilities[$0] != probabilities[$1] ? probabilities[$0] > probabilities[$1] : $0 < $1
        }
        func number(_ p: Float) -> String { String(format: "%.6f", p) }
        // TSV's id column holds a string id as it is, tabs and newlines made spaces; any other id as JSON.
        let idColumn: [String] =
            id.map { id in
                let text =
                    (try? JSONSerialization.jsonObject(with: Data(id.utf8), options: .fragmentsAllowed)) as? String
                    ?? id
                return [String(text.map { "\t\n\r".contains($0) ? " " : $0 })]
            } ?? []
        let idField = id.map { "\"id\":\($0)," } ?? ""
        switch (output, topK) {
        case (.tsv, nil):
            let label = chosen.map { $0.map { labels[$0] }.joined(separator: ",") } ?? labels[argmax(probabilities)]
            return (idColumn + [label] + probabilities.map(number) + tsvExplanation(marks))
                .joined(separator: "\t") + "\n"
        case (.tsv, let k?):
            return
                (idColumn + ranked.prefix(k).map { "\(labels[$0])\t\(number(probabilities[$0]))" }
                + tsvExplanation(marks)).joined(separator: "\t") + "\n"
        case (.jsonl, nil):
            let fields = labels.indices.map { "\(json(labels[$0])):\(number(probabilities[$0]))" }
            return
                "{\(idField)\"label\":\(json(labels[argmax(probabilities)]))\(labelSet),\"probabilities\":{\(fields.joined(separator: ","))}\(jsonExplanation(marks))}\n"
        case (.jsonl, let k?):
            let top = ranked.prefix(k).map { "{\"label\":\(json(labels[$0])),\"p\":\(number(probabilities[$0]))}" }
            return
                "{\(idField)\"label\":\(json(labels[ranked[0]]))\(labelSet),\"top\":[\(top.joined(separator: ","))]\(jsonExplanation(marks))}\n"
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
            decoding: try! JSONSerialization.data(
                withJSONObject: string, options: [.fragmentsAllowed, .withoutEscapingSlashes]), as: UTF8.self)
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
