import Foundation

/// What one finished run left in its `metrics.jsonl`.
public struct SweepResult {
    public var run: SweepRun
    public var epochs: [EpochRecord]
    /// The test split, evaluated once for the selected epoch (nil without validation).
    public var test: TestRecord?

    public init(run: SweepRun, metrics: Data) throws {
        self.run = run
        epochs = []
        let decoder = JSONDecoder()
        for line in metrics.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            if let record = try? decoder.decode(TestRecord.self, from: Data(line)), record.kind == "test" {
                test = record
            } else {
                epochs.append(try decoder.decode(EpochRecord.self, from: Data(line)))
            }
        }
    }

    /// The epoch whose weights the run wrote.
    public var selected: EpochRecord? { epochs.first { $0.epoch == test?.epoch } ?? epochs.last }
}

/// Mean and sample standard deviation over seeds.
public struct Spread {
    public var mean: Double
    public var deviation: Double?
    /// How many runs measured it (0: none did, and the mean means nothing).
    public var count: Int

    public init(_ values: [Double]) {
        count = values.count
        mean = values.reduce(0, +) / Double(max(values.count, 1))
        if values.count > 1 {
            let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            deviation = (squares / Double(values.count - 1)).squareRoot()
        }
    }

    /// As a percentage: "87.12 ± 0.31".
    public var percent: String {
        String(format: "%.2f", 100 * mean) + (deviation.map { String(format: " ± %.2f", 100 * $0) } ?? "")
    }

    /// With `digits` decimals: "3.0 ± 1.4".
    public func plain(_ digits: Int) -> String {
        String(format: "%.\(digits)f", mean) + (deviation.map { String(format: " ± %.\(digits)f", $0) } ?? "")
    }
}

/// The report of a sweep: per axis, each value's figures over seeds, the
/// value validation picks, sentences computed from the figures, plots.
public struct SweepReport {
    public var sweep: SweepFile
    public var baseRecipe: Data
    public var results: [SweepResult]
    /// The command that reproduces a run, given its recipe path and output directory.
    public var command: (SweepRun) -> String

    public init(sweep: SweepFile, baseRecipe: Data, results: [SweepResult], command: @escaping (SweepRun) -> String) {
        self.sweep = sweep
        self.baseRecipe = baseRecipe
        self.results = results
        self.command = command
    }

    /// One row of an axis table: a value and its runs.
    public struct Row {
        public var value: String
        public var number: Double?
        public var results: [SweepResult]

        func spread(_ figure: (SweepResult) -> Double?) -> Spread { Spread(results.compactMap(figure)) }
        public var validationAccuracy: Spread { spread { $0.selected?.evaluation.accuracy } }
        public var validationMacroF1: Spread { spread { $0.selected?.evaluation.macroF1 } }
        public var testAccuracy: Spread { spread { $0.test?.evaluation.accuracy } }
        public var testMacroF1: Spread { spread { $0.test?.evaluation.macroF1 } }
        public var bestEpoch: Spread { spread { $0.selected.map { Double($0.epoch) } } }
        public var trainAccuracy: Spread { spread { $0.selected?.trainAccuracy } }
        public var secondsPerEpoch: Spread {
            spread { r in r.epochs.isEmpty ? nil : r.epochs.reduce(0) { $0 + $1.seconds } / Double(r.epochs.count) }
        }
        /// Thousands of token positions computed per training epoch.
        public var tokensPerEpoch: Spread { spread { $0.epochs.first?.tokens.map { Double($0) / 1e3 } } }
    }

    /// The table of one axis: its values in the sweep file's order. One at a
    /// time, a value's runs are those that set only it (or gave the same
    /// recipe: the base's value is the base); in a grid, every run with that
    /// value, the others averaged over.
    public func rows(_ axis: SweepFile.Axis) -> [Row] {
        axis.values.indices.map { index in
            let label = axis.label(index)
            let setting = SweepRun.Setting(axis: axis.name, value: label)
            let matching = results.filter { result in
                let all = [result.run.settings] + result.run.aliases
                switch sweep.variation {
                case .oneAtATime: return all.contains([setting])
                case .grid: return all.contains { $0.contains(setting) }
                }
            }
            return Row(value: label, number: axis.field != nil ? axis.values[index].number : nil, results: matching)
        }
    }

    /// Every configuration's row (a grid's axis tables average over the other
    /// axes; this one does not), in the order the runs were made.
    public func configurationRows() -> [Row] {
        var order: [String] = []
        var grouped: [String: [SweepResult]] = [:]
        for result in results {
            if grouped[result.run.configuration] == nil { order.append(result.run.configuration) }
            grouped[result.run.configuration, default: []].append(result)
        }
        return order.map { configuration in
            let runs = grouped[configuration]!
            let label = runs[0].run.settings.map { "\($0.axis) \($0.value)" }.joined(separator: ", ")
            return Row(value: label.isEmpty ? "base" : label, number: nil, results: runs)
        }
    }

    /// What the figures show, in words: the value validation picks (and its
    /// test figure), and how the test figure moves across the values.
    public func sentences(_ axis: SweepFile.Axis, _ rows: [Row]) -> [String] {
        let measured = rows.filter { !$0.results.isEmpty }
        guard let picked = measured.max(by: { $0.validationAccuracy.mean < $1.validationAccuracy.mean }) else {
            return ["No run of this axis has finished yet."]
        }
        func percent(_ value: Double) -> String { String(format: "%.2f %%", 100 * value) }
        var lines = [
            "Validation picks \(axis.name) \(picked.value): validation accuracy \(percent(picked.validationAccuracy.mean)), "
                + "test accuracy \(percent(picked.testAccuracy.mean))."
        ]
        guard measured.count > 1, let first = measured.first, let last = measured.last else { return lines }
        let lowest = measured.min { $0.testAccuracy.mean < $1.testAccuracy.mean }!
        let highest = measured.max { $0.testAccuracy.mean < $1.testAccuracy.mean }!
        let range = highest.testAccuracy.mean - lowest.testAccuracy.mean
        if measured.allSatisfy({ $0.number != nil || $0.value == "none" }) {
            var line =
                "Test accuracy goes from \(percent(first.testAccuracy.mean)) at \(first.value) "
                + "to \(percent(last.testAccuracy.mean)) at \(last.value)"
            // The first value from which every later one stays within half a point of the best.
            if let plateau = measured.indices.first(where: { start in
                measured[start...].allSatisfy { highest.testAccuracy.mean - $0.testAccuracy.mean <= 0.005 }
            }), plateau > 0, plateau < measured.count - 1 {
                line += ", and stays within 0.5 points of its best from \(measured[plateau].value) on"
            }
            lines.append(line + ".")
        } else {
            lines.append(
                "Test accuracy ranges from \(percent(lowest.testAccuracy.mean)) (\(lowest.value)) "
                    + "to \(percent(highest.testAccuracy.mean)) (\(highest.value)).")
        }
        // In a grid an axis's rows average over the other axes: their spread is not the seeds'.
        let deviations = measured.compactMap(\.testAccuracy.deviation)
        if sweep.variation == .oneAtATime, let widest = deviations.max(), widest > 0 {
            lines.append(
                range < 2 * widest
                    ? String(
                        format: "The spread across values (%.2f points) is within twice the seeds' (up to %.2f): "
                            + "this axis barely matters here.", 100 * range, 100 * widest)
                    : String(
                        format: "The spread across values (%.2f points) exceeds twice the seeds' (up to %.2f).",
                        100 * range, 100 * widest))
        }
        return lines
    }

    static let columns = [
        "value", "validation accuracy %", "validation macro-F1 %", "test accuracy %", "test macro-F1 %",
        "best epoch", "train accuracy %", "s / epoch", "k tokens / epoch", "runs",
    ]

    static func cells(_ row: Row) -> [String] {
        [
            row.value, row.validationAccuracy.percent, row.validationMacroF1.percent, row.testAccuracy.percent,
            row.testMacroF1.percent, row.bestEpoch.plain(1), row.trainAccuracy.percent, row.secondsPerEpoch.plain(2),
            row.results.contains { $0.epochs.first?.tokens != nil } ? row.tokensPerEpoch.plain(1) : "—",
            "\(row.results.count)",
        ]
    }

    var header: [String] {
        var lines = [
            "Sweep `\(sweep.name)`: base recipe `\(sweep.recipe)`, \(sweep.variation.rawValue), "
                + "seeds \(sweep.seeds.map(String.init).joined(separator: ", ")); \(results.count) runs finished.",
            "Every run trains on the training split minus its validation share, selects its epoch on validation, "
                + "and measures the test split once, for that epoch. Winners are chosen on validation only.",
        ]
        if let description = sweep.description { lines.insert(description, at: 0) }
        return lines
    }

    public func markdown() throws -> String {
        var out = "# \(sweep.name)\n\n" + header.joined(separator: "\n\n") + "\n\n"
        func table(_ rows: [Row]) -> String {
            "| " + Self.columns.joined(separator: " | ") + " |\n"
                + "|" + Self.columns.map { _ in "---" }.joined(separator: "|") + "|\n"
                + rows.map { "| " + Self.cells($0).joined(separator: " | ") + " |\n" }.joined()
        }
        if sweep.variation == .grid {
            out += "## Every configuration\n\n" + table(configurationRows()) + "\n"
        }
        for axis in sweep.axes {
            let rows = self.rows(axis)
            out += "## \(axis.name)\n\nBase: \(try sweep.baseLabel(of: axis, baseRecipe: baseRecipe)).\n\n"
            out += table(rows)
            out += "\n" + sentences(axis, rows).joined(separator: " ") + "\n\n"
        }
        out += "## Reproducing a run\n\n"
        for result in results where result.run.seed == sweep.seeds[0] {
            out += "- `\(result.run.name)`: `\(command(result.run))`\n"
        }
        return out
    }

    public func html() throws -> String {
        var body = "<h1>\(escape(sweep.name))</h1>\n" + header.map { "<p>\(escape($0))</p>" }.joined(separator: "\n")
        func table(_ rows: [Row]) -> String {
            "<table>\n<tr>" + Self.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
                + rows.map { "<tr>" + Self.cells($0).map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }.joined()
                + "</table>\n"
        }
        if sweep.variation == .grid {
            body += "\n<section>\n<h2>Every configuration</h2>\n" + table(configurationRows()) + "</section>"
        }
        for axis in sweep.axes {
            let rows = self.rows(axis)
            body +=
                "\n<section>\n<h2>\(escape(axis.name))</h2>\n"
                + "<p>Base: \(escape(try sweep.baseLabel(of: axis, baseRecipe: baseRecipe))).</p>\n" + table(rows)
            body += "<p>\(escape(sentences(axis, rows).joined(separator: " ")))</p>\n"
            body += "<div class=\"figures\">" + accuracyPlot(axis, rows) + learningCurves(axis, rows) + "</div>\n"
            body += "</section>"
        }
        body += "\n<h2>Reproducing a run</h2>\n<ul>\n"
        for result in results where result.run.seed == sweep.seeds[0] {
            body += "<li><code>\(escape(result.run.name))</code>: <code>\(escape(command(result.run)))</code></li>\n"
        }
        body += "</ul>"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(sweep.name))</title>
            <style>
            body { font-family: sans-serif; margin: 24px; max-width: 1100px; }
            table { border-collapse: collapse; margin: 8px 0; }
            th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            .figures { display: flex; flex-wrap: wrap; gap: 16px; }
            svg { font-size: 11px; }
            </style></head>
            <body>
            \(body)
            </body></html>

            """
    }

    // MARK: Plots (inline SVG)

    static let width = 480.0, height = 280.0, left = 52.0, right = 16.0, top = 28.0, bottom = 48.0

    /// Validation and test accuracy against the axis's values (evenly spaced), ± over seeds.
    func accuracyPlot(_ axis: SweepFile.Axis, _ rows: [Row]) -> String {
        let series: [(String, String, (Row) -> Spread)] = [
            ("validation", "#1f77b4", { $0.validationAccuracy }), ("test", "#d62728", { $0.testAccuracy }),
        ]
        let measured = rows.filter { !$0.results.isEmpty }
        let values = measured.flatMap { row in
            series.flatMap { s in
                [s.2(row).mean - (s.2(row).deviation ?? 0), s.2(row).mean + (s.2(row).deviation ?? 0)]
            }
        }
        let (low, high) = Self.range(values)
        let x = { (i: Int) in
            Self.left + (Double(i) + 0.5) * (Self.width - Self.left - Self.right) / Double(max(rows.count, 1))
        }
        let y = { (v: Double) in Self.top + (high - v) / (high - low) * (Self.height - Self.top - Self.bottom) }
        var svg = Self.frame(title: "accuracy by \(axis.name)", low: low, high: high, y: y)
        for (i, row) in rows.enumerated() {
            svg +=
                "<text x=\"\(Self.f(x(i)))\" y=\"\(Self.f(Self.height - Self.bottom + 16))\" text-anchor=\"middle\">\(escape(row.value))</text>"
        }
        for (_, color, figure) in series {
            let points = rows.enumerated().filter { !$0.element.results.isEmpty }.map {
                (x($0.offset), figure($0.element))
            }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\""
                + points.map { "\(Self.f($0.0)),\(Self.f(y($0.1.mean)))" }.joined(separator: " ") + "\"/>"
            for (px, spread) in points {
                svg += "<circle cx=\"\(Self.f(px))\" cy=\"\(Self.f(y(spread.mean)))\" r=\"3\" fill=\"\(color)\"/>"
                if let d = spread.deviation {
                    svg +=
                        "<line x1=\"\(Self.f(px))\" x2=\"\(Self.f(px))\" y1=\"\(Self.f(y(spread.mean - d)))\" "
                        + "y2=\"\(Self.f(y(spread.mean + d)))\" stroke=\"\(color)\"/>"
                }
            }
        }
        svg += Self.legend(series.map { ($0.0, $0.1) })
        svg +=
            "<text x=\"\(Self.f(Self.width / 2))\" y=\"\(Self.f(Self.height - 8))\" text-anchor=\"middle\">\(escape(axis.name))</text>"
        return svg + "</svg>"
    }

    /// Validation accuracy per epoch for each value (the mean over seeds).
    func learningCurves(_ axis: SweepFile.Axis, _ rows: [Row]) -> String {
        let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
        let curves: [(String, String, [Double])] = rows.enumerated().compactMap { i, row in
            let longest = row.results.map(\.epochs.count).max() ?? 0
            guard longest > 0 else { return nil }
            let means = (0..<longest).map { e in
                Spread(row.results.compactMap { e < $0.epochs.count ? $0.epochs[e].evaluation.accuracy : nil }).mean
            }
            return (row.value, palette[i % palette.count], means)
        }
        let epochs = max(curves.map(\.2.count).max() ?? 1, 2)
        let (low, high) = Self.range(curves.flatMap(\.2))
        let x = { (e: Int) in Self.left + Double(e) / Double(epochs - 1) * (Self.width - Self.left - Self.right) }
        let y = { (v: Double) in Self.top + (high - v) / (high - low) * (Self.height - Self.top - Self.bottom) }
        var svg = Self.frame(title: "validation accuracy per epoch, by \(axis.name)", low: low, high: high, y: y)
        for e in 0..<epochs {
            svg +=
                "<text x=\"\(Self.f(x(e)))\" y=\"\(Self.f(Self.height - Self.bottom + 16))\" text-anchor=\"middle\">\(e + 1)</text>"
        }
        for (_, color, means) in curves {
            svg +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\""
                + means.enumerated().map { "\(Self.f(x($0.offset))),\(Self.f(y($0.element)))" }.joined(separator: " ")
                + "\"/>"
        }
        svg += Self.legend(curves.map { ($0.0, $0.1) })
        svg +=
            "<text x=\"\(Self.f(Self.width / 2))\" y=\"\(Self.f(Self.height - 8))\" text-anchor=\"middle\">epoch</text>"
        return svg + "</svg>"
    }

    /// The plot's box, title and a y axis in percent, five ticks.
    static func frame(title: String, low: Double, high: Double, y: (Double) -> Double) -> String {
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
            + "viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">"
            + "<title>\(escape(title))</title>"
            + "<text x=\"\(f(width / 2))\" y=\"16\" text-anchor=\"middle\" font-weight=\"bold\">\(escape(title))</text>"
            + "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width - left - right))\" "
            + "height=\"\(f(height - top - bottom))\" fill=\"none\" stroke=\"#888\"/>"
        for tick in 0...4 {
            let value = low + Double(tick) / 4 * (high - low)
            svg +=
                "<text x=\"\(f(left - 4))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">"
                + String(format: "%.1f", 100 * value) + "</text>"
        }
        return svg
    }

    static func legend(_ entries: [(String, String)]) -> String {
        entries.enumerated().map { i, entry in
            let ly = top + 12 + Double(i) * 14
            return
                "<rect x=\"\(f(width - right - 110))\" y=\"\(f(ly - 8))\" width=\"10\" height=\"10\" fill=\"\(entry.1)\"/>"
                + "<text x=\"\(f(width - right - 96))\" y=\"\(f(ly + 1))\">\(escape(entry.0))</text>"
        }.joined()
    }

    /// The values' range with a margin; a flat or empty series gets a span of one point.
    static func range(_ values: [Double]) -> (Double, Double) {
        guard let low = values.min(), let high = values.max() else { return (0, 1) }
        let margin = max((high - low) * 0.1, 0.005)
        return (low - margin, high + margin)
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
