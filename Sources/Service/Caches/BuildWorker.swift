import Foundation
import IMCCache
import IMCDisks
import IMCPull
import IMCServiceSupport
import IMCStore
import Logging
import ServiceLifecycle

/// Builds Pending and Updating caches for as long as the service runs. Several copies of one
/// worker can run at once (`imc serve --builders N`): they share one `BuildQueue`, so each cache
/// is built by one of them, no account holds more than its share of them, and the next build
/// goes to the account served least recently (one account's thousand queued caches, or its
/// stalled registry, do not hold another account's build). Across processes (replicas sharing
/// PostgreSQL), a build is claimed in the store by `owner` for a lease renewed while it runs, so
/// no two hosts build one cache; a host that died leaves claims that expire. Call `recover()`
/// once before starting them.
public struct BuildWorker: Service {
    let queue: BuildQueue
    let builder: CacheBuilder
    let repository: any CacheRepository
    let disks: DiskManager
    let snapshots: any SnapshotStore
    let pollInterval: Duration
    let wakeup: Wakeup?
    let logger: Logger
    /// Who claims builds in the store: this host (the same after a restart, so that its own
    /// claims are taken back at once).
    let owner: String
    /// How long a claim lasts without being renewed.
    let lease: Duration

    public init(
        builder: CacheBuilder, repository: any CacheRepository, disks: DiskManager, snapshots: any SnapshotStore,
        pollInterval: Duration = .milliseconds(500), wakeup: Wakeup? = nil, owner: String = ProcessInfo.processInfo.hostName,
        lease: Duration = .seconds(60), logger: Logger
    ) {
        self.owner = owner
        self.lease = lease
        self.wakeup = wakeup
        self.builder = builder
        self.repository = repository
        self.disks = disks
        self.snapshots = snapshots
        self.pollInterval = pollInterval
        self.logger = logger
        queue = BuildQueue(policy: builder.policy)
    }

    public func run() async throws {
        // Snapshots made before a restart may still lack their checksum: all are looked at once;
        // after that, only the snapshots of the builds this worker ran.
        await builder.checksumSnapshots()
        while !Task.isCancelledOrShuttingDown {
            // Enough of each account's queue to find one not yet taken by another copy.
            let heads = await (try? repository.queueHeads(perAccount: queue.policy.perAccount + 16, owner: owner, now: Date())) ?? []
            if let cache = queue.claimNext(from: heads, id: \.id, account: \.account) {
                // Another host may have claimed it since the heads were read: the next read
                // leaves it out.
                guard await (try? repository.claimBuild(id: cache.id, owner: owner, until: leaseEnd(), now: Date())) == true else {
                    queue.release(id: cache.id, account: cache.account)
                    continue
                }
                let renewal = Task { [repository, owner, lease] in
                    while !Task.isCancelled {
                        try await Task.sleep(for: lease / 3)
                        try? await repository.renewBuildClaims(owner: owner, until: Date().addingTimeInterval(lease.seconds))
                    }
                }
                let done = await builder.build(cache.id, account: cache.account)
                renewal.cancel()
                try? await repository.releaseBuildClaims(owner: owner, id: cache.id)
                queue.release(id: cache.id, account: cache.account)
                // Another copy may have been waiting for this account's share.
                wakeup?.signal()
                if let done { await builder.checksumSnapshots(of: [done]) }
                continue
            }
            if let wakeup {
                await wakeup.wait(upTo: pollInterval)
            } else {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
            }
        }
    }

    private func leaseEnd() -> Date { Date().addingTimeInterval(lease.seconds) }

    /// Removes what a crash left: build mounts, disk images no record accounts for (all but
    /// `keepingDisks`, the disks instances hold or retain), and snapshots that no cache points
    /// at. Caches that were building are simply built again.
    public func recover(keepingDisks: Set<String> = []) async throws {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: builder.workRoot) {
            for e in entries { try? await disks.unmount("\(builder.workRoot)/\(e)") }
        }
        for id in disks.allDiskIDs() where !keepingDisks.contains(id) { await disks.remove(disks.disk(id: id, sizeGiB: 0)) }
        // This host's claims from before the restart: its builds start again from the queue.
        try? await repository.releaseBuildClaims(owner: owner, id: nil)
        // Builds the crash interrupted stopped costing when it happened; they are closed now.
        await builder.meter.stopAll([.builder, .buildDisk])
        let kept = await Set(try repository.all(in: CacheStatus.allCases).compactMap(\.snapshotID))
        for id in snapshots.allSnapshotIDs() where !kept.contains(id) {
            logger.info("removing an orphaned snapshot", metadata: ["snapshot": "\(id)"])
            snapshots.delete(id: id)
            await builder.meter.stop(id)
        }
    }
}

extension Task where Success == Never, Failure == Never {
    package static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
