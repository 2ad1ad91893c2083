import Foundation
import IMCBilling
import IMCBillingService
import IMCCache
import IMCCaches
import IMCDisks
import IMCInstance
import IMCInstances
import IMCModel
import IMCOS
import IMCRegistry
import IMCRuntime
import IMCServiceSupport
import IMCStore
import IMCTestSupport
import Testing

/// Instances for real: caches built onto loop-mounted disks, disks cloned from their snapshots,
/// overlay root filesystems, containers run by runc, images pulled from the scriptable registry.
@Suite(
    .serialized,
    .enabled(
        if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
            && FileManager.default.isExecutableFile(atPath: "/bin/busybox")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs"),
        "needs root, runc, busybox-static and xfsprogs"))
final class InstanceServiceTests {
    let dir: TemporaryDirectory
    let pool: DiskPool
    let disks: DiskManager
    let snapshots: LocalSnapshotStore
    let database: SQLiteDatabase
    let cacheRepository: SQLCacheRepository
    let instances: SQLInstanceRepository
    let usage: SQLUsageRepository
    let caches: CacheService
    let builder: CacheBuilder
    let clock = TestClock()
    let registry: FaultRegistry
    let service: InstanceService
    let account = "100000000001"
    let region = "ap-guangzhou"

    init() async throws {
        dir = try TemporaryDirectory(prefix: "imc-instances")
        pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: 64)
        disks = DiskManager(pool: pool, bytesPerGiB: 16 << 20)
        snapshots = LocalSnapshotStore(disks: disks)
        database = try SQLiteDatabase(path: dir.appending("imc.sqlite"))
        cacheRepository = SQLCacheRepository(database: database)
        instances = SQLInstanceRepository(database: database)
        usage = SQLUsageRepository(database: database)
        let clock = self.clock
        let meter = Meter(usage: usage, clock: clock)
        caches = CacheService(repository: cacheRepository, snapshots: snapshots, meter: meter, clock: clock)
        registry = try await FaultRegistry.start()
        builder = CacheBuilder(
            repository: cacheRepository, disks: disks, snapshots: snapshots, workRoot: dir.appending("build"),
            clientOptions: RegistryClientOptionsForTests.fast, clock: clock, diskRecords: instances, meter: meter)
        service = try InstanceService(
            repository: instances, caches: caches, disks: disks, snapshots: snapshots, root: dir.appending("instances"),
            registry: RegistryConfig(plainHTTPHosts: [registry.host]), clientOptions: RegistryClientOptionsForTests.fast,
            clock: clock, meter: meter)
    }

    deinit {
        let mounts = MountTable.entries().map(\.target).joined(separator: "\n")
        #expect(!mounts.contains(dir.appending("instances")), "no instance mount is left behind")
        #expect(disks.allDiskIDs().isEmpty, "no disk image is left behind")
        registry.stop()
        try? pool.unmountPool()
    }

    func buildCache(_ images: [String], size: Int = 20) async throws -> ImageCache {
        var request = CacheRequest()
        request.images = images
        request.size = size
        request.registryHttpEndPointList = [registry.host]
        let c = try await caches.create(request, account: account, region: region)
        let built = try #require(await builder.build(c.id, account: account))
        try #require(built.status == .ready, "\(built.events.map(\.message))")
        return built
    }

    func request(_ images: [(String, [String])], use: String?, policy: RestartPolicy = .never) -> InstanceRequest {
        var r = InstanceRequest()
        r.containers = images.enumerated().map { i, pair in
            ContainerSpec(
                name: "c\(i)", image: pair.0, commands: pair.1.isEmpty ? nil : pair.1, env: [EnvVar(name: "GREETING", value: "hi")])
        }
        r.cache.use = use
        r.restartPolicy = policy
        r.terminationGracePeriodSeconds = 1
        return r
    }

    /// Waits until the instance satisfies `done` (or 60 s pass).
    func wait(_ id: String, until done: (Instance) -> Bool) async throws -> Instance {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let i = try await instances.get(id: id, account: account), done(i) { return i }
            try await Task.sleep(for: .milliseconds(20))
        }
        let last = try await instances.get(id: id, account: account)
        Issue.record("instance \(id) did not get there: \(String(describing: last?.status)) \(last?.events.map(\.message) ?? [])")
        throw CancellationError()
    }

    func finished(_ i: Instance) -> Bool { i.status == .succeeded || i.status == .failed }

    func removeAll(_ ids: [String]) async throws {
        try await service.deleteAndWait(ids: ids, account: account)
        #expect(Set(InstanceCgroup.existing()).isDisjoint(with: ids), "no cgroup of a removed instance is left")
        #expect(MountTable.targets(under: dir.appending("instances")).isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir.appending("instances/runc"))) ?? [] == [])
    }

    @Test func anAutoMatchedCacheBecomesTheDiskAndNoLayerIsDownloaded() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "from the cache\n"]), repository: "app", tag: "v1")
        let image = "\(registry.host)/app:v1"
        let cache = try await buildCache([image])
        registry.clearRequests()
        let created = try await service.create(
            request([(image, ["/bin/sh", "-c", "cat /app/msg; echo $GREETING; id -u"])], use: "auto"), account: account, region: region)
        let done = try await wait(created[0].id, until: finished)
        #expect(done.status == .succeeded, "\(done.events.map(\.message))")
        #expect(done.cacheOutcome == .used && done.cacheID == cache.id && done.diskFromCache)
        let used = try #require(done.events.first { $0.reason == "ImageCacheUsed" })
        #expect(
            used.message
                == "Image cache \(cache.id) used. Disk \(done.diskID!) attached from snapshot \(cache.snapshotID!); matched 1 of 1 image")
        #expect(done.events.contains { $0.reason == "Pulled" && $0.message == "Container image \"\(image)\" already present on machine" })
        #expect(!done.events.contains { $0.reason == "Pulling" })
        #expect(done.events.map(\.reason).filter { ["Created", "Started"].contains($0) } == ["Created", "Started"])
        #expect(!registry.requests.contains { $0.path.contains("/blobs/") }, "no blob was fetched")
        #expect(done.states["c0"]?.exitCode == 0 && done.states["c0"]?.reason == "Completed")
        for phase in ["Matched", "DiskReady", "DiskMounted", "ImageReady:\(image)", "Created:c0", "Started:c0"] {
            #expect(done.milliseconds(to: phase) != nil, "phase \(phase) recorded")
        }
        #expect(
            try await service.logs(id: done.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "from the cache\nhi\n0\n"
        )
        #expect(try await service.logs(id: done.id, account: account, container: "c0", tail: 1, limitBytes: nil).1 == "0\n")
        #expect(try await cacheRepository.get(id: cache.id, account: account)?.lastMatchedTime != nil)
        try await removeAll([done.id])
        #expect(try await instances.get(id: done.id, account: account) == nil)
        #expect(try await instances.disks().isEmpty)
        #expect(snapshots.allSnapshotIDs() == [cache.snapshotID!], "the snapshot stays with its cache")
        try await caches.delete(ids: [cache.id], account: account)
    }

    @Test func withNoMatchImagesArePulledOnceForInstancesStartingTogether() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "pulled\n"]), repository: "cold", tag: "v1")
        let image = "\(registry.host)/cold:v1"
        registry.clearRequests()
        let a = try await service.create(request([(image, ["/bin/cat", "/app/msg"])], use: "auto"), account: account, region: region)[0]
        let b = try await service.create(request([(image, ["/bin/cat", "/app/msg"])], use: nil), account: account, region: region)[0]
        let doneA = try await wait(a.id, until: finished)
        let doneB = try await wait(b.id, until: finished)
        #expect(doneA.status == .succeeded && doneB.status == .succeeded, "\(doneA.events.map(\.message)) \(doneB.events.map(\.message))")
        #expect(doneA.cacheOutcome == .notMatched && doneB.cacheOutcome == .off)
        let notMatched = try #require(doneA.events.first { $0.reason == "ImageCacheNotMatched" })
        #expect(notMatched.message.contains(image) && notMatched.message.contains("pulled"))
        #expect(
            doneA.events.contains { $0.reason == "Pulling" }
                && doneA.events.contains { $0.reason == "Pulled" && $0.message.hasPrefix("Successfully pulled") })
        let blobGets = registry.requests.filter { $0.method == "GET" && $0.path.contains("/blobs/") }.map(\.path)
        #expect(blobGets.count == Set(blobGets).count, "each blob fetched once: \(blobGets)")
        #expect(try await service.logs(id: a.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "pulled\n")
        try await removeAll([a.id, b.id])
        #expect(
            !FileManager.default.fileExists(atPath: dir.appending("instances/node/\(account)")),
            "the last user removed the account's images")
    }

    @Test func instancesOfOneAccountPullDifferentImagesAtOnceIntoOneStore() async throws {
        var ids: [String] = []
        for n in 0..<4 {
            registry.add(try RunnableImages.image(files: ["app/msg": "image \(n)\n"], padding: 3 << 20), repository: "many\(n)", tag: "v1")
        }
        for n in 0..<4 {
            await ids += try service.create(
                request([("\(registry.host)/many\(n):v1", ["/bin/cat", "/app/msg"])], use: nil), account: account, region: region
            ).map(\.id)
        }
        for (n, id) in ids.enumerated() {
            let done = try await wait(id, until: finished)
            #expect(done.status == .succeeded, "\(done.events.map(\.message))")
            #expect(try await service.logs(id: id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "image \(n)\n")
        }
        try await removeAll(ids)
    }

    @Test func aManualCacheMissingAnImageIsStillUsedAndTheImageIsPulledOntoItsDisk() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "one\n"]), repository: "one", tag: "v1")
        registry.add(try RunnableImages.image(files: ["app/msg": "two\n"]), repository: "two", tag: "v1")
        let one = "\(registry.host)/one:v1"
        let two = "\(registry.host)/two:v1"
        let cache = try await buildCache([one])
        let i = try await service.create(
            request([(one, ["/bin/cat", "/app/msg"]), (two, ["/bin/cat", "/app/msg"])], use: cache.id), account: account, region: region)[0]
        let done = try await wait(i.id, until: finished)
        #expect(done.status == .succeeded, "\(done.events.map(\.message))")
        #expect(done.cacheOutcome == .mismatch && done.cacheID == cache.id)
        let mismatch = try #require(done.events.first { $0.reason == "ImageCacheMismatch" })
        #expect(mismatch.type == .warning && mismatch.message.contains(two) && mismatch.message.contains(cache.id))
        #expect(done.events.contains { $0.reason == "ImageCacheUsed" })
        #expect(try await service.logs(id: i.id, account: account, container: "c1", tail: nil, limitBytes: nil).1 == "two\n")
        try await removeAll([i.id])
        try await caches.delete(ids: [cache.id], account: account)
    }

    /// Automatic matching asks for every image unless the instance allows a partial match; then
    /// the cache holding the most (at least the minimum) is used and the rest are pulled onto it.
    @Test func aPartialMatchUsesTheCacheHoldingSomeImagesAndPullsTheRestOntoIt() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "base\n"]), repository: "base", tag: "v1")
        registry.add(try RunnableImages.image(files: ["app/msg": "side\n"]), repository: "side", tag: "v1")
        let (base, side) = ("\(registry.host)/base:v1", "\(registry.host)/side:v1")
        let cache = try await buildCache([base])
        func run(partial: Bool?, minimum: Int?) async throws -> Instance {
            var r = request([(base, ["/bin/cat", "/app/msg"]), (side, ["/bin/cat", "/app/msg"])], use: "auto")
            r.cache.partialMatch = partial
            r.cache.minMatchedImages = minimum
            let i = try await service.create(r, account: account, region: region)[0]
            let done = try await wait(i.id, until: finished)
            #expect(done.status == .succeeded, "\(done.events.map(\.message))")
            try await removeAll([i.id])
            return done
        }
        let perfect = try await run(partial: false, minimum: nil)
        #expect(perfect.cacheOutcome == .notMatched && !perfect.diskFromCache, "a perfect match: every image must be in the cache")
        let partial = try await run(partial: true, minimum: nil)
        #expect(partial.cacheOutcome == .used && partial.cacheID == cache.id && partial.diskFromCache)
        let matched = try #require(partial.events.first { $0.reason == "ImageCachePartiallyMatched" })
        #expect(matched.message == "Image cache \(cache.id) matched 1 of 2 images; \(side) will be pulled onto its disk")
        #expect(partial.events.first { $0.reason == "ImageCacheUsed" }?.message.hasSuffix("; matched 1 of 2 images") == true)
        #expect(partial.events.contains { $0.reason == "Pulling" && $0.message.contains(side) })
        #expect(!partial.events.contains { $0.reason == "Pulling" && $0.message.contains(base) }, "the cached image is not pulled")
        let tooFew = try await run(partial: true, minimum: 2)
        #expect(tooFew.cacheOutcome == .notMatched)
        // A minimum of every image is a perfect match: the event asks for all of them.
        #expect(tooFew.events.contains { $0.reason == "ImageCacheNotMatched" && $0.message.contains("No image cache holds all of") })
        #expect(tooFew.events.contains { $0.reason == "ImageCacheNotMatched" && $0.message.contains("at least 2 of") } == false)
        try await caches.delete(ids: [cache.id], account: account)
    }

    /// An instance that matched nothing and asked for auto-create pulls, and a cache of its
    /// images is built for the next one, which starts from it.
    @Test func aMissWithAutoCreateBuildsACacheTheNextInstanceUses() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "auto\n"]), repository: "auto", tag: "v1")
        let image = "\(registry.host)/auto:v1"
        func run() async throws -> Instance {
            var r = request([(image, ["/bin/cat", "/app/msg"])], use: "auto")
            r.cache.autoCreate = true
            let i = try await service.create(r, account: account, region: region)[0]
            let done = try await wait(i.id, until: finished)
            #expect(done.status == .succeeded, "\(done.events.map(\.message))")
            try await removeAll([i.id])
            return done
        }
        let first = try await run()
        #expect(first.cacheOutcome == .notMatched)
        let event = try #require(first.events.first { $0.reason == "ImageCacheAutoCreated" })
        let name = CacheService.autoCreatedName(images: [image], platform: "linux/amd64")
        var q = CacheQuery()
        q.names = [name]
        let made = try #require(try await caches.describe(account: account, query: q).caches.first)
        #expect(event.message.contains(made.id) && made.status == .pending && made.registryHttpEndPointList == [registry.host])
        let built = try #require(await builder.build(made.id, account: account))
        #expect(built.status == .ready, "\(built.events.map(\.message))")
        let second = try await run()
        #expect(second.cacheOutcome == .used && second.cacheID == made.id && second.diskFromCache)
        #expect(!second.events.contains { $0.reason == "ImageCacheAutoCreated" })
        try await caches.delete(ids: [made.id], account: account)
    }

    /// Layer-level use: an image in no cache whose base layer a cache holds starts from that
    /// cache's disk; only the layer the cache lacks is downloaded, and the events say so.
    @Test func anImageInNoCacheTakesTheLayersACacheHoldsAndPullsOnlyTheRest() async throws {
        let base = try RunnableImages.image(files: ["app/msg": "base\n"])
        let derived = try RunnableImages.image(files: ["app/msg": "derived\n"])
        registry.add(base, repository: "base", tag: "v1")
        registry.add(derived, repository: "derived", tag: "v1")
        let shared = try #require(derived.layers.first?.descriptor)
        #expect(base.layers.first?.descriptor.digest == shared.digest, "the two images share their first layer")
        let cache = try await buildCache(["\(registry.host)/base:v1"])
        #expect(cache.snapshotLayers?[shared.digest.description] == shared.size)
        registry.clearRequests()
        let image = "\(registry.host)/derived:v1"
        let i = try await service.create(request([(image, ["/bin/cat", "/app/msg"])], use: "auto"), account: account, region: region)[0]
        let done = try await wait(i.id, until: finished)
        #expect(done.status == .succeeded, "\(done.events.map(\.message))")
        #expect(done.cacheOutcome == .used && done.cacheID == cache.id && done.diskFromCache)
        let layers = try #require(done.events.first { $0.reason == "ImageCacheLayersMatched" })
        #expect(layers.message.contains("image cache \(cache.id) holds 1 of 2 of their layers (\(shared.size) of"))
        let pulled = try #require(done.events.first { $0.reason == "Pulled" })
        #expect(pulled.message.hasSuffix("bytes (1 layers) from image cache \(cache.id)'s disk"), "\(pulled.message)")
        #expect(!registry.requests.contains { $0.path.hasSuffix("/blobs/\(shared.digest)") }, "the shared layer was not downloaded")
        #expect(registry.requests.contains { $0.path.hasSuffix("/blobs/\(derived.layers[1].descriptor.digest)") })
        #expect(try await service.logs(id: i.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "derived\n")
        try await removeAll([i.id])
        try await caches.delete(ids: [cache.id], account: account)
    }

    @Test func anUnknownManualCacheFallsBackToAPullWithAWarning() async throws {
        registry.add(try RunnableImages.image(), repository: "plain", tag: "v1")
        let i = try await service.create(
            request([("\(registry.host)/plain:v1", [])], use: "imc-zzzzzzzz"), account: account, region: region)[0]
        let done = try await wait(i.id, until: finished)
        #expect(done.status == .succeeded, "\(done.events.map(\.message))")
        let notFound = try #require(done.events.first { $0.reason == "ImageCacheNotFound" })
        #expect(notFound.type == .warning && notFound.message.contains("imc-zzzzzzzz") && notFound.message.contains("not found"))
        #expect(try await service.logs(id: i.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "hello\n")
        try await removeAll([i.id])
    }

    @Test func aTagThatMovedStillMatchesButTheInstanceIsWarned() async throws {
        let old = try RunnableImages.image(files: ["app/msg": "old\n"])
        registry.add(old, repository: "moving", tag: "latest")
        let image = "\(registry.host)/moving"
        let cache = try await buildCache([image])
        let new = try RunnableImages.image(files: ["app/msg": "new\n"])
        registry.add(new, repository: "moving", tag: "latest")
        let i = try await service.create(request([(image, ["/bin/cat", "/app/msg"])], use: "auto"), account: account, region: region)[0]
        let done = try await wait(i.id, until: { $0.events.contains { $0.reason == "ImageCacheStale" } })
        let stale = try #require(done.events.first { $0.reason == "ImageCacheStale" })
        #expect(stale.type == .warning)
        #expect(
            stale.message.contains(old.manifestDescriptor.digest.description)
                && stale.message.contains(new.manifestDescriptor.digest.description))
        #expect(done.cacheOutcome == .used)
        _ = try await wait(i.id, until: finished)
        #expect(
            await try service.logs(id: i.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "old\n",
            "the cached version ran")
        try await removeAll([i.id])
        try await caches.delete(ids: [cache.id], account: account)
    }

    /// An update never sends instances back to cold pulls: while the cache is Updating, after
    /// UpdateFailed, and once the new snapshot is Ready, instances start from a snapshot (the
    /// previous one until the new one replaces it), auto and by id, and say which.
    @Test func anUpdatingOrUpdateFailedCacheKeepsServingItsPreviousSnapshot() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "v1\n"]), repository: "svc", tag: "v1")
        let (v1, v2) = ("\(registry.host)/svc:v1", "\(registry.host)/svc:v2")
        let cache = try await buildCache([v1], size: 20)
        let old = try #require(cache.snapshotID)

        func startsFromTheCache(_ image: String, use: String, snapshot: String, note: String, says message: String) async throws {
            let i = try await service.create(request([(image, ["/bin/cat", "/app/msg"])], use: use), account: account, region: region)[0]
            let done = try await wait(i.id, until: finished)
            #expect(done.status == .succeeded && done.cacheOutcome == .used && done.diskFromCache, "\(done.events.map(\.message))")
            let used = try #require(done.events.first { $0.reason == "ImageCacheUsed" })
            #expect(
                used.message
                    == "Image cache \(cache.id) used. Disk \(done.diskID!) attached from snapshot \(snapshot)\(note); matched 1 of 1 image")
            #expect(!done.events.contains { $0.reason == "Pulling" }, "nothing pulled")
            #expect(try await service.logs(id: i.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == message)
            try await removeAll([i.id])
        }

        var change = CacheRequest()
        change.images = [v2]
        change.size = 21
        let updating = try await caches.update(id: cache.id, change, account: account)
        #expect(updating.status == .updating && updating.snapshotID == old && updating.servedImages == [v1])
        #expect(try await caches.match(images: [v1], account: account, region: region)?.id == cache.id, "GetMostSuitableImageCache")
        #expect(try await caches.match(images: [v2], account: account, region: region) == nil, "not before v2 is built")
        let whileBuilding = ", the previous one, serving while the update builds"
        try await startsFromTheCache(v1, use: "auto", snapshot: old, note: whileBuilding, says: "v1\n")
        try await startsFromTheCache(v1, use: cache.id, snapshot: old, note: whileBuilding, says: "v1\n")

        let failed = try #require(await builder.build(cache.id, account: account))
        #expect(failed.status == .updateFailed && failed.snapshotID == old)
        #expect(try await caches.match(images: [v1], account: account, region: region)?.id == cache.id)
        try await startsFromTheCache(
            v1, use: "auto", snapshot: old, note: ", the previous one, serving after the update failed", says: "v1\n")

        registry.add(try RunnableImages.image(files: ["app/msg": "v2\n"]), repository: "svc", tag: "v2")
        #expect(try await caches.update(id: cache.id, change, account: account).status == .updating, "the same update again is a retry")
        let rebuilt = try #require(await builder.build(cache.id, account: account))
        let new = try #require(rebuilt.snapshotID)
        #expect(rebuilt.status == .ready && new != old && rebuilt.servedImages == [v2] && rebuilt.servedSize == 21)
        #expect(try await caches.match(images: [v1], account: account, region: region) == nil, "the old images went with the old snapshot")
        try await startsFromTheCache(v2, use: "auto", snapshot: new, note: "", says: "v2\n")
        try await caches.delete(ids: [cache.id], account: account)
    }

    @Test func aRetainedDiskIsReusedByTheNextInstanceAndReleasedOnTime() async throws {
        registry.add(try RunnableImages.image(), repository: "keep", tag: "v1")
        let image = "\(registry.host)/keep:v1"
        let cache = try await buildCache([image])
        var r = request([(image, ["/bin/sh", "-c", "touch /data/scratch; echo ok"])], use: "auto")
        r.cache.retainMinutes = 5
        r.cache.diskSizeGiB = 30
        let first = try await service.create(r, account: account, region: region)[0]
        let firstDone = try await wait(first.id, until: finished)
        #expect(firstDone.diskSizeGiB == 30, "the annotation's larger size")
        #expect(firstDone.cacheOutcome == .used, "\(firstDone.events.map { "\($0.reason): \($0.message)" })")
        let whileFinished = try await usage.usage(account: account, from: .distantPast, to: .distantFuture).filter {
            $0.kind == .instanceDisk
        }
        #expect(whileFinished.count == 1 && whileFinished[0].end != nil, "a finished instance's disk is no longer billed as running")
        try await removeAll([first.id])
        let retained = try await instances.disks()
        #expect(retained.count == 1 && retained[0].use == .retained && retained[0].id == firstDone.diskID)
        let second = try await service.create(request([(image, ["/bin/ls", "/data"])], use: "auto"), account: account, region: region)[0]
        let secondDone = try await wait(second.id, until: finished)
        #expect(secondDone.diskID == firstDone.diskID, "the retained disk was reused")
        #expect(secondDone.events.contains { $0.reason == "ImageCacheDiskReused" })
        #expect(
            await try service.logs(id: second.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "",
            "the first instance's writes are gone")
        var again = request([(image, [])], use: "auto")
        again.cache.retainMinutes = 1
        let third = try await service.create(again, account: account, region: region)[0]
        _ = try await wait(third.id, until: finished)
        try await removeAll([second.id, third.id])
        #expect(try await instances.disks().map(\.use) == [.retained])
        #expect(try await service.sweepRetainedDisks().isEmpty, "not yet")
        clock.advance(61)
        #expect(try await service.sweepRetainedDisks().count == 1)
        #expect(try await instances.disks().isEmpty)
        try await caches.delete(ids: [cache.id], account: account)

        // What was metered for the bill: the build (builder and disk), the snapshot until the
        // cache went, each instance's disk while it held it, and the retained disk while kept.
        let metered = try await usage.usage(account: account, from: Date.distantPast, to: Date.distantFuture).filter {
            $0.cacheID == cache.id
        }
        func kinds(_ k: UsageKind) -> [Usage] { metered.filter { $0.kind == k } }
        #expect(kinds(.builder).count == 1 && kinds(.buildDisk).count == 1 && kinds(.snapshot).count == 1)
        #expect(kinds(.buildDisk).first?.quantity == 20 && kinds(.snapshot).first?.quantity == 20)
        #expect(kinds(.instanceDisk).map(\.instanceID) == [first.id, second.id, third.id])
        #expect(kinds(.instanceDisk).first?.quantity == 30, "the annotation's size is what is billed")
        #expect(kinds(.retainedDisk).count == 2, "kept after the first (taken back by the second) and after the third")
        #expect(metered.allSatisfy { $0.end != nil }, "every interval closed: \(metered.filter { $0.end == nil })")
        let retainedAfterThird = try #require(kinds(.retainedDisk).last)
        let kept = retainedAfterThird.end!.timeIntervalSince(retainedAfterThird.start)
        #expect(kept >= 61 && kept < 70, "the retained disk is billed until it was released: \(kept) s")
    }

    @Test func aDeleteWhileTheInstanceStartsLeavesNothingBehind() async throws {
        registry.add(try RunnableImages.image(), repository: "slow", tag: "v1")
        let image = "\(registry.host)/slow:v1"
        let cache = try await buildCache([image])
        // An init container that never ends: the start is stuck in it when the delete comes.
        var r = request([(image, ["/bin/true"])], use: "auto")
        r.initContainers = [ContainerSpec(name: "forever", image: image, commands: ["/bin/sleep", "300"])]
        r.terminationGracePeriodSeconds = 0
        let stuck = try await service.create(r, account: account, region: region)[0]
        _ = try await wait(stuck.id, until: { $0.states["forever"]?.state == .running })
        // And one deleted the moment it was created.
        let early = try await service.create(request([(image, ["/bin/true"])], use: "auto"), account: account, region: region)[0]
        try await removeAll([stuck.id, early.id])
        #expect(try await instances.disks().isEmpty, "no disk row is left")
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/imc-\(stuck.id)"))
        try await caches.delete(ids: [cache.id], account: account)
    }

    @Test func containersOfAnInstanceShareItsLoopbackAndReachNothingElse() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "pod-local\n"]), repository: "pod", tag: "v1")
        let image = "\(registry.host)/pod:v1"
        var r = request(
            [
                (image, ["/bin/httpd", "-f", "-p", "8080", "-h", "/app"]),
                (
                    image,
                    [
                        "/bin/sh", "-c",
                        "for i in $(seq 1 100); do wget -q -O - http://127.0.0.1:8080/msg && break; sleep 0.05; done; "
                            + "if wget -q -T 1 -O - http://\(registry.host)/v2/ >/dev/null 2>&1; then echo host-reachable; fi",
                    ]
                ),
            ], use: nil)
        r.terminationGracePeriodSeconds = 0
        let i = try await service.create(r, account: account, region: region)[0]
        let done = try await wait(i.id, until: { $0.states["c1"]?.state == .terminated })
        #expect(done.states["c1"]?.exitCode == 0, "\(done.events.map(\.message))")
        #expect(try await service.logs(id: i.id, account: account, container: "c1", tail: nil, limitBytes: nil).1 == "pod-local\n")
        #expect(done.milliseconds(to: "NetworkReady") != nil)
        #expect(FileManager.default.fileExists(atPath: "/run/netns/imc-\(i.id)"))
        try await removeAll([i.id])
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/imc-\(i.id)"), "the namespace went with the instance")
    }

    @Test func aCacheWhoseSnapshotCannotBeUsedFallsBackToAPullWithAWarning() async throws {
        registry.add(try RunnableImages.image(files: ["app/msg": "pulled anyway\n"]), repository: "broken", tag: "v1")
        let image = "\(registry.host)/broken:v1"
        let cache = try await buildCache([image])
        let snapshotID = try #require(cache.snapshotID)
        let path = pool.root + "/snapshots/\(snapshotID).img"
        _ = try CommandRunner.capture("/usr/bin/chattr", ["-i", path])
        let fd = open(path, O_RDWR)
        var byte: UInt8 = 0x55
        #expect(pwrite(fd, &byte, 1, 4096) == 1)
        close(fd)
        let i = try await service.create(request([(image, ["/bin/cat", "/app/msg"])], use: "auto"), account: account, region: region)[0]
        let done = try await wait(i.id, until: finished)
        #expect(done.status == .succeeded, "\(done.events.map(\.message))")
        #expect(done.cacheOutcome == .notFound && !done.diskFromCache)
        let warning = try #require(done.events.first { $0.reason == "ImageCacheNotFound" })
        #expect(warning.type == .warning && warning.message.contains(cache.id) && warning.message.contains("pulled normally"))
        #expect(try await service.logs(id: i.id, account: account, container: nil, tail: nil, limitBytes: nil).1 == "pulled anyway\n")
        try await removeAll([i.id])
        try await caches.delete(ids: [cache.id], account: account)
    }

    @Test func anInstanceOutlivesItsDeletedCacheAndIsKilledAfterTheGracePeriod() async throws {
        registry.add(try RunnableImages.image(), repository: "long", tag: "v1")
        let image = "\(registry.host)/long:v1"
        let cache = try await buildCache([image])
        let i = try await service.create(
            request([(image, ["/bin/sleep", "300"])], use: "auto", policy: .always), account: account, region: region)[0]
        _ = try await wait(i.id, until: { $0.status == .running })
        try await caches.delete(ids: [cache.id], account: account)
        #expect(snapshots.allSnapshotIDs().isEmpty)
        try await Task.sleep(for: .milliseconds(300))
        let running = try await #require(try instances.get(id: i.id, account: account))
        #expect(running.status == .running && running.states["c0"]?.state == .running)
        let t0 = clock.now()
        try await removeAll([i.id])
        #expect(clock.now().timeIntervalSince(t0) >= 1, "sleep ignores SIGTERM as pid 1, so the grace period ran out before SIGKILL")
    }

    @Test func aFailingContainerIsRestartedWithBackOffUnderOnFailure() async throws {
        registry.add(try RunnableImages.image(), repository: "crash", tag: "v1")
        let i = try await service.create(
            request([("\(registry.host)/crash:v1", ["/bin/sh", "-c", "echo try; exit 3"])], use: nil, policy: .onFailure), account: account,
            region: region)[0]
        let crashing = try await wait(i.id, until: { ($0.states["c0"]?.restartCount ?? 0) >= 2 })
        #expect(crashing.events.contains { $0.reason == "BackOff" && $0.type == .warning })
        #expect(crashing.states["c0"]?.exitCode == 3 || crashing.states["c0"]?.state == .running)
        try await removeAll([i.id])
        let never = try await service.create(
            request([("\(registry.host)/crash:v1", ["/bin/sh", "-c", "exit 3"])], use: nil, policy: .never), account: account,
            region: region)[0]
        let failed = try await wait(never.id, until: finished)
        #expect(failed.status == .failed && failed.states["c0"]?.exitCode == 3 && failed.states["c0"]?.restartCount == 0)
        try await removeAll([never.id])
    }

    @Test func aMissingImageFailsTheInstanceWithThePullError() async throws {
        let i = try await service.create(request([("\(registry.host)/nothing:v1", [])], use: nil), account: account, region: region)[0]
        let done = try await wait(i.id, until: finished)
        #expect(done.status == .failed)
        #expect(done.states["c0"]?.reason == "ErrImagePull" || done.states["c0"]?.reason == "StartError")
        #expect(
            done.events.last?.message.contains("Failed to pull image \"\(registry.host)/nothing:v1\"") == true,
            "\(done.events.map(\.message))")
        try await removeAll([i.id])
    }

    static let badRequests: [(String, String)] = [
        ("no containers", "Containers"),
        ("bad name", "Containers[0].Name \"Bad_Name\""),
        ("twice", "Containers[1].Name \"c0\" is used twice"),
        ("bad image", "Containers[0].Image"),
        ("bad cache id", "imc-TOOLONG123"),
        ("negative retain", "retain minutes"),
        ("zero disk", "disk size"),
        ("bad env", "EnvironmentVars[0].Name"),
        ("relative workdir", "WorkingDir \"rel\""),
        ("no replicas", "Replicas"),
        ("negative cpu", "Cpu"),
    ]

    @Test(arguments: badRequests)
    func badRequestsAreRefusedNamingTheFieldAndNothingIsCreated(change: String, named: String) async throws {
        var r = request([("busybox", [])], use: "auto")
        switch change {
        case "no containers": r.containers = []
        case "bad name": r.containers[0].name = "Bad_Name"
        case "twice": r.containers.append(r.containers[0])
        case "bad image": r.containers[0].image = "nginx:bad tag!"
        case "bad cache id": r.cache.use = "imc-TOOLONG123"
        case "negative retain": r.cache.retainMinutes = -1
        case "zero disk": r.cache.diskSizeGiB = 0
        case "bad env": r.containers[0].env = [EnvVar(name: "A=B", value: "")]
        case "relative workdir": r.containers[0].workingDir = "rel"
        case "no replicas": r.replicas = 0
        default: r.cpu = -1
        }
        do {
            _ = try await service.create(r, account: account, region: region)
            Issue.record("accepted")
        } catch let e as ServiceError {
            let message = e.message
            #expect(message.contains(named), "\(message)")
        }
        await #expect(try instances.list(account: account, query: InstanceQuery()).total == 0)
    }
}
