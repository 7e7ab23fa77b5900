import Foundation
import RNNData
import RNNKernels
import RNNModel
import RNNSupport
import RNNText
import RNNTrain

// Micro-benchmarks behind Tools/bench. Usage:
//   rnnbench wordpiece VOCAB CSV...   single-thread WordPiece tokens/s on the CSV texts
//   rnnbench imdb TARBALL             the IMDB prep's two halves apart: reading the tarball, then
//                                     word-level tokenizing + interning on one thread
//   rnnbench parquet FILE TEXT LABEL  decoding a Parquet file to (text, label) pairs, best of 5
//   rnnbench sgemm                    OpenBLAS sgemm GFLOP/s on one thread (the peak we compare with)
//   rnnbench blas                     the OpenBLAS version and the core (kernels) it runs on this CPU
//   rnnbench examples SHARDS SPLIT OUT  a split's model input as the recipe feeds it (markers, cut), a line per
//                                     example, label first: what the peers of Tools/bench epoch train on
//   rnnbench products                 the trainer's large products at the recipes' shapes, one thread: GFLOP/s
//                                     of OpenBLAS (the core it runs) and of our kernels (MatrixProducts.own)
//   rnnbench kernels HIDDEN ROWS      GFLOP/s of our recurrent kernels at one thread's training shapes
//   rnnbench train SHARDS CELL EMBED HIDDEN MAXLEN PADDING THREADS EXAMPLES
//                                     training samples/s and dense-equivalent GFLOP/s: median of epochs 2–4 (no evaluation)
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("rnnbench: \(message)\n".utf8))
    exit(2)
}

do { _ = try KernelSet.named(nil) } catch { fail("RNNKIT_KERNELS: \(error)") }
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
        var workspace = TokenizerWorkspace()
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<5 {
            tokens = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for text in texts {
                ids.removeAll(keepingCapacity: true)
                text.withUnsafeBufferPointer { tokenizer.encode($0, into: &ids, workspace: &workspace) }
                tokens += ids.count + 2
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print(
            String(
                format:
                    "rnnkit wordpiece: %d texts, %.1f MB, %d tokens (with [CLS]/[SEP]) in %.3f s: %.2f M tokens/s, %.1f MB/s (best of 5, 1 thread)",
                texts.count, Double(bytes) / 1e6, tokens, best, Double(tokens) / best / 1e6, Double(bytes) / best / 1e6)
        )
    } catch {
        fail("\(error)")
    }
case "imdb":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 1 else { fail("usage: rnnbench imdb TARBALL") }
    do {
        var texts: [[UInt8]] = []
        var start = DispatchTime.now().uptimeNanoseconds
        try IMDBReader(path: rest[0]).read(progress: { _ in }) { texts.append($0.text) }
        let readSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let bytes = texts.reduce(0) { $0 + $1.count }
        var best = Double.infinity
        var tokens = 0, distinct = 0
        for _ in 0..<5 {
            var table = ByteTable(minimumCapacity: 1 << 16)
            var ids: [Int32] = []
            var workspace = TokenizerWorkspace()
            start = DispatchTime.now().uptimeNanoseconds
            for text in texts {
                text.withUnsafeBufferPointer {
                    WordLevelTokenizer.intern($0, into: &table, appendingTo: &ids, workspace: &workspace)
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            tokens = ids.count
            distinct = table.count
        }
        print(
            String(
                format: "reading %d reviews (%.1f MB of text) from the tarball: %.3f s", texts.count,
                Double(bytes) / 1e6, readSeconds))
        print(
            String(
                format:
                    "word-level tokenize + intern, 1 thread: %d tokens, %d distinct words in %.3f s: %.1f M tokens/s, %.0f MB/s (best of 5)",
                tokens, distinct, best, Double(tokens) / best / 1e6, Double(bytes) / best / 1e6))
    } catch {
        fail("\(error)")
    }
case "parquet":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 3 else { fail("usage: rnnbench parquet FILE TEXT-COLUMN LABEL-COLUMN") }
    do {
        var best = Double.infinity
        var rows = 0
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            let reader = try ParquetTableReader(
                path: rest[0], split: "train", textColumns: [ColumnReference(rest[1])],
                labelColumn: ColumnReference(rest[2]))
            var pairs: [([UInt8], RawLabel)] = []
            try reader.read(progress: { _ in }) { pairs.append(($0.text, $0.label)) }
            rows = pairs.count
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print(String(format: "rnnkit: %d (text, label) pairs in %.1f ms (best of 5)", rows, best * 1e3))
    } catch {
        fail("\(error)")
    }
case "blas":
    print(OpenBLASBuild.description)
case "sgemm":
    useSingleThreadedBLAS()
    let n = 1024
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        c.withUnsafeMutableBufferPointer {
            MatrixProducts.openBLAS.gemm(m: n, n: n, k: n, a, lda: n, b, ldb: n, beta: 0, $0.baseAddress!, ldc: n)
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    print(
        String(format: "sgemm %d³, 1 thread: %.1f GFLOP/s (best of 5; ", n, 2 * Double(n * n * n) / best / 1e9)
            + OpenBLASBuild.description + ")")
case "examples":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 3 else { fail("usage: rnnbench examples SHARDS SPLIT OUT") }
    do {
        let dataset = try PreparedDataset(directory: URL(fileURLWithPath: rest[0], isDirectory: true))
        let (recipe, path) = try Recipe.load(dataset.manifest.provenance.recipe ?? dataset.manifest.dataset)
        let config = try TrainConfig(recipe: recipe, recipePath: path, overrides: TrainOverrides())
        let data = LabeledSequences(
            shard: try dataset.load(split: rest[1]), policy: config.policy, special: dataset.tokenizer.specialIDs)
        let lines = zip(data.labels, data.sequences).map { label, ids in
            ([label] + ids).map(String.init).joined(separator: " ")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: rest[2], atomically: true, encoding: .utf8)
    } catch {
        fail("\(error)")
    }
case "products":
    useSingleThreadedBLAS()
    var rng = SplitMix64(seed: 5)
    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUnit()) - 0.5 } }
    let own = MatrixProducts.own(.selected), blas = MatrixProducts.openBLAS
    print(
        "one thread, best of 5; ours: rnnkit \(KernelSet.selected.instructionSet), OpenBLAS: \(OpenBLASBuild.description)"
    )
    print("product                                      m      n      k   OpenBLAS      ours   ours/OpenBLAS")
    // A thread's slice of a batch (32 of 64 texts): AG News at 50 tokens, IMDB at 256 (GRU, embed 32 and 128,
    // hidden 128); the forward projection, then backpropagation's dW_ih += dPᵀ·X and dX = dP·W_ih; the head.
    let shapes: [(String, Bool, Bool, Int, Int, Int)] = [
        ("AG News projection X·W_ihᵀ (E 128, GRU)", false, true, 1600, 384, 128),
        ("AG News dW_ih += dPᵀ·X", true, false, 384, 128, 1600),
        ("AG News dX = dP·W_ih", false, false, 1600, 128, 384),
        ("AG News LSTM projection (E 128)", false, true, 1600, 512, 128),
        ("IMDB projection X·W_ihᵀ (E 32, GRU)", false, true, 8192, 384, 32),
        ("IMDB dW_ih += dPᵀ·X (E 32)", true, false, 384, 32, 8192),
        ("IMDB-best projection (E 128, bi-GRU 128)", false, true, 8192, 384, 128),
        ("IMDB-best layer 2 dX = dP·W_ih (In 256)", false, false, 8192, 256, 384),
        ("head logits = F·W_headᵀ (C 4)", false, true, 32, 4, 256),
    ]
    for (name, transposeA, transposeB, m, n, k) in shapes {
        let a = random(m * k), b = random(k * n)
        var c = [Float](repeating: 0, count: m * n)
        func rate(_ products: MatrixProducts) -> Double {
            var best = Double.infinity
            let repeats = max(1, 200_000_000 / (2 * m * n * k))
            for _ in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<repeats {
                    products.gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a,
                        lda: transposeA ? m : k, b, ldb: transposeB ? k : n, beta: 1, &c, ldc: n)
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(repeats))
            }
            return 2 * Double(m * n * k) / best / 1e9
        }
        let theirs = rate(blas), ours = rate(own)
        print(
            name.padding(toLength: 42, withPad: " ", startingAt: 0)
                + String(format: "%7d%7d%7d%11.1f%10.1f%16.2f", m, n, k, theirs, ours, ours / theirs))
    }
case "kernels":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 2, let H = Int(rest[0]), let rows = Int(rest[1]) else {
        fail("usage: rnnbench kernels HIDDEN ROWS")
    }
    let kernels = KernelSet.selected
    useSingleThreadedBLAS()
    var rng = SplitMix64(seed: 3)
    func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUnit()) - 0.5 } }
    /// GFLOP/s of `body` (`flops` per call): the best of 5 runs of `repeats` calls.
    func rate(_ flops: Double, repeats: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repeats { body() }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(repeats))
        }
        return flops / best / 1e9
    }
    print(
        "kernels \(kernels.instructionSet), hidden \(H), \(rows) rows (a thread's slice of a batch), operands in cache, best of 5:"
    )
    for cell in [CellKind.rnn, .gru, .lstm] {
        let gates = cell.gateCount, G = gates * H, step = kernels.kernels(for: cell).step
        let packed = PackedRecurrentWeights(
            whh: random(G * H), bhh: random(G), hidden: H, gates: gates, lanes: kernels.lanes)
        let input = random(rows * G), previous = random(rows * H), previousCell = random(rows * H)
        var output = [Float](repeating: 0, count: rows * H), cells = output,
            cache = [Float](repeating: 0, count: rows * 4 * H)
        let forward = rate(2 * Double(rows * G * H), repeats: 200) {
            output.withUnsafeMutableBufferPointer { out in
                cells.withUnsafeMutableBufferPointer { c in
                    cache.withUnsafeMutableBufferPointer { gc in
                        step(
                            StepArguments(
                                rows: rows, continuing: rows, hidden: H, input: input, ldInput: G, previous: previous,
                                ldPrevious: H,
                                output: out.baseAddress!, ldOutput: H, previousCell: previousCell, cell: c.baseAddress!,
                                ldCell: H,
                                gateCache: gc.baseAddress!), packed)
                    }
                }
            }
        }
        // Backpropagation's products: dh = dGates·W_hh every step, dW_hh += dGatesᵀ·h per 512 gathered rows.
        let window = 512
        let dGates = random(window * G), whh = random(G * H), states = random(window * H)
        var dh = [Float](repeating: 0, count: rows * H), dWhh = [Float](repeating: 0, count: G * H)
        let stepProduct = rate(2 * Double(rows * G * H), repeats: 200) {
            dh.withUnsafeMutableBufferPointer {
                kernels.product(
                    MatrixArguments(
                        m: rows, n: H, k: G, a: dGates, aRowStride: G, aColumnStride: 1, b: whh, ldb: H,
                        c: $0.baseAddress!, ldc: H, accumulate: false))
            }
        }
        let windowProduct = rate(2 * Double(G * H * window), repeats: 20) {
            dWhh.withUnsafeMutableBufferPointer {
                kernels.product(
                    MatrixArguments(
                        m: G, n: H, k: window, a: dGates, aRowStride: 1, aColumnStride: G, b: states, ldb: H,
                        c: $0.baseAddress!, ldc: H, accumulate: true))
            }
        }
        // OpenBLAS on the same shapes, the peer these kernels replace: W_hh·h
        // without the gates, and the two products of backpropagation.
        var sink = [Float](repeating: 0, count: max(rows * G, G * H))
        let blasForward = rate(2 * Double(rows * G * H), repeats: 200) {
            MatrixProducts.openBLAS.gemm(
                transposeB: true, m: rows, n: G, k: H, previous, lda: H, whh, ldb: H, beta: 0, &sink, ldc: G)
        }
        let blasStep = rate(2 * Double(rows * G * H), repeats: 200) {
            MatrixProducts.openBLAS.gemm(m: rows, n: H, k: G, dGates, lda: G, whh, ldb: H, beta: 0, &sink, ldc: H)
        }
        let blasWindow = rate(2 * Double(G * H * window), repeats: 20) {
            MatrixProducts.openBLAS.gemm(
                transposeA: true, m: G, n: H, k: window, dGates, lda: G, states, ldb: H, beta: 1, &sink, ldc: H)
        }
        print(
            String(
                format: "  %@: forward step %.0f GFLOP/s; dh = dGates·W_hh %.0f; dW_hh += dGatesᵀ·h %.0f",
                cell.rawValue.uppercased(), forward, stepProduct, windowProduct))
        print(
            String(
                format: "  %@ as OpenBLAS sgemm: W_hh·h (no gates) %.0f GFLOP/s; dh %.0f; dW_hh %.0f",
                cell.rawValue.uppercased(), blasForward, blasStep, blasWindow))
    }
case "train":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 8 || rest.count == 9, let embed = Int(rest[2]), let hidden = Int(rest[3]),
        let threads = Int(rest[6]), let examples = Int(rest[7]),
        let cell = CellKind(rawValue: rest[1]), let padding = SequencePolicy.Padding(rawValue: rest[5])
    else {
        fail("usage: rnnbench train SHARDS CELL EMBED HIDDEN MAXLEN(0=none) PADDING THREADS EXAMPLES [EXAMPLES_OUT]")
    }
    do {
        let dataset = try PreparedDataset(directory: URL(fileURLWithPath: rest[0], isDirectory: true))
        var config = TrainConfig()
        config.cell = cell
        config.embedding = embed
        config.hidden = hidden
        config.threads = threads
        config.policy = SequencePolicy(maxLength: Int(rest[4]).flatMap { $0 > 0 ? $0 : nil }, padding: padding)
        config.epochs = 4
        let shard = try dataset.load(split: "train")
        var data = LabeledSequences(shard: shard, policy: config.policy, special: dataset.tokenizer.specialIDs)
        var rng = SplitMix64(seed: 1)
        let chosen = Array(0..<data.count).shuffled(using: &rng).prefix(examples)
        data = LabeledSequences(sequences: chosen.map { data.sequences[$0] }, labels: chosen.map { data.labels[$0] })
        if rest.count == 9 {
            // What the peer (Benchmarks/bench-torch.py) trains on: the same examples, a line each, label first.
            let lines = zip(data.labels, data.sequences).map { label, ids in
                ([label] + ids).map(String.init).joined(separator: " ")
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: rest[8], atomically: true, encoding: .utf8)
        }
        let architecture = Architecture(
            cell: cell, vocabularySize: dataset.manifest.tokenizer.vocabularySize, embedding: embed, hidden: hidden,
            classes: dataset.manifest.labels.count, paddingID: dataset.tokenizer.specialIDs.padding)
        let trainer = Trainer(config: config, architecture: architecture, labels: dataset.manifest.labels)
        let tokens = data.sequences.reduce(0) { $0 + $1.count }
        // Multiply-adds per token: W_ih and W_hh forward; backward twice that (weight and input
        // gradients). Counted for every row, as the dense formulation does them: without input
        // dropout layer 0 works per distinct token, so fewer are done.
        let flops = 3 * 2 * Double(architecture.gateWidth * (embed + hidden)) * Double(tokens)
        // Epochs 2–4 are timed: by then the batches have read most of the vocabulary,
        // so the optimizer's lazy rows cost what they do in a long run. The median
        // of the three, as this host's neighbours slow an epoch now and then.
        let set = ExampleSet(data)
        try trainer.trainEpoch(0, train: set)
        let times = try (1...3).map { epoch in
            let start = DispatchTime.now().uptimeNanoseconds
            try trainer.trainEpoch(epoch, train: set)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }.sorted()
        let seconds = times[1]
        print(
            String(
                format:
                    "train %@ embed %d hidden %d, max length %@, padding %@, %d threads: %d examples (%.1f tokens each), epochs of %.2f / %.2f / %.2f s: median %.0f samples/s, %.1f GFLOP/s dense-equivalent",
                cell.rawValue, embed, hidden, rest[4] == "0" ? "none" : rest[4], padding.rawValue, threads, data.count,
                Double(tokens) / Double(data.count), times[0], times[1], times[2], Double(data.count) / seconds,
                flops / seconds / 1e9))
    } catch {
        fail("\(error)")
    }
default:
    fail("unknown benchmark \(command)")
}
