// The end of prep's parallel pass: the workers' splits put back in reading
// order, and word-level ids mapped to the final vocabulary.

import Foundation
import RNNText

extension TokenizerWorker {
    /// The splits in reading order with final token ids, the vocabulary, and
    /// (word-level) the number of distinct training words. Word-level ids are
    /// mapped worker-local → shared table → vocabulary in one pass.
    static func merge(_ workers: [TokenizerWorker], spec: TokenizerSpec) -> (
        splits: [String: SplitBuilder], vocabulary: Vocabulary, distinctTrainWords: Int
    ) {
        var vocabulary: Vocabulary
        var toVocabulary: [[Int32]?] = Array(repeating: nil, count: workers.count)
        var distinctTrainWords = 0
        if let wordPiece = workers[0].tokenization.wordPiece {
            vocabulary = wordPiece.vocabulary
        } else {
            // The shared table starts as the largest worker's (the reader's own share is small):
            // its ids carry over, and only the other workers' words are hashed again.
            let largest = workers.indices.max {
                workers[$0].tokenization.interned.count < workers[$1].tokenization.interned.count
            }!
            var shared = workers[largest].tokenization.interned
            var counts = [Int](repeating: 0, count: shared.count)
            let toShared: [[Int32]] = workers.enumerated().map { w, worker in
                let t = worker.tokenization
                return (0..<Int32(t.interned.count)).map { local in
                    let id = w == largest ? local : t.interned.withKey(local) { shared.insert($0).id }
                    while Int(id) >= counts.count { counts.append(0) }
                    if Int(local) < t.trainCounts.count { counts[Int(id)] += t.trainCounts[Int(local)] }
                    return id
                }
            }
            let trainWords = counts.enumerated().filter { $0.element > 0 }.map {
                (word: shared.key(Int32($0.offset)), count: $0.element)
            }
            distinctTrainWords = trainWords.count
            vocabulary =
                workers[0].tokenization.fixedVocabulary
                ?? WordLevelTokenizer.buildVocabulary(
                    counts: trainWords, size: spec.vocabularySize ?? 5_000, minimumCount: spec.minimumCount ?? 1)
            let sharedToVocabulary = (0..<Int32(shared.count)).map { id in
                shared.withKey(id) { vocabulary.table.find($0) } ?? WordLevelTokenizer.unknownID
            }
            toVocabulary = toShared.map { map in map.map { sharedToVocabulary[Int($0)] } }
        }
        var order: [(worker: Int, chunk: (sequence: Int, split: String, range: Range<Int>))] = []
        for (w, worker) in workers.enumerated() { for chunk in worker.chunks { order.append((w, chunk)) } }
        // A batch goes to one worker, so (sequence, position in that worker) is reading order.
        order.sort { a, b in
            if a.chunk.sequence != b.chunk.sequence { return a.chunk.sequence < b.chunk.sequence }
            return a.chunk.range.lowerBound < b.chunk.range.lowerBound
        }
        // Splits are independent: each is assembled on its own core.
        let names = Array(Set(order.map(\.chunk.split))).sorted()
        let assembled = names.map { SplitBuilder(name: $0) }
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            let target = assembled[i]
            let chunks = order.filter { $0.chunk.split == target.name }
            target.tokens.reserveCapacity(
                chunks.reduce(0) { total, entry in
                    let source = workers[entry.worker].splits[target.name]!
                    return total + source.offsets[entry.chunk.range.upperBound]
                        - source.offsets[entry.chunk.range.lowerBound]
                })
            for (w, chunk) in chunks {
                let source = workers[w].splits[chunk.split]!
                let tokens = source.tokens[
                    source.offsets[chunk.range.lowerBound]..<source.offsets[chunk.range.upperBound]]
                if let map = toVocabulary[w] {
                    map.withUnsafeBufferPointer { map in
                        tokens.withUnsafeBufferPointer { tokens in
                            for id in tokens { target.tokens.append(map[Int(id)]) }
                        }
                    }
                } else {
                    target.tokens.append(contentsOf: tokens)
                }
                var end = target.offsets.last!
                for i in chunk.range {
                    end += source.offsets[i + 1] - source.offsets[i]
                    target.offsets.append(end)
                    let code = source.labels[i]
                    // Label texts are interned per worker; re-intern them in the merged split.
                    target.labels.append(
                        source.labelTexts.count > 0 && code >= 0
                            ? target.labelTexts.insert(source.labelTexts.key(code)).id : code)
                }
                target.sources.append(contentsOf: source.sources[chunk.range])
                target.ratings.append(contentsOf: source.ratings[chunk.range])
                target.wordCounts.append(contentsOf: source.wordCounts[chunk.range])
                target.readerIndex.append(contentsOf: source.readerIndex[chunk.range])
            }
        }
        let merged = Dictionary(uniqueKeysWithValues: zip(names, assembled))
        return (merged, vocabulary, distinctTrainWords)
    }
}
