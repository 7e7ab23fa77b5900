import CZlib

/// CRC-32 with zlib's polynomial, as stored in shards and the manifest.
public func crc32Checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    var crc = UInt(crc)
    var offset = 0
    // zlib takes a 32-bit length; feed it in slices so huge buffers work.
    while offset < bytes.count {
        let length = min(bytes.count - offset, 1 << 30)
        crc = CZlib.crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), uInt(length))
        offset += length
    }
    return UInt32(crc)
}

public func crc32Checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { crc32Checksum($0) }
}

public func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
