/// Lower-case hexadecimal, as digests, checksums, signatures and tokens are written.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The bytes as two lower-case hex digits each.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
