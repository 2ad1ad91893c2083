import Foundation
import IMCCache
import IMCContent
import IMCDisks
import IMCInstance
import IMCModel
import IMCOS
import IMCObservability
import IMCPull
import IMCRegistry
import IMCStore
import IMCUnpack
import Logging

/// Builds one cache: a builder slot, a data disk of `ImageCacheSize` GiB, every image pulled onto
/// it (a layer shared by two images stored once), a manifest of what it holds, the disk unmounted
/// and turned into a snapshot, the disk released, the cache Ready. Each step is an event. A
/// failure ends the cache Failed (UpdateFailed when it was being rebuilt, the old snapshot kept)
/// with a reason, and leaves no mount, disk or partial snapshot behind.
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

    public init(
        repository: any CacheRepository, disks: DiskManager, snapshots: any SnapshotStore, workRoot: String,
        clientOptions: RegistryClientOptions = RegistryClientOptions(), clock: any ServiceClock = SystemClock(),
        diskRecords: (any DiskRepository)? = nil, meter: Meter = .off, logger: Logger? = nil
    ) {
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
        guard var cache = try? repository.get(id: cacheID, account: account) else { return nil }
        let rebuilding = cache.status == .updating
        let started = ContinuousClock.now
        record(&cache, .builderStarted, "Builder instance (2 cores, 4 GiB) started for image cache \(cache.id)")
        let builderID = "builder-\(cache.id)-\(Int(clock.now().timeIntervalSince1970 * 1000))"
        meter.start(.builder, account: cache.account, resource: builderID, cache: cache.id, quantity: 1)
        defer { meter.stop(builderID) }
        var disk: Disk?
        do {
            let (disks, snapshots, size) = (self.disks, self.snapshots, cache.size)
            let d = try await disks.create(sizeGiB: size)
            disk = d
            try? diskRecords?.insertDisk(
                DiskRecord(
                    id: d.id, account: cache.account, use: .build, instanceID: nil, cacheID: cache.id, sizeGiB: cache.size,
                    diskType: .premium, createdAt: clock.now()))
            meter.start(.buildDisk, account: cache.account, resource: d.id, cache: cache.id, quantity: cache.size)
            record(&cache, .diskCreated, "Data disk \(d.id) of \(cache.size) GiB created")
            let mountPoint = "\(workRoot)/\(cache.id)"
            try await disks.mount(d, at: mountPoint, directIO: true)
            do {
                try await pullAll(&cache, into: mountPoint)
                try await disks.unmount(mountPoint)
            } catch {
                try? await disks.unmount(mountPoint)
                throw error
            }
            record(&cache, .snapshotCreating, "Creating snapshot of disk \(d.id)")
            let snapshot = try await snapshots.create(from: d)
            disks.remove(d)
            try? diskRecords?.deleteDisk(id: d.id)
            meter.stop(d.id)
            disk = nil
            meter.start(.snapshot, account: cache.account, resource: snapshot.id, cache: cache.id, quantity: cache.size)
            let old = cache.snapshotID
            cache.snapshotID = snapshot.id
            cache.snapshotChecksum = snapshot.checksum
            cache.status = .ready
            record(&cache, .snapshotCreated, "Snapshot \(snapshot.id) created; disk \(d.id) and the builder released")
            record(
                &cache, .ready,
                String(format: "Image cache %@ is ready (%.1f s)", cache.id, (ContinuousClock.now - started).seconds))
            if let old, old != snapshot.id {
                snapshots.delete(id: old)
                meter.stop(old)
            }
        } catch {
            if let disk {
                disks.remove(disk)
                try? diskRecords?.deleteDisk(id: disk.id)
                meter.stop(disk.id)
            }
            cache.status = rebuilding ? .updateFailed : .failed
            record(&cache, reason(for: error), describe(error, cache: cache))
        }
        let outcome = cache.status == .ready ? "ready" : cache.status == .updateFailed ? "update_failed" : "failed"
        IMCMetrics.buildFinished(outcome: outcome, seconds: (ContinuousClock.now - started).seconds)
        do { try repository.update(cache) } catch {
            // The cache was deleted while it built: its snapshot must not outlive it.
            if cache.status == .ready, let id = cache.snapshotID {
                snapshots.delete(id: id)
                meter.stop(id)
            }
            logger.info("cache deleted during its build", metadata: ["cache": "\(cache.id)"])
        }
        return cache
    }

    /// Takes the checksums of snapshots that lack one, on a thread of their own: a snapshot is
    /// sealed when its cache becomes Ready and hashed right after, off the build's critical path.
    /// `caches`: the ones just built; nil looks at every cache (once, after a restart). Returns
    /// how many were taken.
    @discardableResult
    public func checksumSnapshots(of caches: [ImageCache]? = nil) async -> Int {
        let candidates = caches ?? ((try? repository.all(in: [.ready, .updating, .updateFailed])) ?? [])
        let pending = candidates.filter { $0.snapshotChecksum == nil && $0.snapshotID != nil }
        var taken = 0
        for cache in pending {
            guard let id = cache.snapshotID else { continue }
            let snapshots = self.snapshots
            let result: Result<String, any Error>
            do { result = .success(try await snapshots.takeChecksum(id: id)) } catch { result = .failure(error) }
            switch result {
            case .success(let sum):
                guard var fresh = try? repository.get(id: cache.id, account: cache.account), fresh.snapshotID == id else { continue }
                fresh.snapshotChecksum = sum
                if (try? repository.update(fresh)) != nil { taken += 1 }
                logger.info("snapshot checksum taken", metadata: ["cache": "\(cache.id)", "snapshot": "\(id)"])
            case .failure(let error):
                logger.error("snapshot checksum failed", metadata: ["cache": "\(cache.id)", "snapshot": "\(id)", "error": "\(error)"])
            }
        }
        return taken
    }

    private func record(_ cache: inout ImageCache, _ reason: CacheEventReason, _ message: String) {
        cache.record(reason, message, at: clock.now())
        try? repository.update(cache)
        logger.info("\(reason.rawValue): \(message)", metadata: ["cache": "\(cache.id)"])
    }

    /// Pulls every image onto the mounted disk at `root` and writes its `CacheDiskManifest` there.
    private func pullAll(_ cache: inout ImageCache, into root: String) async throws {
        let config = RegistryConfig(
            credentials: cache.credentials.map { RegistryCredential(server: $0.server, username: $0.username, password: $0.password) },
            plainHTTPHosts: Set(cache.registryHttpEndPointList), skipVerifyHosts: Set(cache.registrySkipVerifyList))
        let client = RegistryClient(config: config, options: clientOptions, logger: logger)
        let puller = Puller(
            client: client, store: try OCILayoutStore(root: root + "/images"), layers: try LayerStore(root: root + "/layers"),
            logger: logger)
        var manifest = CacheDiskManifest(cacheID: cache.id)
        do {
            for image in cache.images {
                let reference = try ImageReference(parsing: image)
                record(&cache, .pulling, "Pulling image \(image)")
                let t0 = ContinuousClock.now
                let result = try await puller.pull(reference)
                IMCMetrics.pulled(bytes: result.layers.filter { !$0.reused }.reduce(0) { $0 + $1.size })
                record(
                    &cache, .pulled,
                    String(
                        format: "Pulled image %@ (%@, %@): %lld bytes downloaded, %lld unpacked, in %.1f s", image,
                        result.manifestDigest.description,
                        result.platform, result.layers.filter { !$0.reused }.reduce(0) { $0 + $1.size }, result.unpackedBytes,
                        (ContinuousClock.now - t0).seconds))
                manifest.images.append(
                    .init(
                        reference: image, normalized: reference.description, manifestDigest: result.manifestDigest.description,
                        platform: result.platform,
                        layers: result.layers.map {
                            .init(
                                digest: $0.digest, diffID: $0.diffID, mediaType: $0.mediaType, size: $0.size, unpackedSize: $0.unpackedSize)
                        }))
            }
            try AtomicFile.write(try manifest.encoded(), to: root + "/" + CacheDiskManifest.fileName)
            try await client.shutdown()
        } catch {
            if let e = error as? PullError, e.code == .diskFull {
                let needed = await estimateGiB(cache, client: client)
                try? await client.shutdown()
                throw ServiceError(
                    .diskTooSmall,
                    "The images do not fit in ImageCacheSize \(cache.size) GiB: they need about \(needed) GiB unpacked. Ask for ImageCacheSize \(needed) or more.",
                    cause: e)
            }
            try? await client.shutdown()
            throw error
        }
    }

    /// About how many GiB the images need unpacked: their compressed layers (from the
    /// registry's manifests) times 3, plus a tenth for the filesystem.
    private func estimateGiB(_ cache: ImageCache, client: RegistryClient) async -> Int {
        var compressed: Int64 = 0
        for image in cache.images {
            guard let ref = try? ImageReference(parsing: image), var fetched = try? await client.fetchManifest(ref) else { continue }
            if case .index(let index) = fetched.document,
                let entry = index.manifests.first(where: { $0.platform.map(Platform.host.matches) ?? false }),
                let m = try? await client.fetchManifest(ref, reference: entry.digest.description)
            {
                fetched = m
            }
            if case .manifest(let m) = fetched.document { compressed += m.layers.reduce(0) { $0 + $1.size } }
        }
        let bytes = Double(compressed) * 3 * 1.1
        return max(cache.size * 2, Int((bytes / Double(1 << 30)).rounded(.up)))
    }

    private func reason(for error: any Error) -> CacheEventReason {
        switch error {
        case let e as ServiceError where e.code == .diskTooSmall: return .diskTooSmall
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
        case let e as ServiceError where e.code == .diskTooSmall: return e.message
        case let e as PullError: return "Build failed: \(e.message)"
        case let e as DiskError: return "Build failed: \(e.message)"
        default: return "Build failed: \(String(describing: error).prefix(300))"
        }
    }
}
