import Foundation
import RNNSupport

/// Word vectors in the text format of word2vec, fastText (`.vec`) and GloVe: an optional
/// header line "COUNT DIMENSION", then a word and its DIMENSION values per line, separated by
/// spaces (gzip or zstd told from the bytes, like every text input). Only the rows of the
/// vocabulary's tokens are kept, so a file of millions of words costs a vocabulary's memory;
/// the other lines are checked only for their number of fields.
public struct PretrainedVectors {
    /// [vocabulary size, dimension]: the vectors found, zero elsewhere.
    public let rows: [Float]
    /// Per vocabulary id: whether the file has its vector.
    public let found: [Bool]
    public let dimension: Int
    /// Lines with a vector (the header excluded).
    public let words: Int

    public var foundCount: Int { found.lazy.filter { $0 }.count }

    /// Reads the vectors of `vocabulary`'s tokens (`skipping` those ids, e.g. padding), which must have
    /// `dimension` values. A word that holds spaces (GloVe's 840B file has some) is everything before
    /// the last `dimension` fields. A vocabulary token found twice is an error naming both lines.
    public init(path: String, vocabulary: [String], dimension: Int, skipping: Set<Int32> = []) throws {
        var ids: [String: Int32] = [:]
        for (id, token) in vocabulary.enumerated() where !skipping.contains(Int32(id)) { ids[token] = Int32(id) }
        var rows = [Float](repeating: 0, count: vocabulary.count * dimension)
        var foundOnLine = [Int](repeating: 0, count: vocabulary.count)
        var words = 0
        var checkedWidth = false
        try RecordBlocks.read(path: path, quoted: false, progress: { _ in }) { block in
            try forEachLine(in: block) { line, number in
                let fields = line.split(separator: 0x20, omittingEmptySubsequences: true)
                if number == 1, fields.count == 2, let count = Int(ascii: fields[0]), let width = Int(ascii: fields[1]),
                    count >= 0
                {
                    guard width == dimension else {
                        throw DataError(
                            file: path, place: "line 1",
                            "the header says the vectors have \(width) values; --embed is \(dimension), and the two must be equal"
                        )
                    }
                    return
                }
                guard fields.count > dimension else {
                    throw DataError(
                        file: path, place: "line \(number)",
                        "expected a word and \(dimension) values (the --embed size), found \(fields.count) fields")
                }
                // Without a header, the first vector says the file's dimension.
                if !checkedWidth, fields.count - 1 != dimension {
                    throw DataError(
                        file: path, place: "line \(number)",
                        "the vectors have \(fields.count - 1) values; --embed is \(dimension), and the two must be equal"
                    )
                }
                checkedWidth = true
                words += 1
                let wordFields = fields.count - dimension
                let word =
                    wordFields == 1
                    ? String(decoding: fields[0], as: UTF8.self)
                    : fields[0..<wordFields].map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
                guard let id = ids[word] else { return }
                guard foundOnLine[Int(id)] == 0 else {
                    throw DataError(
                        file: path, place: "line \(number)",
                        "\"\(word)\" has a vector already (line \(foundOnLine[Int(id)])); which one is meant?")
                }
                foundOnLine[Int(id)] = number
                for j in 0..<dimension {
                    guard let value = Float(ascii: fields[wordFields + j]), value.isFinite else {
                        throw DataError(
                            file: path, place: "line \(number), value \(j + 1)",
                            "\"\(String(decoding: fields[wordFields + j], as: UTF8.self))\" is not a finite number")
                    }
                    rows[Int(id) * dimension + j] = value
                }
            }
        }
        guard words > 0 else { throw DataError(file: path, "no vectors in the file") }
        self.rows = rows
        found = foundOnLine.map { $0 > 0 }
        self.dimension = dimension
        self.words = words
    }
}

extension Int {
    init?(ascii bytes: Slice<UnsafeBufferPointer<UInt8>>) {
        guard !bytes.isEmpty, bytes.count <= 18, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        self = bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}

extension Float {
    init?(ascii bytes: Slice<UnsafeBufferPointer<UInt8>>) {
        guard let value = Float(String(decoding: bytes, as: UTF8.self)) else { return nil }
        self = value
    }
}
