// The end of prep's parallel pass: the workers' stored runs put back in
// reading order, and word-level ids mapped to the final vocabulary.

import Foundation
import RNNText

extension TokenizerWorker {
    /// Each split's stored runs in reading order, the vocabulary, each
    /// worker's map from its ids to the vocabulary's (word-level; nil:
    /// WordPiece ids are final), and (word-level) the number of distinct
    /// training words. Ids map worker-local → shared table → vocabulary.
    static func merge(_ workers: [TokenizerWorker], spec: TokenizerSpec) -> (
        splits: [String: [(worker: Int, chunk: StoredChunk)]], vocabulary: Vocabulary, toVocabulary: [[Int32]?],
        distinctTrainWords: Int
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
            var shared = workers[largest].tokenization.takeInterned()
            let largestWords = shared.count
            var counts = [Int](repeating: 0, count: shared.count)
            let toShared: [[Int32]] = workers.enumerated().map { w, worker in
                let t = worker.tokenization
                return (0..<Int32(w == largest ? largestWords : t.interned.count)).map { local in
                    let id = w == largest ? local : t.interned.withKey(local) { shared.insert($0).id }
                    while Int(id) >= counts.count { counts.append(0) }
                    if Int(local) < t.trainCounts.count { counts[Int(id)] += t.trainCounts[Int(local)] }
                    return id
                }
            }
            // Only the shared table is needed from here: the others' memory goes back before the vocabulary is built.
            for worker in workers { _ = worker.tokenization.takeInterned() }
            // Only words that can make the vocabulary become strings: those counted at least as often as the
            // (size + specials)-th most frequent (buildVocabulary drops specials, were they in the text).
            let size = spec.vocabularySize ?? 5_000, minimumCount = spec.minimumCount ?? 1
            let eligible = counts.filter { $0 >= max(1, minimumCount) }
            let rank = size + WordLevelTokenizer.specialTokens.count
            let cut = size > 0 && eligible.count > rank ? eligible.sorted(by: >)[rank - 1] : max(1, minimumCount)
            let trainWords = counts.enumerated().filter { $0.element >= cut }.map {
                (word: shared.key(Int32($0.offset)), count: $0.element)
            }
            distinctTrainWords = counts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
            vocabulary =
                workers[0].tokenization.fixedVocabulary
                ?? WordLevelTokenizer.buildVocabulary(counts: trainWords, size: size, minimumCount: minimumCount)
            let sharedToVocabulary = (0..<Int32(shared.count)).map { id in
                shared.withKey(id) { vocabulary.table.find($0) } ?? WordLevelTokenizer.unknownID
            }
            toVocabulary = toShared.map { map in map.map { sharedToVocabulary[Int($0)] } }
        }
        var order: [(worker: Int, chunk: StoredChunk)] = []
        for (w, worker) in workers.enumerated() { for chunk in worker.chunks { order.append((w, chunk)) } }
        // A batch goes to one worker, so (sequence, first) is reading order.
        order.sort { a, b in
            if a.chunk.sequence != b.chunk.sequence { return a.chunk.sequence < b.chunk.sequence }
            return a.chunk.first < b.chunk.first
        }
        let splits = Dictionary(grouping: order, by: \.chunk.split)
        return (splits, vocabulary, toVocabulary, distinctTrainWords)
    }
}
