import Foundation
import IMCBillingService
import IMCCache
import IMCContent
import IMCDisks
import IMCInstance
import IMCModel
import IMCOS
import IMCObservability
import IMCPull
import IMCRegistry
import IMCServiceSupport
import IMCStore
import IMCUnpack
import Logging

/// Builds one cache: a builder slot, a data disk of `ImageCacheSize` GiB, every image pulled onto
/// it (a layer shared by two images stored once), a manifest of what it holds, the disk unmounted
/// and turned into a snapshot, the disk released, the cache Ready. Each step is an event. A
/// failure ends the cache Failed (UpdateFailed when it was being rebuilt, the old snapshot kept)
/// with a reason, and leaves no mount, disk or partial snapshot behind.
///
/// The pulls (the tenant's registry, the tenant's layers) run as a `BuildJob` in a
/// `BuildSandbox`, a child process that sees its build disk and nothing else of the host; this
/// process keeps the database, the key, the disks and the snapshots. The job is stopped at the
/// policy's deadline.
public final class CacheBuilder: Sendable {
    let repository: any CacheRepository
    let disks: DiskManager
    let snapshots: any SnapshotStore
    let workRoot: String
    let clientOptions: RegistryClientOptions
    let clock: any ServiceClock
    let logger: Logger
    /// Where build disks are listed while they exist.
    let diskRecords: (any DiskRepository)?
    /// The builder, the build disk and the snapshot, metered for the bill.
    let meter: Meter
    /// The deadline (and the builders' sharing, read by `BuildWorker`).
    let policy: BuildPolicy
    /// Registries the operator says speak plain HTTP (`imc serve --plain-http`), for every build.
    let plainHTTPHosts: Set<String>
    /// Where the job runs; nil: in this process (tests of the build's own steps).
    let sandbox: BuildSandbox?

    public init(
        repository: any CacheRepository, disks: DiskManager, snapshots: any SnapshotStore, workRoot: String,
        clientOptions: RegistryClientOptions = RegistryClientOptions(), clock: any ServiceClock = SystemClock(),
        diskRecords: (any DiskRepository)? = nil, meter: Meter = .off, policy: BuildPolicy = BuildPolicy(), sandbox: BuildSandbox? = nil,
        plainHTTPHosts: Set<String> = [], logger: Logger? = nil
    ) {
        self.plainHTTPHosts = plainHTTPHosts
        self.policy = policy
        self.sandbox = sandbox
        self.diskRecords = diskRecords
        self.meter = meter
        self.repository = repository
        self.disks = disks
        self.snapshots = snapshots
        self.workRoot = workRoot
        self.clientOptions = clientOptions
        self.clock = clock
        self.logger = logger ?? Logger(label: "imc.build", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// Builds `cache` (Pending or Updating) and stores the outcome; returns the cache as it ends.
    @discardableResult
    public func build(_ cacheID: String, account: String) async -> ImageCache? {
        // This build takes what the cache asks for now, a change queued before it included.
        guard var cache = try? await repository.modify(id: cacheID, account: account, { $0.rebuildQueued = nil }) else { return nil }
        let rebuilding = cache.status == .updating
        let started = ContinuousClock.now
        cache.buildPercent = 0
        await record(&cache, .builderStarted, "Builder instance (2 cores, 4 GiB) started for image cache \(cache.id)")
        let builderID = "builder-\(cache.id)-\(Int(clock.now().timeIntervalSince1970 * 1000))"
        await meter.start(.builder, account: cache.account, resource: builderID, cache: cache.id, quantity: 1)
        let ended = await buildMetered(&cache, rebuilding: rebuilding, started: started)
        await meter.stop(builderID)
        return ended
    }

    /// The build, while its builder is metered.
    private func buildMetered(_ cache: inout ImageCache, rebuilding: Bool, started: ContinuousClock.Instant) async -> ImageCache? {
        var disk: Disk?
        var digests: [String: String] = [:]
        var layers: [String: Int64] = [:]
        do {
            if let why = CacheCredential.unreadable(cache.credentials) { throw ServiceError(.secretUnreadable, "Build failed: \(why)") }
            let (disks, snapshots, size) = (self.disks, self.snapshots, cache.size)
            let d = try await disks.create(sizeGiB: size)
            disk = d
            var buildDisk = DiskRecord(
                id: d.id, account: cache.account, use: .build, instanceID: nil, cacheID: cache.id, sizeGiB: cache.size, diskType: .premium,
                createdAt: clock.now())
            buildDisk.node = disks.node
            try? await diskRecords?.insertDisk(buildDisk)
            await meter.start(.buildDisk, account: cache.account, resource: d.id, cache: cache.id, quantity: cache.size)
            await record(&cache, .diskCreated, "Data disk \(d.id) of \(cache.size) GiB created")
            let mountPoint = "\(workRoot)/\(cache.id)"
            try await disks.mount(d, at: mountPoint, directIO: true)
            do {
                var job = BuildJob(cache: cache, options: clientOptions)
                job.plainHTTPHosts = Array(plainHTTPHosts.union(job.plainHTTPHosts)).sorted()
                try await runJob(
                    job, root: mountPoint, cache: &cache, digests: &digests, layers: &layers)
                try await disks.unmount(mountPoint)
            } catch {
                try? await disks.unmount(mountPoint)
                throw error
            }
            await record(&cache, .snapshotCreating, "Creating snapshot of disk \(d.id)")
            let snapshot = try await snapshots.create(from: d)
            await disks.remove(d)
            try? await diskRecords?.deleteDisk(id: d.id)
            await meter.stop(d.id)
            disk = nil
            await meter.start(.snapshot, account: cache.account, resource: snapshot.id, cache: cache.id, quantity: cache.size)
            let old = cache.snapshotID
            // From here the new snapshot serves, with the images and size it was built with.
            cache.serve(snapshot: snapshot.id, checksum: snapshot.checksum, digests: digests)
            cache.snapshotLayers = layers
            cache.lastRefreshCheck = clock.now()
            await record(&cache, .snapshotCreated, "Snapshot \(snapshot.id) created; disk \(d.id) and the builder released")
            // Ready with its event in one write: a client that sees the status sees the event.
            cache.status = .ready
            await record(
                &cache, .ready,
                String(format: "Image cache %@ is ready (%.1f s)", cache.id, (ContinuousClock.now - started).seconds))
            if let old, old != snapshot.id {
                snapshots.delete(id: old)
                await meter.stop(old)
            }
        } catch {
            if let disk {
                await disks.remove(disk)
                try? await diskRecords?.deleteDisk(id: disk.id)
                await meter.stop(disk.id)
            }
            if error is CancellationError {
                // The service is stopping: the cache stays queued and is built at the next start.
                logger.info("build stopped with the service", metadata: ["cache": "\(cache.id)"])
                return nil
            }
            cache.status = rebuilding ? .updateFailed : .failed
            await record(&cache, reason(for: error), describe(error, cache: cache))
        }
        let outcome = cache.status == .ready ? "ready" : cache.status == .updateFailed ? "update_failed" : "failed"
        IMCMetrics.buildFinished(outcome: outcome, seconds: (ContinuousClock.now - started).seconds)
        if await (try? save(cache)) != true {
            // The cache was deleted while it built: its snapshot must not outlive it.
            if cache.status == .ready, let id = cache.snapshotID {
                snapshots.delete(id: id)
                await meter.stop(id)
            }
            logger.info("cache deleted during its build", metadata: ["cache": "\(cache.id)"])
            return cache
        }
        return await (try? repository.get(id: cache.id, account: cache.account)) ?? cache
    }

    /// Takes the checksums of snapshots that lack one, on a thread of their own: a snapshot is
    /// sealed when its cache becomes Ready and hashed right after, off the build's critical path.
    /// `caches`: the ones just built; nil looks at every cache (once, after a restart). Returns
    /// how many were taken.
    @discardableResult
    public func checksumSnapshots(of caches: [ImageCache]? = nil) async -> Int {
        var candidates = caches ?? []
        if caches == nil { candidates = (try? await repository.all(in: [.ready, .updating, .updateFailed])) ?? [] }
        let pending = candidates.filter { $0.snapshotChecksum == nil && $0.snapshotID != nil }
        var taken = 0
        for cache in pending {
            guard let id = cache.snapshotID else { continue }
            let snapshots = self.snapshots
            let result: Result<String, any Error>
            do { result = .success(try await snapshots.takeChecksum(id: id)) } catch { result = .failure(error) }
            switch result {
            case .success(let sum):
                let stored = try? await repository.modify(id: cache.id, account: cache.account) { fresh in
                    if fresh.snapshotID == id { fresh.snapshotChecksum = sum }
                }
                if stored?.snapshotChecksum == sum { taken += 1 }
                logger.info("snapshot checksum taken", metadata: ["cache": "\(cache.id)", "snapshot": "\(id)"])
            case .failure(let error):
                logger.error("snapshot checksum failed", metadata: ["cache": "\(cache.id)", "snapshot": "\(id)", "error": "\(error)"])
            }
        }
        return taken
    }

    /// Writes what the build owns onto the stored cache: its status, the snapshot once the cache
    /// is Ready, and `event` appended. What others change meanwhile (the user's name, retention
    /// and tags; a scrubber's verdict and event) stays as they left it. False: the cache was
    /// deleted.
    @discardableResult
    private func save(_ cache: ImageCache, event: (CacheEventReason, String, Date)? = nil) async throws -> Bool {
        // (A worker looks for queued caches again as soon as a build ends.)
        try await repository.modify(id: cache.id, account: cache.account) { stored in
            stored.status = cache.status
            stored.buildPercent = cache.buildPercent
            if cache.status == .ready {
                stored.snapshotID = cache.snapshotID
                stored.snapshotChecksum = cache.snapshotChecksum
                stored.snapshotImages = cache.snapshotImages
                stored.snapshotSize = cache.snapshotSize
                stored.snapshotDigests = cache.snapshotDigests
                stored.snapshotLayers = cache.snapshotLayers
                stored.lastRefreshCheck = cache.lastRefreshCheck
            }
            if let (reason, message, at) = event { stored.record(reason, message, at: at) }
            // A change made while this build ran is built next, from where this one left it.
            if stored.rebuildQueued == true, [.ready, .failed, .updateFailed].contains(cache.status), event == nil {
                stored.rebuildQueued = nil
                stored.status = stored.snapshotID == nil ? .pending : .updating
                stored.buildPercent = 0
                stored.record(
                    .updating, "Image cache \(stored.id) will be rebuilt with the change made during the last build", at: clock.now())
            }
        } != nil
    }

    private func record(_ cache: inout ImageCache, _ reason: CacheEventReason, _ message: String) async {
        let at = clock.now()
        cache.record(reason, message, at: at)
        _ = try? await save(cache, event: (reason, message, at))
        logger.info("\(reason.rawValue): \(message)", metadata: ["cache": "\(cache.id)"])
    }

    /// Runs the job (in the sandbox, or here) on the disk mounted at `root`, recording its
    /// steps as they come, and stops it at the deadline.
    private func runJob(
        _ job: BuildJob, root: String, cache: inout ImageCache, digests: inout [String: String], layers: inout [String: Int64]
    ) async throws {
        let (stream, continuation) = AsyncStream<BuildMessage>.makeStream()
        let (sandbox, logger) = (self.sandbox, self.logger)
        let work = Task {
            defer { continuation.finish() }
            if let sandbox {
                try await sandbox.run(job, root: root, emit: { continuation.yield($0) })
            } else {
                try await job.run(root: root, logger: logger, emit: { continuation.yield($0) })
            }
        }
        // The deadline is real time spent working (not the service clock, which tests move).
        let deadline = policy.deadline
        let timer = Task {
            try await Task.sleep(for: deadline)
            work.cancel()
            return true
        }
        // The service stopping (this task cancelled) stops the job too.
        let result = await withTaskCancellationHandler {
            for await message in stream {
                switch message.kind {
                case .pulling: await record(&cache, .pulling, message.message)
                case .pulled:
                    if let image = message.image, let digest = message.digest { digests[image] = digest }
                    for (digest, size) in message.layers ?? [:] { layers[digest] = size }
                    await record(&cache, .pulled, message.message)
                    IMCMetrics.pulled(bytes: message.downloadedBytes ?? 0)
                case .progress:
                    cache.buildPercent = message.percent
                    _ = try? await save(cache)
                case .failed, .done: break
                }
            }
            return await work.result
        } onCancel: {
            work.cancel()
        }
        timer.cancel()
        let expired = (try? await timer.value) == true
        if expired {
            let minutes = Double(deadline.components.seconds) / 60
            throw BuildFailure(
                .buildDeadlineExceeded,
                String(
                    format: "Build stopped: it ran past its deadline of %@ minutes",
                    minutes.rounded() == minutes ? "\(Int(minutes))" : "\(minutes)"))
        }
        try Task.checkCancellation()
        try result.get()
    }

    private func reason(for error: any Error) -> CacheEventReason {
        switch error {
        case let e as BuildFailure: return e.reason
        case let e as ServiceError where e.code == .diskTooSmall: return .diskTooSmall
        case let e as ServiceError where e.code == .secretUnreadable: return .credentialsUnreadable
        case let e as PullError:
            switch e.code {
            case .notFound: return .imageNotFound
            case .unauthorized: return .registryUnauthorized
            case .unreachable: return .registryUnreachable
            default: return .pullFailed
            }
        case is DiskError: return .diskFailed
        default: return .buildFailed
        }
    }

    private func describe(_ error: any Error, cache: ImageCache) -> String {
        switch error {
        case let e as BuildFailure: return e.message
        case let e as ServiceError where e.code == .diskTooSmall || e.code == .secretUnreadable: return e.message
        case let e as PullError: return "Build failed: \(e.message)"
        case let e as DiskError: return "Build failed: \(e.message)"
        default: return "Build failed: \(String(describing: error).prefix(300))"
        }
    }
}
