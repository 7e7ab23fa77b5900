// One time step of a recurrent layer, fused: the recurrent product W_hh·h of
// every row, the gate activations and the new state, in one pass whose
// accumulators never leave registers. The cell's equations come from its
// file (Cells/); this file tiles rows and hidden units for every cell.

import CHardware

/// The step kernel for one instruction set and cell (named by each cell as
/// `Cell.Step`, which states its gate count once). A tile is `Rows` rows ×
/// `Chunks` chunks when there are that many rows, then two rows × two chunks,
/// then one row × `Rows` chunks — each keeps Rows·Chunks·Gates (4·Gates,
/// Rows·Gates) vector accumulators in registers, sized per instruction set to
/// fill its register file while giving the FMA units enough independent chains
/// and as few loads per multiply-add as the registers allow.
public enum RecurrentStep<ISA: InstructionSet, Cell: RecurrentCell, let Gates: Int, let Rows: Int, let Chunks: Int> {
    @inlinable @inline(__always)
    public static func run(_ a: StepArguments, _ packed: borrowing PackedRecurrentWeights) {
        precondition(
            Cell.gates == Gates && packed.gates == Gates && packed.hidden == a.hidden
                && packed.lanes == ISA.Vector.scalarCount,
            "packed weights do not match the cell or the instruction set")
        let weights = UnsafePointer(packed.weights.baseAddress), bias = UnsafePointer(packed.bias.baseAddress)
        schedule(from: 0, to: a.continuing, k: a.hidden, a, weights, bias, chunks: packed.chunks)
        schedule(from: a.continuing, to: a.rows, k: 0, a, weights, bias, chunks: packed.chunks)
    }

    @inlinable @inline(__always)
    static func schedule(
        from first: Int, to end: Int, k: Int, _ a: borrowing StepArguments,
        _ weights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, chunks: Int
    ) {
        let panelSize = a.hidden * Gates * ISA.Vector.scalarCount
        let previous = a.previous, ldPrevious = a.ldPrevious
        func panels<let TC: Int>(from chunk: Int) -> InlineArray<TC, UnsafePointer<Float>> {
            InlineArray { weights + (chunk + $0) * panelSize }
        }
        func rows<let TR: Int>(from row: Int) -> InlineArray<TR, UnsafePointer<Float>> {
            InlineArray { previous + (row + $0) * ldPrevious }
        }
        let tiledEnd = first + (end - first) / Rows * Rows
        // Chunk-outer: a group's panels stay in L1 while every row tile uses them.
        var chunk = 0
        while tiledEnd > first && chunk < chunks {
            let width = chunk + Chunks <= chunks ? Chunks : 1
            var r = first
            while r < tiledEnd {
                if width == Chunks {
                    tile(
                        rows(from: r) as InlineArray<Rows, _>, firstRow: r,
                        panels(from: chunk) as InlineArray<Chunks, _>,
                        firstChunk: chunk, k: k, a, bias)
                } else {
                    tile(
                        rows(from: r) as InlineArray<Rows, _>, firstRow: r, panels(from: chunk) as InlineArray<1, _>,
                        firstChunk: chunk, k: k, a, bias)
                }
                r += Rows
            }
            chunk += width
        }
        var row = tiledEnd
        // Leftover rows in pairs while they last (2 rows × 2 chunks: half the loads
        // per multiply-add of a one-row tile, which waits on its weight loads).
        while Rows > 2 && row + 2 <= end {
            var chunk = 0
            while chunk + 2 <= chunks {
                tile(
                    rows(from: row) as InlineArray<2, _>, firstRow: row, panels(from: chunk) as InlineArray<2, _>,
                    firstChunk: chunk, k: k, a, bias)
                chunk += 2
            }
            if chunk < chunks {
                tile(
                    rows(from: row) as InlineArray<2, _>, firstRow: row, panels(from: chunk) as InlineArray<1, _>,
                    firstChunk: chunk, k: k, a, bias)
            }
            row += 2
        }
        // A single row takes Rows chunks: the accumulators of a Rows × 1 tile.
        while row < end {
            var chunk = 0
            while chunk + Rows <= chunks {
                tile(
                    rows(from: row) as InlineArray<1, _>, firstRow: row, panels(from: chunk) as InlineArray<Rows, _>,
                    firstChunk: chunk, k: k, a, bias)
                chunk += Rows
            }
            while chunk < chunks {
                tile(
                    rows(from: row) as InlineArray<1, _>, firstRow: row, panels(from: chunk) as InlineArray<1, _>,
                    firstChunk: chunk, k: k, a, bias)
                chunk += 1
            }
            row += 1
        }
    }

    /// TR rows × TC chunks: accumulate b_hh + Σ_k h[k]·panel[k], then finish each (row, chunk).
    /// k = 0 is a tile of rows that start from a zero state.
    @inlinable @inline(__always)
    static func tile<let TR: Int, let TC: Int>(
        _ rowPointers: InlineArray<TR, UnsafePointer<Float>>, firstRow: Int,
        _ panels: InlineArray<TC, UnsafePointer<Float>>, firstChunk: Int,
        k K: Int, _ a: borrowing StepArguments, _ bias: UnsafePointer<Float>
    ) {
        let L = ISA.Vector.scalarCount
        // At inference the input projections are rows of a per-token table too
        // large for L2, read at random tokens: ask for them now, and the k loop
        // below hides the latency (without it, a third of the step waits on them).
        for r in 0..<TR {
            let x = a.input(row: firstRow + r)
            for c in 0..<TC { for g in 0..<Gates { rnnkit_prefetch(x + g * a.hidden + (firstChunk + c) * L) } }
        }
        var accumulators = InlineArray<TR, InlineArray<TC, InlineArray<Gates, ISA.Vector>>>(
            repeating: InlineArray(repeating: InlineArray(repeating: .zero)))
        for c in 0..<TC {
            for g in 0..<Gates {
                let b = ISA.load(bias + ((firstChunk + c) * Gates + g) * L, L)
                for r in 0..<TR { accumulators[r][c][g] = b }
            }
        }
        // k walks by a signed step rather than being recomputed from the loop
        // index: the loop is then only its loads and multiply-adds, which
        // matters at 8 lanes, where 8 multiply-adds per k leave the front end
        // little room for anything else.
        let step = a.descending ? -1 : 1
        var k = a.descending ? K - 1 : 0
        for _ in 0..<K {
            for c in 0..<TC {
                let w = panels[c] + k &* (Gates * L)
                let weights = InlineArray<Gates, ISA.Vector> { ISA.load(w + $0 * L, L) }
                for r in 0..<TR {
                    let x = ISA.Vector(repeating: rowPointers[r][k])
                    for g in 0..<Gates { accumulators[r][c][g] = ISA.multiplyAdd(x, weights[g], accumulators[r][c][g]) }
                }
            }
            k &+= step
        }
        // The epilogue reads the sums from memory: were it to take the
        // accumulators' address, they would be stored on every k above. The
        // copy is a stack variable: a temporary allocation of over 1 KiB
        // would be a malloc per tile on Linux.
        let arguments = copy a
        var sums = accumulators
        withUnsafeMutablePointer(to: &sums) { tilePointer in
            let vectors = UnsafeMutableRawPointer(tilePointer).assumingMemoryBound(to: ISA.Vector.self)
            // Place i is chunk i / TR of row i % TR: a chunk's rows are neighbours.
            Cell.finish(places: TR * TC, continues: K > 0, arguments, ISA.self) { i in
                (UnsafePointer(vectors + (i % TR * TC + i / TR) * Gates), firstRow + i % TR, (firstChunk + i / TR) * L)
            }
        }
    }
}
