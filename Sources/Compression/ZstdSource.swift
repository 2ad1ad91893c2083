import CZstd

/// Decompresses a zstd stream (one or more frames).
public final class ZstdSource: ByteSource {
    private let upstream: ByteSource
    private let context: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var inputEnd = false
    private var frameOpen = false

    public init(_ upstream: ByteSource) {
        self.upstream = upstream
        context = ZSTD_createDCtx()
        // Refuse windows beyond 128 MiB (a memory bomb), as zstd's CLI does by default.
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, 27)
        input = .allocate(byteCount: Int(ZSTD_DStreamInSize()), alignment: 64)
    }

    deinit {
        ZSTD_freeDCtx(context)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        while out.pos == 0 {
            if inBuffer.pos == inBuffer.size {
                if inputEnd { break }
                let n = try upstream.read(into: input)
                if n == 0 {
                    inputEnd = true
                    break
                }
                inBuffer = ZSTD_inBuffer(src: UnsafeRawPointer(input.baseAddress), size: n, pos: 0)
            }
            let rc = ZSTD_decompressStream(context, &out, &inBuffer)
            if ZSTD_isError(rc) != 0 {
                throw CompressionError("zstd stream is corrupt: \(String(cString: ZSTD_getErrorName(rc)))")
            }
            frameOpen = rc != 0
        }
        if out.pos == 0 && inputEnd && frameOpen {
            throw CompressionError("zstd stream ends in the middle of a frame")
        }
        return out.pos
    }
}
