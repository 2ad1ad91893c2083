import Foundation
import IMCCache
import IMCDisks
import IMCModel
import IMCStore
import Logging
import ServiceLifecycle

/// Re-reads every snapshot's bytes against its checksum, one after another on a thread of its
/// own, every `interval`. A snapshot's seal guards it against changes made through the
/// filesystem; this catches the rest (a raw write into the pool's backing file, a bad sector).
/// A cache whose snapshot no longer matches ends Failed with a Warning event, so that it is
/// never matched again; its snapshot is kept for inspection until the cache is deleted.
public struct SnapshotScrubber: Service {
    let repository: any CacheRepository
    let snapshots: any SnapshotStore
    let interval: Duration
    let clock: any ServiceClock
    let logger: Logger

    public init(
        repository: any CacheRepository, snapshots: any SnapshotStore, interval: Duration, clock: any ServiceClock = SystemClock(),
        logger: Logger
    ) {
        self.repository = repository
        self.snapshots = snapshots
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelledOrShuttingDown { return }
            await scrub()
        }
    }

    /// One pass over every serving cache's snapshot; returns the ids of the caches found corrupt.
    @discardableResult
    public func scrub() async -> [String] {
        var corrupt: [String] = []
        for cache in await (try? repository.all(in: CacheStatus.serving)) ?? [] {
            guard let id = cache.snapshotID, let checksum = cache.snapshotChecksum else { continue }
            let snapshots = self.snapshots
            do throws(DiskError) {
                try await snapshots.verify(Snapshot(id: id, sizeGiB: cache.servedSize, checksum: checksum))
            } catch  where error.code == .corrupt {
                let at = clock.now()
                var (hit, dropped) = (false, false)
                _ = try? await repository.modify(id: cache.id, account: cache.account) { fresh in
                    guard fresh.snapshotID == id else { return }
                    hit = true
                    if fresh.status == .updating {
                        // The rebuild goes on and its snapshot will serve; the corrupt one stops now.
                        (fresh.snapshotID, fresh.snapshotChecksum, fresh.snapshotImages, fresh.snapshotSize) = (nil, nil, nil, nil)
                        dropped = true
                    } else {
                        fresh.status = .failed
                    }
                    fresh.record(
                        .snapshotCorrupt,
                        "Snapshot \(id) no longer matches its checksum; it is not used. "
                            + (dropped ? "The update being built replaces it" : "Delete the cache and create it again"), at: at)
                }
                guard hit else { continue }
                if dropped { snapshots.delete(id: id) }
                logger.error("snapshot corrupt", metadata: ["cache": "\(cache.id)", "snapshot": "\(id)"])
                corrupt.append(cache.id)
            } catch {
                logger.error("snapshot scrub failed", metadata: ["cache": "\(cache.id)", "error": "\(error)"])
            }
        }
        return corrupt
    }
}
