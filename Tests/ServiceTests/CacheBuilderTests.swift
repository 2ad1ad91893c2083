import Foundation
import IMCCache
import IMCCaches
import IMCDisks
import IMCInstance
import IMCOS
import IMCTestSupport
import Logging
import Testing

@testable import IMCStore

/// Builds caches for real: images from the scriptable registry onto loop-mounted ext4 disks in
/// an XFS pool, snapshotted. Disk sizes use a small "GiB" (16 MiB) so that a too-small disk is
/// cheap to fill.
@Suite(.enabled(if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs"), "needs root and xfsprogs"))
final class CacheBuilderTests {
    let dir: TemporaryDirectory
    let pool: DiskPool
    let disks: DiskManager
    let snapshots: LocalSnapshotStore
    let database: SQLiteDatabase
    let repository: SQLCacheRepository
    let builder: CacheBuilder
    let diskRecords: SQLInstanceRepository

    init() async throws {
        dir = try TemporaryDirectory(prefix: "imc-build")
        pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: 64)
        disks = DiskManager(pool: pool, bytesPerGiB: 16 << 20)
        snapshots = LocalSnapshotStore(disks: disks)
        database = try SQLiteDatabase(path: dir.appending("imc.sqlite"))
        repository = SQLCacheRepository(database: database)
        diskRecords = SQLInstanceRepository(database: database)
        var options = RegistryClientOptionsForTests.fast
        options.connectTimeout = .seconds(2)
        builder = CacheBuilder(
            repository: repository, disks: disks, snapshots: snapshots, workRoot: dir.appending("build"), clientOptions: options,
            diskRecords: diskRecords)
    }

    deinit {
        #expect(disks.allDiskIDs().isEmpty, "no disk image is left behind")
        #expect((try? database.rowsBlocking("SELECT id FROM disks"))?.isEmpty == true, "no build disk is still listed")
        let mounts = MountTable.entries().map(\.target).joined(separator: "\n")
        #expect(!mounts.contains(dir.appending("build")), "no build mount is left behind")
        try? pool.unmountPool()
    }

    func cache(_ images: [String], size: Int = 20, host: String, credentials: [CacheCredential] = []) async throws -> ImageCache {
        var c = ImageCache(
            id: "imc-\(UUID().uuidString.prefix(8).lowercased())", account: "a", region: "ap-guangzhou",
            name: "t-\(UUID().uuidString.prefix(8).lowercased())", size: size,
            images: images, creationTime: Date(), retentionDays: 0)
        c.registryHttpEndPointList = [host]
        c.credentials = credentials
        try await repository.insert(c)
        return c
    }

    @Test func aBuildPullsEveryImageOntoADiskAndSnapshotsIt() async throws {
        let registry = try await FaultRegistry.start()
        let base = SampleLayers.rich()
        var extra = TarBuilder()
        extra.file("app/extra", "second image")
        registry.add(try TestImage(layers: base), repository: "one", tag: "v1")
        registry.add(try TestImage(layers: [base[0], extra]), repository: "two", tag: "v1")
        let c = try await cache(["\(registry.host)/one:v1", "\(registry.host)/two:v1"], host: registry.host)
        let built = try #require(await builder.build(c.id, account: "a"))
        #expect(built.status == .ready, "\(built.events.map(\.message))")
        let reasons = built.events.map(\.reason)
        #expect(
            reasons == [
                "BuilderStarted", "DiskCreated", "Pulling", "Pulled", "Pulling", "Pulled", "SnapshotCreating", "SnapshotCreated", "Ready",
            ])
        let snapshotID = try #require(built.snapshotID)
        #expect(snapshots.allSnapshotIDs() == [snapshotID])
        #expect(try await repository.get(id: c.id, account: "a")?.snapshotChecksum == nil, "Ready once sealed; hashed next")
        #expect(await builder.checksumSnapshots() == 1)
        let stored = try #require(try await repository.get(id: c.id, account: "a"))
        #expect(stored.status == .ready && stored.snapshotChecksum != nil)
        // What the snapshot holds: both images, the shared layer once, and the manifest.
        let disk = try await snapshots.makeDisk(
            from: Snapshot(id: snapshotID, sizeGiB: 20, checksum: stored.snapshotChecksum!), sizeGiB: nil)
        let (manifest, layerDirs) = try await disks.withMounted(disk, at: dir.appending("check")) { root in
            (
                try Data(contentsOf: URL(fileURLWithPath: root + "/imc-manifest.json")),
                try FileManager.default.contentsOfDirectory(atPath: root + "/layers/sha256")
            )
        }
        await disks.remove(disk)
        let decoded = try JSONDecoder().decode(CacheDiskManifest.self, from: manifest)
        #expect(decoded.images.map { $0.reference } == c.images)
        #expect(decoded.schemaVersion == CacheDiskManifest.currentVersion)
        #expect(!String(decoding: manifest, as: UTF8.self).contains(dir.path), "no build-time path is recorded")
        #expect(Set(layerDirs).count == 4, "3 layers of the first image + 1 of the second; the shared base once")
    }

    /// `Progress` grows with the bytes pulled against the images' sizes, stays under 100 while
    /// the build runs, and is 100 once Ready.
    @Test func progressFollowsTheBytesPulled() async throws {
        let registry = try await FaultRegistry.start()
        var big = TarBuilder()
        big.add("blob", .file(Array(try #require(FileHandle(forReadingAtPath: "/dev/urandom")).readData(ofLength: 400_000))))
        let small = try TestImage(layers: SampleLayers.rich())
        let large = try TestImage(layers: [big], compression: [.none])
        registry.add(small, repository: "small", tag: "v1")
        registry.add(large, repository: "large", tag: "v1")
        // The large layer stops for a second halfway: the build is seen between its ends.
        registry.script(.stall(afterBytes: 200_000, seconds: 1), on: .blobDigest(large.layers[0].descriptor.digest.description))
        let c = try await cache(["\(registry.host)/small:v1", "\(registry.host)/large:v1"], host: registry.host)
        #expect(c.progressPercent == 0)
        let builder = self.builder
        let building = Task { await builder.build(c.id, account: "a") }
        var seen: [Int] = []
        while !building.isCancelled, let now = try await repository.get(id: c.id, account: "a"), now.status == .pending {
            if now.progressPercent != seen.last { seen.append(now.progressPercent) }
            try await Task.sleep(for: .milliseconds(5))
        }
        let built = try #require(await building.value)
        #expect(built.status == .ready && built.progressPercent == 100)
        #expect(seen == seen.sorted(), "never goes back: \(seen)")
        #expect(seen.contains { (30...80).contains($0) }, "seen halfway through the large layer: \(seen)")
        #expect(!seen.contains(100), "100 only once Ready")
    }

    /// A cache with a refresh interval is rebuilt in place when a tag moves, and only then; it
    /// keeps serving its snapshot while it rebuilds; a registry that cannot be asked is a
    /// Warning, not a rebuild.
    @Test func aMovedTagRebuildsACacheWithARefreshInterval() async throws {
        let registry = try await FaultRegistry.start()
        let first = try TestImage(layers: SampleLayers.rich())
        registry.add(first, repository: "app", tag: "latest")
        let c = try await cache(["\(registry.host)/app"], host: registry.host)
        try await repository.modify(id: c.id, account: "a") { $0.refreshMinutes = 5 }
        let built = try #require(await builder.build(c.id, account: "a"))
        let normalized = try #require(built.normalizedImages.first)
        #expect(built.snapshotDigests == [normalized: first.manifestDescriptor.digest.description])
        func refresher(after minutes: Double) -> CacheRefresher {
            let service = CacheService(repository: repository, clock: FixedClock(Date().addingTimeInterval(minutes * 60)))
            return CacheRefresher(
                service: service, clientOptions: RegistryClientOptionsForTests.fast, plainHTTPHosts: [registry.host],
                logger: Logger(label: "test"))
        }
        #expect(await refresher(after: 1).check().isEmpty, "not due")
        #expect(await refresher(after: 6).check().isEmpty, "due, but the tag has not moved")
        #expect(try await repository.get(id: c.id, account: "a")?.status == .ready)

        var moved = TarBuilder()
        moved.file("app/version", "2")
        let second = try TestImage(layers: [moved])
        registry.add(second, repository: "app", tag: "latest")
        #expect(await refresher(after: 8).check().isEmpty, "checked 6 minutes in: due again only at 11")
        #expect(await refresher(after: 12).check() == [c.id])
        let updating = try #require(try await repository.get(id: c.id, account: "a"))
        #expect(updating.status == .updating && updating.isServing(at: Date()) && updating.snapshotID == built.snapshotID)
        let event = try #require(updating.events.last)
        #expect(event.reason == "Updating" && event.message.contains(first.manifestDescriptor.digest.description))
        #expect(event.message.contains(second.manifestDescriptor.digest.description))
        let rebuilt = try #require(await builder.build(c.id, account: "a"))
        #expect(rebuilt.status == .ready && rebuilt.snapshotID != built.snapshotID)
        #expect(rebuilt.snapshotDigests == [normalized: second.manifestDescriptor.digest.description])

        registry.script(.status(404), on: .manifest, times: 10)
        #expect(await refresher(after: 30).check().isEmpty)
        let warned = try #require(try await repository.get(id: c.id, account: "a"))
        #expect(warned.status == .ready && warned.events.last?.reason == "RefreshCheckFailed" && warned.events.last?.type == .warning)
        if let id = rebuilt.snapshotID { snapshots.delete(id: id) }
    }

    @Test func aBuildDiskIsListedWhileItExists() async throws {
        let registry = try await FaultRegistry.start()
        let image = try TestImage(layers: SampleLayers.rich())
        registry.add(image, repository: "slow", tag: "v1")
        registry.script(.stall(afterBytes: 100, seconds: 1), on: .blobDigest(image.layers[0].descriptor.digest.description))
        let c = try await cache(["\(registry.host)/slow:v1"], host: registry.host)
        let builder = self.builder
        let id = c.id
        let building = Task { await builder.build(id, account: "a") }
        var listed: [DiskRecord] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while listed.isEmpty && ContinuousClock.now < deadline {
            listed = try await diskRecords.disks()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(listed.count == 1 && listed.first?.use == .build && listed.first?.cacheID == c.id)
        #expect(listed.first.map { disks.allDiskIDs().contains($0.id) } == true)
        _ = await building.value
        #expect(try await diskRecords.disks().isEmpty)
    }

    @Test func theScrubberFailsACacheWhoseSnapshotNoLongerMatches() async throws {
        let registry = try await FaultRegistry.start()
        registry.add(try TestImage(layers: SampleLayers.rich()), repository: "app", tag: "v1")
        let c = try await cache(["\(registry.host)/app:v1"], host: registry.host)
        _ = await builder.build(c.id, account: "a")
        #expect(await builder.checksumSnapshots() == 1)
        let scrubber = SnapshotScrubber(
            repository: repository, snapshots: snapshots, interval: .seconds(3600), logger: Logger(label: "test"))
        #expect(await scrubber.scrub().isEmpty, "an untouched snapshot passes")
        let built = try #require(try await repository.get(id: c.id, account: "a"))
        let path = pool.root + "/snapshots/\(built.snapshotID!).img"
        _ = try CommandRunner.capture("/usr/bin/chattr", ["-i", path])
        let fd = open(path, O_RDWR)
        var byte: UInt8 = 0xAA
        #expect(pwrite(fd, &byte, 1, 8192) == 1)
        close(fd)
        #expect(await scrubber.scrub() == [c.id])
        let failed = try #require(try await repository.get(id: c.id, account: "a"))
        #expect(failed.status == .failed && failed.events.last?.reason == "SnapshotCorrupt")
        #expect(
            try await repository.bestMatch(account: "a", region: "ap-guangzhou", images: Set(failed.normalizedImages), now: Date()) == nil)
        snapshots.delete(id: built.snapshotID!)
    }

    @Test func imagesLargerThanTheDiskFailSayingWhatSizeToAskFor() async throws {
        let registry = try await FaultRegistry.start()
        var big = TarBuilder()
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom")).readData(ofLength: 24_000_000)
        big.add("blob", .file(Array(random)))
        registry.add(try TestImage(layers: [big], compression: [.none]), repository: "big", tag: "v1")
        let c = try await cache(["\(registry.host)/big:v1"], size: 1, host: registry.host)
        let built = try #require(await builder.build(c.id, account: "a"))
        #expect(built.status == .failed)
        let last = try #require(built.events.last)
        #expect(last.type == .warning && last.reason == "DiskTooSmall")
        #expect(last.message.contains("ImageCacheSize 1 GiB") && last.message.contains("Ask for ImageCacheSize"), "\(last.message)")
        #expect(snapshots.allSnapshotIDs().isEmpty)
    }

    @Test func missingImagesAndWrongCredentialsFailWithTheirReason() async throws {
        let registry = try await FaultRegistry.start(auth: .basic(user: "u", password: "right"))
        registry.add(try TestImage(layers: SampleLayers.rich()), repository: "app", tag: "v1")
        let missing = try await cache(
            ["\(registry.host)/nope:v1"], host: registry.host,
            credentials: [CacheCredential(server: registry.host, username: "u", password: "right")])
        let m = try #require(await builder.build(missing.id, account: "a"))
        #expect(m.status == .failed && m.events.last?.reason == "ImageNotFound")
        let wrong = try await cache(
            ["\(registry.host)/app:v1"], host: registry.host,
            credentials: [CacheCredential(server: registry.host, username: "u", password: "CANARY-wrong")])
        let w = try #require(await builder.build(wrong.id, account: "a"))
        #expect(w.status == .failed && w.events.last?.reason == "RegistryUnauthorized")
        #expect(!w.events.contains { $0.message.contains("CANARY") }, "the password is in no event")
        #expect(snapshots.allSnapshotIDs().isEmpty)
    }

    @Test func anUpdateRebuildsWhileTheOldSnapshotStaysUntilTheNewOneIsReady() async throws {
        let registry = try await FaultRegistry.start()
        registry.add(try TestImage(layers: SampleLayers.rich()), repository: "app", tag: "v1")
        var extra = TarBuilder()
        extra.file("v2", "two")
        registry.add(try TestImage(layers: [extra]), repository: "app", tag: "v2")
        let service = CacheService(repository: repository, snapshots: snapshots)
        let c = try await cache(["\(registry.host)/app:v1"], host: registry.host)
        let first = try #require(await builder.build(c.id, account: "a"))
        let oldSnapshot = try #require(first.snapshotID)

        var change = CacheRequest()
        change.images = ["\(registry.host)/app:v1", "\(registry.host)/app:v2"]
        let updating = try await service.update(id: c.id, change, account: "a")
        #expect(updating.status == .updating && updating.snapshotID == oldSnapshot, "the old snapshot stays while it rebuilds")
        let rebuilt = try #require(await builder.build(c.id, account: "a"))
        #expect(rebuilt.status == .ready && rebuilt.snapshotID != oldSnapshot)
        #expect(snapshots.allSnapshotIDs() == [rebuilt.snapshotID!], "the old snapshot goes once the new one is Ready")

        // A rebuild that fails keeps the last good snapshot.
        var broken = CacheRequest()
        broken.images = ["\(registry.host)/app:missing"]
        _ = try await service.update(id: c.id, broken, account: "a")
        let failed = try #require(await builder.build(c.id, account: "a"))
        #expect(failed.status == .updateFailed && failed.snapshotID == rebuilt.snapshotID)
        #expect(snapshots.allSnapshotIDs() == [rebuilt.snapshotID!])
        try await service.delete(ids: [c.id], account: "a")
        #expect(snapshots.allSnapshotIDs().isEmpty, "deleting the cache deletes its snapshot")
    }

    @Test func recoveryRemovesWhatNoCacheAccountsFor() async throws {
        let orphanDisk = try await disks.create(sizeGiB: 20)
        let orphanSnapshot = try await snapshots.create(from: orphanDisk)
        let worker = BuildWorker(builder: builder, repository: repository, disks: disks, snapshots: snapshots, logger: .init(label: "t"))
        try await worker.recover()
        #expect(disks.allDiskIDs().isEmpty)
        #expect(!snapshots.allSnapshotIDs().contains(orphanSnapshot.id))
    }
}
