import Foundation
import RNNModel
import RNNTrain
import TestSupport
import XCTest

/// The sweep: expansion of a sweep file into runs, and `train sweep` as a
/// user runs it on a small generated dataset (prep cache, resume, report).
final class SweepTests: XCTestCase {
    let baseRecipe = Data(
        #"{"name":"csv","dataset":"csv","tokenizer":{"kind":"word","vocabularySize":30},"model":{"cell":"gru"},"training":{"epochs":2}}"#
            .utf8)

    func sweep(_ variation: String, axes: String, seeds: String = "[1, 2]") throws -> SweepFile {
        let json = """
            {"name": "s", "recipe": "csv", "prep": ["csv"], "seeds": \(seeds), "variation": "\(variation)",
             "base": {"training.epochs": 3}, "axes": \(axes)}
            """
        return try JSONDecoder().decode(SweepFile.self, from: Data(json.utf8))
    }

    func recipe(_ run: SweepRun) throws -> [String: JSONValue] {
        guard case .object(let fields) = try JSONValue(json: run.recipe) else { throw XCTSkip("not an object") }
        return fields
    }

    func testOneAtATimeVariesEachAxisAroundTheBaseAndMergesTheBaseValue() throws {
        let file = try sweep(
            "one-at-a-time",
            axes: """
                [{"name": "vocabulary", "field": "tokenizer.vocabularySize", "values": [10, 30, 50]},
                 {"name": "padding", "values": [{"lengths.padding": "pre", "lengths.maxLength": 8},
                                                {"lengths.padding": "none", "lengths.maxLength": null}]}]
                """)
        let runs = try file.expand(baseRecipe: baseRecipe)
        // base, vocabulary 10 and 50 (30 is the base's), two paddings; each with two seeds.
        XCTAssertEqual(
            runs.map(\.name),
            [
                "base,seed=1", "base,seed=2", "vocabulary=10,seed=1", "vocabulary=10,seed=2",
                "vocabulary=50,seed=1", "vocabulary=50,seed=2", "padding=8-pre,seed=1", "padding=8-pre,seed=2",
                "padding=none-none,seed=1", "padding=none-none,seed=2",
            ])
        let pre = try recipe(runs[6])
        guard case .object(let lengths)? = pre["lengths"], case .object(let training)? = pre["training"] else {
            return XCTFail("sections missing: \(pre)")
        }
        XCTAssertEqual(lengths["padding"], .string("pre"))
        XCTAssertEqual(lengths["maxLength"], .number(8))
        XCTAssertEqual(training["epochs"], .number(3), "the sweep's base settings apply to every run")
        XCTAssertEqual(training["seed"], .number(1))
        XCTAssertEqual(try file.baseLabel(of: file.axes[0], baseRecipe: baseRecipe), "30")
        XCTAssertEqual(runs[0].aliases, [[.init(axis: "vocabulary", value: "30")]], "30 is the base's vocabulary")
    }

    func testGridTakesEveryCombination() throws {
        let file = try sweep(
            "grid",
            axes: """
                [{"name": "cell", "field": "model.cell", "values": ["rnn", "lstm", "gru"]},
                 {"name": "hidden", "field": "model.hidden", "values": [8, 16]}]
                """, seeds: "[7]")
        let runs = try file.expand(baseRecipe: baseRecipe)
        XCTAssertEqual(runs.count, 6)
        XCTAssertEqual(Set(runs.map(\.name)).count, 6)
        XCTAssertEqual(runs[0].settings, [.init(axis: "cell", value: "rnn"), .init(axis: "hidden", value: "8")])
    }

    func testABadSweepFileIsRefusedByName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-sweep-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("bad.json")
        try Data(#"{"name":"s","recipe":"csv","prep":[],"seeds":[],"variation":"grid","axes":[]}"#.utf8).write(to: url)
        XCTAssertThrowsError(try SweepFile.load(url)) { XCTAssert("\($0)".contains("seeds"), "\($0)") }
        try Data(#"{"name":"s","recipe":"csv","prep":[],"seeds":[1],"variation":"sideways","axes":[]}"#.utf8)
            .write(to: url)
        XCTAssertThrowsError(try SweepFile.load(url)) { XCTAssert("\($0)".contains("bad.json"), "\($0)") }
    }

    func testSweepRunsCachesPrepResumesAndReports() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-sweep-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var csv = ["text,label"], test = ["text,label"]
        var rng = SplitMix64(seed: 4)
        let good = ["good", "great", "fine"], bad = ["bad", "dull", "poor"], filler = ["the", "film", "was", "a"]
        for row in 0..<360 {
            let positive = row % 2 == 0
            var words = (0..<6).map { _ in filler[Int(rng.next() % 4)] }
            words.insert((positive ? good : bad)[Int(rng.next() % 3)], at: Int(rng.next() % 6))
            (row < 300 ? { csv.append($0) } : { test.append($0) })(
                "\"\(words.joined(separator: " "))\",\(positive ? "pos" : "neg")")
        }
        try Data((csv.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("train.csv"))
        try Data((test.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("test.csv"))
        let sweepFile = directory.appendingPathComponent("tiny.json")
        try Data(
            """
            {"name": "tiny", "description": "A generated dataset.", "recipe": "csv",
             "prep": ["csv", "$DATA/train.csv", "$DATA/test.csv", "--text-column", "text", "--label-column", "label"],
             "base": {"training.epochs": 2, "training.earlyStopping": null, "model.hidden": 8, "model.embedding": 8},
             "seeds": [1, 2], "variation": "one-at-a-time",
             "axes": [{"name": "vocabulary size", "field": "tokenizer.vocabularySize", "values": [6, 12]},
                      {"name": "cell", "field": "model.cell", "values": ["rnn", "gru"]}]}
            """.utf8
        ).write(to: sweepFile)
        let out = directory.appendingPathComponent("out")
        let arguments = ["sweep", sweepFile.path, "--out", out.path, "--threads", "2", "--quiet"]
        let environment = ["RNNKIT_DATA": directory.path]
        let first = try Command.run("train", arguments, environment: environment)
        XCTAssertEqual(first.status, 0, first.stderr)
        // base (the csv recipe's vocabulary), 6 and 12 words, rnn; gru is the base's cell. Two seeds each.
        let runs = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.contains("seed=") }
        XCTAssertEqual(runs.count, 8, "\(runs)")
        let caches = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("prep").path)
        XCTAssertEqual(caches.count, 3, "one prep per vocabulary size: \(caches)")
        XCTAssertEqual(first.stdout.components(separatedBy: "run ").count - 1, 8)

        // Resuming: a finished sweep trains nothing and runs no prep; a run that lost its model trains again.
        let cacheDate =
            try FileManager.default.attributesOfItem(
                atPath: out.appendingPathComponent("prep/\(caches[0])/manifest.json").path)[.modificationDate] as? Date
        try FileManager.default.removeItem(at: out.appendingPathComponent("cell=rnn,seed=2/model.rnnk"))
        let second = try Command.run("train", arguments, environment: environment)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(second.stdout.components(separatedBy: "run ").count - 1, 1, second.stdout)
        XCTAssert(second.stdout.contains("cell=rnn,seed=2"))
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(
                atPath: out.appendingPathComponent("prep/\(caches[0])/manifest.json").path)[.modificationDate] as? Date,
            cacheDate)

        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        for expected in ["## vocabulary size", "## cell", "| 6 |", "| 12 |", "| rnn |", "| gru |", "Validation picks"] {
            XCTAssert(markdown.contains(expected), "report.md lacks \(expected)")
        }
        XCTAssertFalse(markdown.contains("| 0 |"), "every value has its runs (gru is the base's):\n\(markdown)")
        // The commands name the thread count the runs trained with: a seed's bits depend on it.
        XCTAssert(markdown.contains("&& train fit --shards") && markdown.contains("--threads 2`"), markdown)
        // 270 training examples (300 less the 10% validation) of 7 words and <start>: 2.16 k tokens an epoch.
        XCTAssert(markdown.contains("k tokens / epoch") && markdown.contains("| 2.2 ± 0.0 |"), markdown)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<table>").count - 1, 2)
        XCTAssertEqual(
            html.components(separatedBy: "<svg ").count - 1, 4, "an accuracy plot and learning curves per axis")
        XCTAssertFalse(html.contains("<script"), "the report is self-contained and static")
        try checkRendered(out.appendingPathComponent("report.html"), tables: 2, figures: 4)
    }

    /// The report as a reader sees it, in headless Chromium: a screenshot of
    /// the page, and the layout of a copy with a checker script added (the
    /// report has none) — every table and figure there, no text of a figure
    /// outside its box, no table wider than the window.
    func checkRendered(_ report: URL, tables: Int, figures: Int) throws {
        guard
            let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            return XCTFail("chromium is not installed (Tools/setup installs it)")
        }
        let checker = """
            <script>
            const cut = [];
            for (const svg of document.querySelectorAll('svg')) {
              const box = svg.viewBox.baseVal;
              for (const text of svg.querySelectorAll('text')) {
                const b = text.getBBox();
                if (b.x < 0 || b.y < 0 || b.x + b.width > box.width || b.y + b.height > box.height) cut.push(text.textContent);
              }
            }
            const wide = [...document.querySelectorAll('table')]
              .filter(t => t.getBoundingClientRect().right > document.documentElement.clientWidth).length;
            const layout = document.createElement('pre');
            layout.id = 'layout';
            layout.textContent = JSON.stringify({
              tables: document.querySelectorAll('table').length, figures: document.querySelectorAll('svg').length, cut, wide });
            document.body.appendChild(layout);
            </script>
            """
        let page = try String(contentsOf: report, encoding: .utf8).replacingOccurrences(
            of: "</body>", with: checker + "</body>")
        let checked = report.deletingLastPathComponent().appendingPathComponent("checked.html")
        try Data(page.utf8).write(to: checked)
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2000"]
        let dom = try Command.run(chromium, flags + ["--dump-dom", checked.absoluteString])
        guard let start = dom.stdout.range(of: "<pre id=\"layout\">"),
            let end = dom.stdout[start.upperBound...].range(of: "</pre>")
        else {
            return XCTFail("chromium gave no layout: \(dom.stderr.suffix(2000))")
        }
        let json = String(dom.stdout[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
        let layout = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(layout["tables"] as? Int, tables)
        XCTAssertEqual(layout["figures"] as? Int, figures)
        XCTAssertEqual((layout["cut"] as? [String]) ?? ["?"], [], "text outside its figure")
        XCTAssertEqual(layout["wide"] as? Int, 0, "tables wider than the window")
        let screenshot = report.deletingLastPathComponent().appendingPathComponent("report.png")
        let shot = try Command.run(chromium, flags + ["--screenshot=\(screenshot.path)", report.absoluteString])
        let png = try Data(contentsOf: screenshot)
        XCTAssert(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG: \(shot.stderr.suffix(2000))")
        // IHDR: the width and height, big-endian, at bytes 16 and 20.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual([width, height], [1200, 2000])
        XCTAssertGreaterThan(png.count, 20_000, "a blank page compresses to almost nothing")
    }
}
