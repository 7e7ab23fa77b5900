import Foundation
import RNNBinary
import RNNCommandLine
import RNNData
import RNNModel
import RNNSupport
import RNNText
import RNNTrain

enum Evaluate {
    static func run(model path: String, dataset: PreparedDataset, split: String, threads: Int, predictions: String?)
        throws
    {
        let classifier = try loadClassifier(path)
        let manifest = dataset.manifest
        let (shard, data) = try Scoring.examples(for: classifier, path: path, dataset: dataset, split: split)
        useSingleThreadedBLAS()
        let (metrics, probabilities) = Scoring.evaluate(classifier, data, threads: threads)
        if let predictions {
            let C = classifier.labels.count
            var tsv = "source\tlabel\tpredicted\t" + classifier.labels.map { "p_\($0)" }.joined(separator: "\t") + "\n"
            for i in 0..<data.count {
                let row = probabilities[i * C..<(i + 1) * C]
                let predicted = argmax(row)
                tsv +=
                    "\(shard.sources[i])\t\(shard.labels[i])\t\(predicted)\t"
                    + row.map { String(format: "%.9g", $0) }.joined(separator: "\t") + "\n"
            }
            try writeAtomically(Array(tsv.utf8), to: URL(fileURLWithPath: predictions))
        }
        print(
            String(
                format: "%@ on %@ %@: loss %.4f accuracy %.2f%% macro-F1 %.4f (%d examples)", path, manifest.dataset,
                split,
                metrics.loss, 100 * metrics.accuracy, metrics.macroF1, metrics.examples))
        print(metrics.table)
    }
}

enum InspectModel {
    static func run(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "not found") }
        let file: ModelFile
        do { file = try Array(data).withUnsafeBytes { try ModelFile(bytes: $0) } } catch {
            throw DataError(file: path, "\(error)")
        }
        print(
            "\(path): rnnkit model format \(file.version.major).\(file.version.minor), \(data.count) bytes, checksum ok"
        )
        print("metadata:")
        for (key, value) in file.metadata {
            let shown: String
            switch value {
            case .int(let v): shown = "\(v)"
            case .double(let v): shown = "\(v)"
            case .bool(let v): shown = "\(v)"
            case .string(let v): shown = v.count > 300 ? String(v.prefix(300)) + "…" : v
            case .strings(let v):
                shown = "[\(v.count)] " + v.prefix(8).joined(separator: " ") + (v.count > 8 ? " …" : "")
            }
            print("  \(key) = \(shown)")
        }
        print("tensors:")
        for tensor in file.tensors {
            print(
                "  \(tensor.name)  \(tensor.int8 == nil ? "f32" : "int8") \(tensor.shape)  \(tensor.int8?.count ?? tensor.values.count) values"
            )
        }
        do { _ = try Classifier(file: file); print("valid: yes") } catch { print("valid: no — \(error)") }
    }
}

enum Quantize {
    /// Writes `path`'s model with int8 matrices to `out`, after measuring both on `split`:
    /// refused (nothing written) when accuracy drops by more than `maxDrop` points, unless `force`.
    static func run(
        model path: String, dataset: PreparedDataset, split: String, out: String, maxDrop: Double, force: Bool,
        threads: Int
    ) throws {
        let classifier = try loadClassifier(path)
        guard !classifier.isQuantized else { throw DataError(file: path, "is already quantized") }
        let (_, data) = try Scoring.examples(for: classifier, path: path, dataset: dataset, split: split)
        useSingleThreadedBLAS()
        var file = classifier.quantizedFile()
        let quantized: Classifier
        do { quantized = try Classifier(file: file) } catch { throw DataError(file: path, "quantized: \(error)") }
        let (reference, referenceProbabilities) = Scoring.evaluate(classifier, data, threads: threads)
        let (result, probabilities) = Scoring.evaluate(quantized, data, threads: threads)
        let C = classifier.labels.count
        var agreement = 0
        for i in 0..<data.count {
            let rows = i * C..<(i + 1) * C
            if argmax(referenceProbabilities[rows]) == argmax(probabilities[rows]) { agreement += 1 }
        }
        let largestChange = zip(referenceProbabilities, probabilities).map { abs($0 - $1) }.max() ?? 0
        let drop = 100 * (reference.accuracy - result.accuracy)
        let measured = String(
            format:
                #"{"split":"%@","examples":%d,"f32":{"accuracy":%.6f,"macro_f1":%.6f},"int8":{"accuracy":%.6f,"macro_f1":%.6f},"argmax_agreement":%.6f,"max_abs_dp":%.6g}"#,
            split, data.count, reference.accuracy, reference.macroF1, result.accuracy, result.macroF1,
            Double(agreement) / Double(max(data.count, 1)), largestChange)
        file.set(
            "quantization.method",
            .string(
                "int8 with one f32 scale per output unit (max |w| / 127): per row, per column of the embedding; biases f32"
            ))
        file.set("quantization.evaluation", .string(measured))
        let bytes = { (file: ModelFile) in file.encoded().count }
        let summary = String(
            format: """
                %@ split (%d examples)     f32        int8
                  accuracy                  %.2f%%     %.2f%%   (%+.2f points)
                  macro-F1                  %.4f     %.4f   (%+.4f)
                  argmax agreement          %.2f%% (%d differ)
                  max |Δp|                  %.4g
                  file bytes                %d    %d   (%.1f%%)
                """, split, data.count, 100 * reference.accuracy, 100 * result.accuracy, -drop,
            reference.macroF1, result.macroF1, result.macroF1 - reference.macroF1,
            100 * Double(agreement) / Double(max(data.count, 1)), data.count - agreement, largestChange,
            bytes(classifier.file), bytes(file), 100 * Double(bytes(file)) / Double(bytes(classifier.file)))
        print(summary)
        guard drop <= maxDrop || force else {
            throw DataError(
                file: path,
                String(
                    format:
                        "int8 loses %.2f accuracy points on %@, more than --max-drop %.2f: not written (--force writes it)",
                    drop, split, maxDrop))
        }
        try writeAtomically(file.encoded(), to: URL(fileURLWithPath: out))
        print("wrote \(out)")
    }
}
