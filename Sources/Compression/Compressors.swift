import CZlib
import CZstd

/// Whole-buffer compressors, used to make test images (the test bed and the benchmarks).
public enum Compressor {
    /// gzip (RFC 1952) of `data` at `level`.
    public static func gzip(_ data: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        var rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw CompressionError("deflateInit2 failed: \(rc)") }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(data.count))) + 64)
        var input = data
        let written: Int = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { outp in
                stream.next_in = inp.baseAddress
                stream.avail_in = uInt(inp.count)
                stream.next_out = outp.baseAddress
                stream.avail_out = uInt(outp.count)
                rc = deflate(&stream, Z_FINISH)
                return outp.count - Int(stream.avail_out)
            }
        }
        guard rc == Z_STREAM_END else { throw CompressionError("deflate failed: \(rc)") }
        return Array(out[0..<written])
    }

    /// zstd of `data` at `level`.
    public static func zstd(_ data: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(data.count))
        let n = out.withUnsafeMutableBytes { o in
            data.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, level) }
        }
        guard ZSTD_isError(n) == 0 else { throw CompressionError("zstd compression failed") }
        return Array(out[0..<n])
    }

    /// `data` compressed as `compression` says.
    public static func compress(_ data: [UInt8], _ compression: Compression) throws -> [UInt8] {
        switch compression {
        case .none: return data
        case .gzip: return try gzip(data)
        case .zstd: return try zstd(data)
        }
    }
}
