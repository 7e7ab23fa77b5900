import RNNParquet

/// libFuzzer entry: any bytes given to the Parquet reader end in values or a
/// ParquetError — no crash, hang or out-of-bounds read (ASan).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParquetReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let file = try? ParquetFile(bytes: UnsafeRawBufferPointer(start: data, count: size), name: "fuzz") else {
        return 0
    }
    for group in 0..<file.rowGroupSizes.count {
        for column in 0..<file.columns.count {
            if let values = try? file.read(rowGroup: group, column: column) {
                precondition(values.count == file.rowGroupSizes[group])
            }
        }
    }
    return 0
}
