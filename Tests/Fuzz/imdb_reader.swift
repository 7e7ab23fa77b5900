import Foundation
import RNNData

/// libFuzzer entry: any bytes given to the IMDB tarball reader (through
/// libarchive, as `prep imdb` reads aclImdb_v1.tar.gz) end in examples or a
/// DataError — never a crash, a hang or an out-of-bounds read (ASan).
let path = "/dev/shm/rnnkit-fuzz-\(getpid())-aclImdb.tar.gz"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMDBReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    guard let reader = try? IMDBReader(path: path, includeUnlabeled: true) else { return 0 }
    _ = try? reader.read(progress: { _ in }) { example in
        precondition(["train", "test", "unsup"].contains(example.split))
    }
    return 0
}
