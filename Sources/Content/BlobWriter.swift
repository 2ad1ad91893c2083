import Foundation
import Glibc
import IMCModel

import struct Crypto.SHA256

/// Streams one blob to a temporary file, hashing and counting on the way. It refuses a byte
/// beyond the declared size as soon as it arrives, and `commit` renames the file to its digest
/// only when size and digest match. Used on one thread at a time.
public final class BlobWriter {
    public let expected: Descriptor
    private let temporaryPath: String
    private let finalPath: String
    private var fd: Int32
    private var hasher = SHA256()
    /// Bytes written so far.
    public private(set) var written: Int64 = 0
    private var done = false

    init(expected: Descriptor, temporaryPath: String, finalPath: String) throws(ContentError) {
        self.expected = expected
        self.temporaryPath = temporaryPath
        self.finalPath = finalPath
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OCILayoutStore.ioError("create \(temporaryPath)") }
    }

    deinit {
        if !done { abort() }
    }

    /// Appends `bytes`; throws if they would take the blob past its declared size.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(ContentError) {
        guard !done else { throw ContentError(.io, "blob \(expected.digest) is already closed") }
        guard written + Int64(bytes.count) <= expected.size else {
            throw ContentError(.sizeMismatch, "blob \(expected.digest) is larger than the \(expected.size) bytes its descriptor declares")
        }
        hasher.update(bufferPointer: bytes)
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw OCILayoutStore.ioError("write \(temporaryPath)")
            }
            off += n
        }
        written += Int64(bytes.count)
    }

    /// Checks size and digest, makes the data durable and renames it into place.
    /// When `sync` is false the caller syncs the filesystem itself before relying on it.
    public func commit(sync: Bool = true) throws(ContentError) {
        guard !done else { return }
        guard written == expected.size else {
            abort()
            throw ContentError(.sizeMismatch, "blob \(expected.digest) has \(written) bytes, but its descriptor declares \(expected.size)")
        }
        let actual = Digest(sha256: hasher.finalize())
        guard actual == expected.digest else {
            abort()
            throw ContentError(.digestMismatch, "blob has digest \(actual), but \(expected.digest) was expected")
        }
        if sync && fsync(fd) != 0 {
            let e = OCILayoutStore.ioError("sync \(temporaryPath)")
            abort()
            throw e
        }
        close(fd)
        fd = -1
        done = true
        guard rename(temporaryPath, finalPath) == 0 else {
            let e = OCILayoutStore.ioError("rename \(temporaryPath)")
            unlink(temporaryPath)
            throw e
        }
    }

    /// Drops the partial file.
    public func abort() {
        if fd >= 0 { close(fd) }
        fd = -1
        done = true
        unlink(temporaryPath)
    }
}

/// Where a streamed blob goes: stored (`BlobWriter`) or only checked (`BlobVerifier`).
public protocol BlobSink: AnyObject {
    /// Appends `bytes`; throws if they would take the blob past its declared size.
    func write(_ bytes: UnsafeRawBufferPointer) throws(ContentError)
    /// Checks size and digest (and, for a writer, commits the file).
    func commit(sync: Bool) throws(ContentError)
    /// Drops whatever was written.
    func abort()
}

extension BlobWriter: BlobSink {}

/// Checks a streamed blob's size and digest without storing it: used for layers whose unpacked
/// directory is what is kept.
public final class BlobVerifier: BlobSink {
    public let expected: Descriptor
    private var hasher = SHA256()
    private var written: Int64 = 0

    public init(expected: Descriptor) { self.expected = expected }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ContentError) {
        guard written + Int64(bytes.count) <= expected.size else {
            throw ContentError(.sizeMismatch, "blob \(expected.digest) is larger than the \(expected.size) bytes its descriptor declares")
        }
        hasher.update(bufferPointer: bytes)
        written += Int64(bytes.count)
    }

    public func commit(sync: Bool = true) throws(ContentError) {
        guard written == expected.size else {
            throw ContentError(.sizeMismatch, "blob \(expected.digest) has \(written) bytes, but its descriptor declares \(expected.size)")
        }
        let actual = Digest(sha256: hasher.finalize())
        guard actual == expected.digest else {
            throw ContentError(.digestMismatch, "blob has digest \(actual), but \(expected.digest) was expected")
        }
    }

    public func abort() {}
}
