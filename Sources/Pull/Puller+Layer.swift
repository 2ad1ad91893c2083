import Foundation
import IMCCompression
import IMCContent
import IMCModel
import IMCOS
import IMCRegistry
import IMCUnpack
import NIOCore
import Synchronization

/// One layer to fetch: everything its pipeline needs, handed to a pool thread.
struct LayerJob: @unchecked Sendable {
    var reference: ImageReference
    var descriptor: Descriptor
    var diffID: Digest
    var compression: Compression
    var index: Int
    var options: PullOptions
    var progress: @Sendable (PullEvent) -> Void
    var timeline: Timeline
}

/// A value that crosses to a pool thread and is used there alone.
struct Handoff<T>: @unchecked Sendable {
    let value: T
}

extension Puller {
    func pullLayer(_ job: LayerJob) async throws -> PullResult.Layer {
        let key = (job.options.downloadOnly ? "blob:" : "layer:") + job.descriptor.digest.hex
        return try await inFlight.run(key) { try await self.pullLayerOnce(job) }
    }

    private func pullLayerOnce(_ job: LayerJob) async throws -> PullResult.Layer {
        let d = job.descriptor
        var result = PullResult.Layer(
            digest: d.digest, diffID: job.diffID, mediaType: d.mediaType, size: d.size, unpackedSize: 0,
            path: job.options.downloadOnly ? nil : layers.path(of: job.diffID), reused: false)
        let haveBlob = store.contains(d.digest)
        if job.options.downloadOnly {
            if haveBlob {
                result.reused = true
                return result
            }
            let writer = Handoff(value: try store.writer(for: d))
            try await stream(job) { queue in
                try await BlockingPool.shared.run {
                    job.timeline.mark(.unpack)
                    defer { job.timeline.mark(.unpack) }
                    while let chunk = try queue.pop() {
                        try chunk.withUnsafeReadableBytes { try writer.value.write($0) }
                    }
                    try writer.value.commit()
                }
            } onFailure: {
                writer.value.abort()
            }
            return result
        }
        if layers.contains(job.diffID) {
            result.reused = true
            result.unpackedSize = layers.recordedSize(of: job.diffID) ?? 0
            return result
        }
        if haveBlob {
            // Downloaded before but not unpacked (a download-only pull, or a crash): unpack it.
            let path = store.path(of: d.digest)
            result.unpackedSize = try await BlockingPool.shared.run {
                job.timeline.mark(.unpack)
                defer { job.timeline.mark(.unpack) }
                return try self.unpack(source: FileSource(path: path), job: job, writer: nil)
            }
            return result
        }
        let sink: any BlobSink = job.options.keepLayerBlobs ? try store.writer(for: d) : BlobVerifier(expected: d)
        let writer = Handoff(value: sink)
        let unpacked = Mutex<Int64>(0)
        try await stream(job) { queue in
            let size = try await BlockingPool.shared.run {
                job.timeline.mark(.unpack)
                defer { job.timeline.mark(.unpack) }
                let source = QueueSource(queue) { try writer.value.write($0) }
                return try self.unpack(source: source, job: job, writer: writer.value)
            }
            unpacked.withLock { $0 = size }
        } onFailure: {
            writer.value.abort()
        }
        result.unpackedSize = unpacked.withLock { $0 }
        return result
    }

    /// Runs the download into a queue beside `consume`, which drains the queue on a pool thread.
    /// Whichever side fails first stops the other.
    private func stream(_ job: LayerJob, consume: @escaping @Sendable (ChunkQueue) async throws -> Void, onFailure: () -> Void) async throws
    {
        let queue = ChunkQueue()
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    job.timeline.mark(.download)
                    defer { job.timeline.mark(.download) }
                    do {
                        try await self.client.streamBlob(job.reference, job.descriptor) { chunk in
                            job.progress(.layerBytes(index: job.index, bytes: chunk.readableBytes))
                            try await queue.push(chunk)
                        }
                        queue.finish()
                    } catch {
                        queue.finish(error: error)
                        throw error
                    }
                }
                group.addTask {
                    do { try await consume(queue) } catch {
                        queue.abandon(error)
                        throw error
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            onFailure()
            throw error
        }
    }

    /// The blocking pipeline of one layer: decompress, hash (diff_id), extract into a temporary
    /// directory; then check both digests and only then commit blob and directory.
    /// Returns the unpacked size.
    func unpack(source: ByteSource, job: LayerJob, writer: (any BlobSink)?) throws -> Int64 {
        let temporary = try layers.makeTemporary(for: job.diffID.hex)
        do {
            let hashed = HashingSource(decompressing(source, job.compression), limit: job.options.limits.maxStreamBytes)
            let extractor = try LayerExtractor(root: temporary, limits: job.options.limits)
            try extractor.apply(TarReader(hashed, limits: job.options.limits))
            try hashed.drain()
            let diffID = Digest(sha256: hashed.finalize())
            guard diffID == job.diffID else {
                throw UnpackError(
                    .diffIDMismatch,
                    "layer \(job.descriptor.digest) unpacks to \(diffID), but the image config (rootfs.diff_ids) says \(job.diffID)")
            }
            try writer?.commit(sync: true)
            try layers.recordSize(extractor.stats.bytes, of: job.diffID)
            try layers.commit(temporary, as: job.diffID)
            return extractor.stats.bytes
        } catch {
            layers.discard(temporary)
            throw error
        }
    }
}

/// Deduplicates concurrent work on the same key: the second caller awaits the first's result,
/// so two pulls that need the same layer at once fetch it once.
actor InFlight {
    private var running: [String: Task<PullResult.Layer, any Error>] = [:]

    func run(_ key: String, _ work: @escaping @Sendable () async throws -> PullResult.Layer) async throws -> PullResult.Layer {
        if let task = running[key] {
            var shared = try await task.value
            shared.reused = true
            return shared
        }
        let task = Task { try await work() }
        running[key] = task
        defer { running[key] = nil }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}

/// When downloads and unpacking first started and last ended, for the pull summary.
final class Timeline: Sendable {
    enum Kind {
        case download
        case unpack
    }
    private let state = Mutex<[Bool: (first: ContinuousClock.Instant?, last: ContinuousClock.Instant?)]>([:])

    func mark(_ kind: Kind) {
        let now = ContinuousClock.now
        state.withLock { s in
            var entry = s[kind == .download] ?? (nil, nil)
            if entry.first == nil { entry.first = now }
            entry.last = now
            s[kind == .download] = entry
        }
    }

    func spans() -> (download: Double, unpack: Double) {
        state.withLock { s in
            func span(_ k: Bool) -> Double {
                guard let e = s[k], let a = e.first, let b = e.last else { return 0 }
                return (b - a).seconds
            }
            return (span(true), span(false))
        }
    }
}
