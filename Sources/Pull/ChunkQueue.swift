import Foundation
import IMCCompression
import NIOCore

/// Hands network chunks from an async producer to a blocking consumer thread, with
/// backpressure: `push` suspends (never blocks a thread) while more than `capacity` bytes wait.
/// Either side can fail the other: `finish(error:)` ends the consumer's stream with an error,
/// `abandon(_:)` makes the producer's next `push` throw.
final class ChunkQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [ByteBuffer] = []
    private var head = 0
    private var queuedBytes = 0
    private var finished = false
    private var failure: (any Error)?
    private var abandoned: (any Error)?
    private var waiter: CheckedContinuation<Void, any Error>?
    private let capacity: Int

    init(capacity: Int = 8 << 20) { self.capacity = capacity }

    /// Adds a chunk; suspends while the queue is full.
    func push(_ chunk: ByteBuffer) async throws {
        guard try enqueue(chunk) else { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            waitForRoom(c)
        }
    }

    /// Appends under the lock; true when the queue is now full.
    private func enqueue(_ chunk: ByteBuffer) throws -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if let abandoned { throw abandoned }
        chunks.append(chunk)
        queuedBytes += chunk.readableBytes
        condition.signal()
        return queuedBytes >= capacity
    }

    private func waitForRoom(_ c: CheckedContinuation<Void, any Error>) {
        condition.lock()
        if let abandoned {
            condition.unlock()
            c.resume(throwing: abandoned)
        } else if queuedBytes < capacity {
            condition.unlock()
            c.resume()
        } else {
            waiter = c
            condition.unlock()
        }
    }

    /// Ends the stream: the consumer reads what is queued, then end of stream or `error`.
    func finish(error: (any Error)? = nil) {
        condition.lock()
        finished = true
        failure = error
        condition.signal()
        condition.unlock()
    }

    /// The consumer gave up: the producer's pending and later pushes throw `error`.
    func abandon(_ error: any Error) {
        condition.lock()
        abandoned = error
        let w = waiter
        waiter = nil
        chunks.removeAll()
        head = 0
        queuedBytes = 0
        condition.unlock()
        w?.resume(throwing: error)
    }

    /// Blocks until a chunk is available; nil at the end of the stream.
    func pop() throws -> ByteBuffer? {
        condition.lock()
        while head == chunks.count && !finished { condition.wait() }
        if head < chunks.count {
            let chunk = chunks[head]
            head += 1
            if head > 64 && head * 2 > chunks.count {
                chunks.removeFirst(head)
                head = 0
            }
            queuedBytes -= chunk.readableBytes
            var resume: CheckedContinuation<Void, any Error>?
            if queuedBytes < capacity / 2, let w = waiter {
                resume = w
                waiter = nil
            }
            condition.unlock()
            resume?.resume()
            return chunk
        }
        let error = failure
        condition.unlock()
        if let error { throw error }
        return nil
    }
}

/// The consumer side of a `ChunkQueue` as a `ByteSource`, handing every chunk to `tee` too
/// (the blob writer, which hashes and stores the compressed bytes).
final class QueueSource: ByteSource {
    private let queue: ChunkQueue
    private let tee: (UnsafeRawBufferPointer) throws -> Void
    private var current: ByteBuffer?

    init(_ queue: ChunkQueue, tee: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.queue = queue
        self.tee = tee
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while current == nil || current!.readableBytes == 0 {
            guard let next = try queue.pop() else { return 0 }
            try next.withUnsafeReadableBytes { try tee($0) }
            current = next
        }
        let n = min(buffer.count, current!.readableBytes)
        current!.withUnsafeReadableBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: n)
        }
        current!.moveReaderIndex(forwardBy: n)
        return n
    }
}

/// A blob already in the content store, read back to unpack it.
final class FileSource: ByteSource {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PullError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Foundation.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw PullError(.io, "read failed: \(String(cString: strerror(errno)))") }
        }
    }
}
