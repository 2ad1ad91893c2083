import struct Crypto.SHA256

/// A pull-based stream of bytes, read on one thread at a time. Decompressors, hashers and the
/// tar reader are `ByteSource`s stacked on each other, so that a layer flows from the network
/// through decompression into extraction with no whole blob held anywhere.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`; returns 0 only at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Errors from the compression layer.
public struct CompressionError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The compressed stream is malformed or truncated.
        case corrupt
        /// A cap on what a stream may expand to was passed.
        case tooLarge
        /// The library failed (it could not start, or ran out of memory).
        case library
    }
    public let code: Code
    public let message: String
    public let cause: (any Error)?
    public init(_ code: Code = .corrupt, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
    public init(_ message: String) { self.init(.corrupt, message) }
    public var description: String { message }
}

/// A source over bytes already in memory.
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}

/// Passes bytes through while computing their SHA-256 and counting them, so that a layer's
/// `diff_id` is checked on the same pass that extracts it.
public final class HashingSource: ByteSource {
    private let upstream: ByteSource
    private var hasher = SHA256()
    private let limit: Int64
    /// How many bytes have passed.
    public private(set) var count: Int64 = 0

    /// Hashes what `upstream` yields, refusing more than `limit` bytes in all (a decompression
    /// bomb hidden, for example, after the end of a tar archive).
    public init(_ upstream: ByteSource, limit: Int64 = .max) {
        self.upstream = upstream
        self.limit = limit
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try upstream.read(into: buffer)
        if n > 0 {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
            guard count <= limit else { throw CompressionError("stream is larger than the \(limit) bytes allowed") }
        }
        return n
    }

    /// Reads and hashes whatever is left, up to the end of the stream.
    public func drain() throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        while try read(into: scratch) > 0 {}
    }

    /// The raw SHA-256 of everything read so far.
    public func finalize() -> [UInt8] { Array(hasher.finalize()) }
}

/// The decompressing source for a layer's compression.
public func decompressing(_ source: ByteSource, _ compression: Compression) -> ByteSource {
    switch compression {
    case .none: return source
    case .gzip: return GzipSource(source)
    case .zstd: return ZstdSource(source)
    }
}

/// The compressions imc reads and writes (mirrors `IMCModel.LayerCompression`, which this
/// module does not import so that it stays a leaf).
public enum Compression: String, Sendable {
    case none
    case gzip
    case zstd
}
