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

    /// One pass over every Ready cache's snapshot; returns the ids of the caches found corrupt.
    @discardableResult
    public func scrub() async -> [String] {
        var corrupt: [String] = []
        for cache in (try? repository.all(in: [.ready])) ?? [] {
            guard let id = cache.snapshotID, let checksum = cache.snapshotChecksum else { continue }
            let snapshots = self.snapshots
            do throws(DiskError) {
                try await snapshots.verify(Snapshot(id: id, sizeGiB: cache.size, checksum: checksum))
            } catch  where error.code == .corrupt {
                guard var fresh = try? repository.get(id: cache.id, account: cache.account), fresh.snapshotID == id else { continue }
                fresh.status = .failed
                fresh.record(
                    .snapshotCorrupt,
                    "Snapshot \(id) no longer matches its checksum; the cache is not used. Delete it and create it again", at: clock.now())
                try? repository.update(fresh)
                logger.error("snapshot corrupt", metadata: ["cache": "\(cache.id)", "snapshot": "\(id)"])
                corrupt.append(cache.id)
            } catch {
                logger.error("snapshot scrub failed", metadata: ["cache": "\(cache.id)", "error": "\(error)"])
            }
        }
        return corrupt
    }
}
