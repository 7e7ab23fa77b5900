import RNNBinary
import RNNData

/// libFuzzer entry: any bytes given to the shard reader end in a shard whose
/// every count, offset, label and id is in range, or a DataError — never a
/// crash, a hang or an out-of-bounds read (ASan). Each input is tried as given
/// and with its checksum repaired, so that mutations reach the parser behind it;
/// and, as the trainer reads shards, by example ranges (chosen by the input's
/// last bytes) before any checksum is verified.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShardReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    check(bytes)
    if size >= 8 {
        let crc = CRC32.checksum(Array(bytes[0..<size - 4]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[size - 4 + i] = $0[i] } }
        check(bytes)
    }
    return 0
}

func check(_ bytes: [UInt8]) {
    if let file = try? ShardFile(bytes: bytes, path: "fuzz", vocabularySize: 30_522, labelCount: 4), file.count > 0 {
        let seed = bytes.suffix(8).reduce(0) { $0 &* 31 &+ Int($1) } & Int.max
        let start = seed % file.count, end = start + 1 + (seed / file.count) % (file.count - start)
        if let range = try? file.read(start..<end) { check(range) }
        _ = try? file.labels()
    }
    guard let shard = try? ShardFormat.decode(bytes, file: "fuzz", vocabularySize: 30_522, labelCount: 4) else {
        return
    }
    check(shard)
}

func check(_ shard: Shard) {
    precondition(shard.offsets.count == shard.count + 1 && shard.offsets.last == shard.tokens.count)
    precondition(shard.tokens.allSatisfy { (0..<30_522).contains($0) })
    precondition(shard.labels.allSatisfy { $0 == -1 || (0..<4).contains($0) })
    for i in 0..<shard.count { _ = shard.tokens(of: i) }
    if shard.hasTargets {
        precondition(shard.targetOffsets.count == shard.count + 1 && shard.targetOffsets.last == shard.targets.count)
        precondition(shard.targets.allSatisfy { (0..<4).contains($0.label) && $0.weight.isFinite && $0.weight >= 0 })
        for i in 0..<shard.count { _ = shard.targets(of: i) }
    }
}
