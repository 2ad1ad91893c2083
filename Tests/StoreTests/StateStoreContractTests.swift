import Crypto
import Foundation
import IMCBilling
import IMCCache
import IMCInstance
import IMCModel
import IMCStore
import IMCTestSupport
import Synchronization
import Testing

/// The store's contract, run against both backends: SQLite (the embedded default) and
/// PostgreSQL (a real server from Debian, started for this process, a database per test).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgresql
    var testDescription: String { rawValue }

    /// A fresh, empty store; the holder keeps its directory (SQLite) alive.
    func open(secrets: SecretBox? = nil) async throws -> OpenedStore {
        switch self {
        case .sqlite:
            let dir = try TemporaryDirectory()
            let path = dir.appending("imc.sqlite")
            return OpenedStore(
                store: try await StateStore.open(database: path, dataRoot: dir.path, secrets: secrets), location: path, directory: dir)
        case .postgresql:
            let url = try PostgreSQLServer.running().newDatabase()
            return OpenedStore(
                store: try await StateStore.open(database: url, dataRoot: "/nonexistent", secrets: secrets), location: url, directory: nil)
        }
    }
}

struct OpenedStore {
    let store: StateStore
    /// The file or URL: a second replica opens the same.
    let location: String
    let directory: TemporaryDirectory?
    func reopen(secrets: SecretBox? = nil) async throws -> StateStore {
        try await StateStore.open(database: location, dataRoot: directory?.path ?? "/nonexistent", secrets: secrets)
    }
    /// A second replica writing at the same time: another process's store over PostgreSQL; the
    /// same store with SQLite, whose database belongs to one process.
    func replica() async throws -> StateStore {
        if directory == nil { return try await reopen() }
        return store
    }
}

/// Runs `body` `count` times at once (tasks on the cooperative pool: the store never blocks
/// them) and collects what each returned or threw.
func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> T) async -> [Result<T, any Error>] {
    await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
        for i in 0..<count {
            group.addTask {
                do { return (i, .success(try await body(i))) } catch { return (i, .failure(error)) }
            }
        }
        var results: [Int: Result<T, any Error>] = [:]
        for await (i, r) in group { results[i] = r }
        return (0..<count).map { results[$0]! }
    }
}

@Suite(.serialized) struct StateStoreContractTests {
    func cache(_ id: String, account: String = "a", created: Double = 0, status: CacheStatus = .pending) -> ImageCache {
        var c = ImageCache(
            id: id, account: account, region: "ap-guangzhou", name: "n-\(id)", size: 20, images: ["nginx"],
            creationTime: Date(timeIntervalSince1970: 1_700_000_000 + created), retentionDays: 0)
        c.status = status
        c.credentials = [CacheCredential(server: "r", username: "u", password: "p")]
        return c
    }

    func instance(_ id: String, account: String = "a", created: Double = 0) -> Instance {
        var i = Instance(
            id: id, account: account, region: "ap-guangzhou", name: "n-\(id)",
            creationTime: Date(timeIntervalSince1970: 1_700_000_000 + created))
        i.credentials = [CacheCredential(server: "r", username: "u", password: "instance-secret")]
        return i
    }

    @Test(arguments: Backend.allCases) func cachesRoundTripPageAndStayInTheirAccount(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let repo = opened.store.caches
        for i in 0..<5 { try await repo.insert(cache("imc-\(i)", created: Double(i))) }
        try await repo.insert(cache("imc-b", account: "b"))
        var third = cache("imc-2", created: 2)
        third.revision = 3
        #expect(try await repo.get(id: "imc-2", account: "a") == third)
        #expect(try await repo.get(id: "imc-2", account: "b") == nil, "another account's id reads as absent")
        var q = CacheQuery()
        q.limit = 2
        q.offset = 1
        let (total, page) = try await repo.list(account: "a", query: q)
        #expect(total == 5 && page.map(\.id) == ["imc-3", "imc-2"], "newest first")
        q.offset = 50
        #expect(try await repo.list(account: "a", query: q).total == 5, "a page past the end still tells the total")
        q = CacheQuery()
        q.names = ["n-imc-4", "n-imc-b"]
        #expect(try await repo.list(account: "a", query: q).caches.map(\.id) == ["imc-4"])
        q = CacheQuery()
        q.ids = []
        #expect(try await repo.list(account: "a", query: q).total == 0)
        q = CacheQuery()
        q.statuses = [.pending]
        #expect(try await repo.list(account: "b", query: q).caches.map(\.id) == ["imc-b"])
        #expect(try await repo.usage(account: "a") == (5, 100))
        #expect(try await repo.countByStatus() == ["Pending": 6])
        #expect(try await repo.queueHeads(perAccount: 2, owner: "node-1", now: Date()).map(\.id) == ["imc-0", "imc-b", "imc-1"])
    }

    @Test(arguments: Backend.allCases) func cachesUpdateDeleteServeAndSurviveReopening(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let repo = opened.store.caches
        var c = cache("imc-x")
        try await repo.insert(c)
        c.status = .ready
        c.serve(snapshot: "snap-12345678", checksum: nil)
        try await repo.update(c)
        #expect(try await repo.serving(account: "a", region: "ap-guangzhou", now: Date()).map(\.id) == ["imc-x"])
        #expect(try await repo.all(in: [.pending]).isEmpty)
        #expect(try await repo.all(in: [.ready]).map(\.id) == ["imc-x"])
        await #expect(throws: StoreError.self) { try await repo.update(self.cache("imc-missing")) }
        #expect(try await repo.delete(id: "imc-x", account: "b") == false)
        let reopened = try await opened.reopen().caches
        #expect(try await reopened.get(id: "imc-x", account: "a")?.snapshotID == "snap-12345678")
        #expect(try await reopened.delete(id: "imc-x", account: "a"))
        #expect(try await reopened.get(id: "imc-x", account: "a") == nil)
        #expect(try await reopened.modify(id: "imc-x", account: "a") { $0.name = "gone" } == nil)
    }

    @Test(arguments: Backend.allCases) func aSecondCacheOfANameIsRefusedAndNothingChanges(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let repo = opened.store.caches
        try await repo.insert(cache("imc-1"))
        var twin = cache("imc-2")
        twin.name = "n-imc-1"
        do {
            try await repo.insert(twin)
            Issue.record("a duplicate name was stored")
        } catch let e as StoreError {
            #expect(e.code == .duplicate && e.message.contains("n-imc-1"))
        }
        try await repo.insert(cache("imc-2"))
        await #expect(throws: StoreError.self) { try await repo.modify(id: "imc-2", account: "a") { $0.name = "n-imc-1" } }
        #expect(try await repo.get(id: "imc-2", account: "a")?.name == "n-imc-2", "the refused change left the row as it was")
        var other = cache("imc-3", account: "b")
        other.name = "n-imc-1"
        try await repo.insert(other)  // names are unique per account only
    }

    @Test(arguments: Backend.allCases) func modifiesFromManyThreadsNeverUndoEachOther(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        // Two "replicas": two stores over one database.
        let replicas = [opened.store.caches, try await opened.replica().caches]
        try await replicas[0].insert(cache("imc-m"))
        let results = await concurrently(8) { i in
            for n in 0..<10 {
                try await replicas[i % 2].modify(id: "imc-m", account: "a") {
                    $0.record(.normal, "Step", "thread \(i) step \(n)", at: Date())
                }
            }
        }
        for case .failure(let error) in results { Issue.record("\(error)") }
        let events = try await replicas[1].get(id: "imc-m", account: "a")?.events ?? []
        #expect(events.filter { $0.reason == "Step" }.count == 80, "every one of 80 changes is kept")
    }

    @Test(arguments: Backend.allCases) func twoBuildersNeverClaimOneCache(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let replicas = [opened.store.caches, try await opened.replica().caches]
        for i in 0..<6 { try await replicas[0].insert(cache("imc-\(i)", created: Double(i))) }
        try await replicas[0].insert(cache("imc-ready", created: 9, status: .ready))
        let now = Date()
        let until = now.addingTimeInterval(60)
        // Sixteen builders on two replicas race for every cache: each is won exactly once.
        let wins = await concurrently(16) { i in
            var claimed: [Int] = []
            for n in 0..<6 where try await replicas[i % 2].claimBuild(id: "imc-\(n)", owner: "node-\(i)", until: until, now: now) {
                claimed.append(n)
            }
            return claimed
        }
        let won = wins.flatMap { (try? $0.get()) ?? [] }
        #expect(won.sorted() == [0, 1, 2, 3, 4, 5], "\(wins)")
        #expect(
            try await replicas[1].claimBuild(id: "imc-ready", owner: "node-0", until: until, now: now) == false,
            "a cache that is not queued")
        // A claim held by another owner hides the cache from this owner's queue, not from its own.
        let holder = try #require((0..<16).first { (try? wins[$0].get())?.contains(0) == true })
        #expect(try await !replicas[0].queueHeads(perAccount: 10, owner: "elsewhere", now: now).map(\.id).contains("imc-0"))
        #expect(try await replicas[0].queueHeads(perAccount: 10, owner: "node-\(holder)", now: now).map(\.id).contains("imc-0"))
        // A claim whose lease ran out (its host died) is taken over.
        let later = until.addingTimeInterval(1)
        #expect(try await replicas[1].claimBuild(id: "imc-0", owner: "elsewhere", until: later.addingTimeInterval(60), now: later))
        // Renewed claims last; released ones are free at once.
        try await replicas[0].renewBuildClaims(owner: "elsewhere", until: later.addingTimeInterval(600))
        #expect(try await !replicas[0].claimBuild(id: "imc-0", owner: "node-x", until: later, now: later.addingTimeInterval(300)))
        try await replicas[0].releaseBuildClaims(owner: "elsewhere", id: nil)
        #expect(try await replicas[1].claimBuild(id: "imc-0", owner: "node-x", until: later, now: now))
    }

    @Test(arguments: Backend.allCases) func theIndexedMatchAgreesWithThePureMatcher(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let repo = opened.store.caches
        let pool = ["nginx", "nginx:1.25", "mysql:8", "redis", "busybox", "docker.io/library/alpine:3", "ghcr.io/a/b:1"]
        var generator = SystemRandomNumberGenerator()
        var caches: [ImageCache] = []
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        for i in 0..<120 {
            let images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...4, using: &generator)))
            var c = ImageCache(
                id: String(format: "imc-%08d", i), account: ["a", "b"].randomElement(using: &generator)!,
                region: ["r1", "r2"].randomElement(using: &generator)!, name: "n-\(i)",
                size: [20, 30, 50].randomElement(using: &generator)!,
                images: images, creationTime: now.addingTimeInterval(-Double(Int.random(in: 0...20, using: &generator)) * 86400),
                retentionDays: [0, 0, 7].randomElement(using: &generator)!)
            let status = [CacheStatus.ready, .ready, .pending, .failed, .updating, .updateFailed].randomElement(using: &generator)!
            if status != .pending && status != .failed { c.serve(snapshot: "snap-\(i)", checksum: nil) }
            c.status = status
            c.platform = [nil, nil, "linux/arm64", Platform.host.description].randomElement(using: &generator)!
            try await repo.insert(c)
            caches.append(c)
        }
        for _ in 0..<150 {
            let images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...3, using: &generator)))
            let wanted = Set(images.compactMap { try? ImageReference(parsing: $0).description })
            let minimum = [nil, 1, 2].randomElement(using: &generator)!
            let stored = try await repo.bestMatch(
                account: "a", region: "r1", images: wanted, now: now, minimum: minimum, platform: Platform.host.description)
            let pure = CacheMatcher.best(for: images, among: caches, account: "a", region: "r1", now: now, minimum: minimum)
            #expect(stored?.id == pure?.id, "\(images) minimum \(String(describing: minimum))")
        }
    }

    @Test(arguments: Backend.allCases) func everyChangeIsInTheHistoryInRevisionOrderUntilCompacted(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let store = opened.store
        let start = try await store.caches.revisions().current
        try await store.caches.insert(cache("imc-h"))
        try await store.caches.modify(id: "imc-h", account: "a") { $0.status = .ready }
        try await store.instances.insert(instance("eksci-h"))
        try await store.caches.delete(id: "imc-h", account: "a")
        let changes = try await store.caches.changes(account: "a", after: start)
        #expect(changes.map(\.kind) == [.created, .changed, .deleted])
        #expect(changes.map(\.revision) == [start + 1, start + 2, start + 4], "instances share the counter")
        #expect(changes[1].value.cache.status == .ready && changes[2].value.cache.id == "imc-h")
        #expect(try await store.caches.changes(account: "b", after: start).isEmpty)
        #expect(try await store.instances.changes(account: "a", after: start).map(\.revision) == [start + 3])
        #expect(try await store.caches.revisions().current == start + 4)
        try await store.caches.compactHistory(keeping: 1)
        #expect(try await store.caches.revisions().compacted == start + 3)
        #expect(try await store.caches.changes(account: "a", after: start).map(\.kind) == [.deleted])
    }

    /// The Kubernetes door's metadata lives beside a cache, not in it: written with the cache,
    /// kept by every change that does not name it, replaced by one that does, and read back with
    /// the cache's list and history.
    @Test(arguments: Backend.allCases) func aCachesKubernetesMetadataIsKeptBesideIt(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let caches = opened.store.caches
        let start = try await caches.revisions().current
        let labelled = KubernetesMetadata(uid: "u-1", labels: ["team": "a"], generation: 1, imagePullSecrets: ["default/pull"])
        try await caches.insert(cache("imc-k"), kubernetes: labelled)
        try await caches.insert(cache("imc-plain"))
        try await caches.modify(id: "imc-k", account: "a") { $0.status = .ready }
        var replaced = try #require(try await caches.get(id: "imc-k", account: "a"))
        replaced.retentionDays = 9
        try await caches.update(replaced)
        func documents() async throws -> [String: CacheDocument] {
            Dictionary(
                uniqueKeysWithValues: try await caches.documents(account: "a", query: CacheQuery()).documents.map { ($0.cache.id, $0) })
        }
        var read = try await documents()
        #expect(read["imc-k"]?.kubernetes == labelled && read["imc-k"]?.cache.retentionDays == 9)
        #expect(read["imc-plain"]?.kubernetes == nil)
        var relabelled = labelled
        relabelled.labels = ["team": "b"]
        relabelled.generation = 2
        try await caches.modify(id: "imc-k", account: "a", kubernetes: relabelled) { $0.retentionDays = 10 }
        read = try await documents()
        #expect(read["imc-k"]?.kubernetes == relabelled && read["imc-k"]?.cache.retentionDays == 10)
        let history = try await caches.changes(account: "a", after: start).filter { $0.value.cache.id == "imc-k" }
        #expect(history.map(\.value.kubernetes?.labels) == [["team": "a"], ["team": "a"], ["team": "a"], ["team": "b"]])
        // The document is the cache's fields with `kubernetes` beside them (rows written when
        // the metadata was a field of the cache read the same).
        let json = try JSONSerialization.jsonObject(with: try StoreCoding.encoder.encode(read["imc-k"]!)) as? [String: Any]
        #expect(json?["id"] as? String == "imc-k" && (json?["kubernetes"] as? [String: Any])?["uid"] as? String == "u-1")
    }

    @Test(arguments: Backend.allCases) func aPodsMetadataIsChangedOnlyByTheDoorAndANodesWriteKeepsIt(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let instances = opened.store.instances
        var pod = instance("eksci-meta")
        pod.kubernetes = KubernetesMetadata(uid: "u-1", labels: ["tier": "front"], namespace: "team")
        try await instances.insert(pod)
        let start = try #require(try await instances.get(id: pod.id, account: "a")).revision ?? 0
        // The node's copy, read before the door's change, written after it.
        var nodesCopy = try #require(try await instances.get(id: pod.id, account: "a"))
        let changed = try await instances.updateMetadata(id: pod.id, account: "a") { current in
            var k = try #require(current.kubernetes)
            k.labels["tier"] = "back"
            return k
        }
        #expect(changed?.kubernetes?.labels == ["tier": "back"] && (changed?.revision ?? 0) > start)
        nodesCopy.status = .running
        try await instances.update(nodesCopy)
        let read = try #require(try await instances.get(id: pod.id, account: "a"))
        #expect(read.status == .running && read.kubernetes?.labels == ["tier": "back"], "neither write undid the other")
        #expect(read.credentials.first?.password == "instance-secret", "sealed and opened again")
        // A refusal changes nothing; an unknown id is nil.
        struct Refused: Error {}
        await #expect(throws: Refused.self) { _ = try await instances.updateMetadata(id: pod.id, account: "a") { _ in throw Refused() } }
        #expect(try await instances.get(id: pod.id, account: "a")?.revision == read.revision)
        #expect(try await instances.updateMetadata(id: pod.id, account: "other") { $0.kubernetes! } == nil)
    }

    @Test(arguments: Backend.allCases) func commitsWakeObserversOfEveryReplica(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let other = try await opened.reopen()
        let woken = Atomic<Int>(0)
        await other.observeCommits { woken.add(1, ordering: .relaxed) }
        let here = Atomic<Int>(0)
        await opened.store.observeCommits { here.add(1, ordering: .relaxed) }
        try await opened.store.caches.insert(cache("imc-w"))
        let deadline = Date().addingTimeInterval(10)
        while ((backend == .postgresql && woken.load(ordering: .relaxed) == 0) || here.load(ordering: .relaxed) == 0) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(here.load(ordering: .relaxed) >= 1, "the writing replica is told")
        if backend == .postgresql {
            #expect(woken.load(ordering: .relaxed) >= 1, "another replica is told (NOTIFY)")
        }
        #expect(await opened.store.ready())
        #expect(await other.ready())
    }

    @Test(arguments: Backend.allCases) func instancesRoundTripAndStayInTheirAccount(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let repo = opened.store.instances
        for i in 0..<3 { try await repo.insert(instance("eksci-\(i)", created: Double(i))) }
        try await repo.insert(instance("eksci-b", account: "b"))
        #expect(try await repo.get(id: "eksci-1", account: "a")?.credentials.first?.password == "instance-secret")
        #expect(try await repo.get(id: "eksci-1", account: "b") == nil)
        var q = InstanceQuery()
        q.limit = 2
        #expect(try await repo.list(account: "a", query: q).instances.map(\.id) == ["eksci-2", "eksci-1"])
        var i = try #require(try await repo.get(id: "eksci-0", account: "a"))
        i.status = .running
        try await repo.update(i)
        #expect(try await repo.all(in: [.running]).map(\.id) == ["eksci-0"])
        #expect(try await repo.countByStatus() == ["Pending": 3, "Running": 1])
        await #expect(throws: StoreError.self) { try await repo.update(self.instance("eksci-missing")) }
        #expect(try await repo.delete(id: "eksci-0", account: "b") == false)
        #expect(try await repo.delete(id: "eksci-0", account: "a"))
    }

    @Test(arguments: Backend.allCases) func placementNeverGivesANodeMoreThanItOffersWhicheverReplicasPlace(_ backend: Backend) async throws
    {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let replicas = [opened.store.nodes, try await opened.replica().nodes]
        let now = Date()
        for (name, cpu) in [("n1", 10.0), ("n2", 6.0)] {
            try await replicas[0].register(Node(name: name, cpu: cpu, memoryGiB: 100, diskGiB: 100, at: now))
        }
        // 24 placements of 1 CPU from two replicas on 16 threads: 16 fit, 8 are refused.
        let results = await concurrently(24) { i in
            try await replicas[i % 2].place(instance: "eksci-\(i)", cpu: 1, memoryGiB: 1, cache: nil, excluding: [], at: now)?.name
        }
        let placed = results.compactMap { try? $0.get() }.compactMap { $0 }
        #expect(placed.count == 16, "\(results)")
        #expect(placed.filter { $0 == "n1" }.count == 10)
        #expect(placed.filter { $0 == "n2" }.count == 6)
        let nodes = try await replicas[1].nodes()
        #expect(nodes.map(\.allocatedCPU) == [10, 6])
        // A heartbeat sets the allocation from the node's instances and its warm caches; a warm
        // node is preferred for its cache even with less room.
        let placedIDs = Set((0..<24).map { "eksci-\($0)" })
        #expect(
            try await replicas[0].heartbeat(
                name: "n2", at: now, allocatedCPU: 2, allocatedMemoryGiB: 2, counted: placedIDs, warmCaches: ["imc-w"])
                == .ready)
        #expect(
            try await replicas[0].heartbeat(name: "n1", at: now, allocatedCPU: 0, allocatedMemoryGiB: 0, counted: placedIDs, warmCaches: [])
                == .ready)
        #expect(
            try await replicas[1].place(instance: "eksci-p1", cpu: 1, memoryGiB: 1, cache: "imc-w", excluding: [], at: now)?.name == "n2")
        #expect(try await replicas[1].place(instance: "eksci-p2", cpu: 1, memoryGiB: 1, cache: nil, excluding: [], at: now)?.name == "n1")
        #expect(
            try await replicas[1].place(instance: "eksci-p3", cpu: 1, memoryGiB: 1, cache: "imc-w", excluding: ["n2"], at: now)?.name
                == "n1")
        #expect(
            try await replicas[0].heartbeat(name: "nx", at: now, allocatedCPU: 0, allocatedMemoryGiB: 0, counted: [], warmCaches: []) == nil
        )
        // n2 holds 2 counted and eksci-p1 placed. A heartbeat from a read taken before that
        // placement keeps it counted (no over-commit by a stale heartbeat); a read that holds it
        // takes its reservation back; an instance placed and never written stops counting after
        // Node.reservationLifetime.
        func n2() async throws -> Node { try await replicas[1].nodes().first { $0.name == "n2" }! }
        #expect(try await n2().allocatedCPU == 3)
        _ = try await replicas[0].heartbeat(name: "n2", at: now, allocatedCPU: 2, allocatedMemoryGiB: 2, counted: placedIDs, warmCaches: [])
        #expect(try await n2().allocatedCPU == 3)
        #expect(try await n2().reservations.map(\.instance) == ["eksci-p1"])
        _ = try await replicas[0].heartbeat(
            name: "n2", at: now, allocatedCPU: 3, allocatedMemoryGiB: 3, counted: placedIDs.union(["eksci-p1"]), warmCaches: [])
        #expect(try await n2().allocatedCPU == 3)
        #expect(try await n2().reservations.isEmpty)
        #expect(
            try await replicas[1].place(instance: "eksci-lost", cpu: 1, memoryGiB: 1, cache: nil, excluding: ["n1"], at: now)?.name == "n2")
        let later = now.addingTimeInterval(Node.reservationLifetime + 1)
        _ = try await replicas[0].heartbeat(
            name: "n2", at: later, allocatedCPU: 3, allocatedMemoryGiB: 3, counted: placedIDs, warmCaches: [])
        #expect(try await n2().allocatedCPU == 3)
        #expect(try await n2().reservations.isEmpty)
    }

    @Test(arguments: Backend.allCases) func aSilentNodeIsDeclaredLostOnceAndItsOldWritesAreRefused(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let replicas = [opened.store, try await opened.replica()]
        let then = Date(timeIntervalSince1970: 1_700_000_000)
        try await replicas[0].nodes.register(Node(name: "old", cpu: 4, memoryGiB: 8, diskGiB: 100, at: then))
        try await replicas[0].nodes.register(Node(name: "alive", cpu: 4, memoryGiB: 8, diskGiB: 100, at: then.addingTimeInterval(100)))
        // Eight watchers on two replicas: the silent node is handed to exactly one.
        let results = await concurrently(8) { i in
            try await replicas[i % 2].nodes.markLost(heartbeatBefore: then.addingTimeInterval(50)).map(\.name)
        }
        #expect(results.compactMap { try? $0.get() }.flatMap { $0 } == ["old"], "\(results)")
        #expect(try await replicas[1].nodes.nodes().map(\.state) == [.ready, .lost])
        #expect(
            try await replicas[0].nodes.heartbeat(
                name: "old", at: then, allocatedCPU: 0, allocatedMemoryGiB: 0, counted: [], warmCaches: []) == .lost)
        #expect(
            try await replicas[0].nodes.place(instance: "eksci-p4", cpu: 1, memoryGiB: 1, cache: nil, excluding: [], at: then)?.name
                == "alive")
        // Its instance moves to the live node; the lost node's late write is refused as gone.
        var i = instance("eksci-moved")
        i.node = "old"
        i.status = .running
        try await replicas[0].instances.insert(i)
        #expect(try await replicas[1].instances.instances(onNode: "old").map(\.id) == ["eksci-moved"])
        let moved = i.moved(to: "alive", because: "moved", at: then)
        try await replicas[1].instances.reassign(moved, from: "old")
        await #expect(throws: StoreError.self) { try await replicas[1].instances.reassign(moved, from: "old") }
        var late = i
        late.status = .failed
        await #expect(throws: StoreError.self) { try await replicas[0].instances.update(late) }
        let now = try #require(try await replicas[0].instances.get(id: "eksci-moved", account: "a"))
        #expect(now.node == "alive" && now.status == .pending && now.events.last?.reason == "Rescheduled")
        #expect(try await replicas[0].instances.instances(onNode: "old").isEmpty)
        try await replicas[0].instances.update(now)  // its new node's write goes through
        // Registering again (the lost node restarted) makes it Ready.
        try await replicas[0].nodes.register(Node(name: "old", cpu: 4, memoryGiB: 8, diskGiB: 100, at: then))
        #expect(try await replicas[1].nodes.nodes().map(\.state) == [.ready, .ready])
    }

    @Test(arguments: Backend.allCases) func aRetainedDiskIsTakenOnceHoweverManyAskAtOnce(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let replicas = [opened.store.instances, try await opened.replica().instances]
        let now = Date()
        var disk = DiskRecord(
            id: "disk-r", account: "a", use: .retained, instanceID: nil, cacheID: "imc-1", sizeGiB: 20, diskType: .premium, createdAt: now)
        disk.retainUntil = now.addingTimeInterval(600)
        try await replicas[0].insertDisk(disk)
        var build = DiskRecord(
            id: "disk-b", account: "a", use: .build, instanceID: nil, cacheID: "imc-1", sizeGiB: 30, diskType: .premium, createdAt: now)
        try await replicas[0].insertDisk(build)
        let taken = await concurrently(8) { i in try await replicas[i % 2].takeRetainedDisk(account: "a", cacheID: "imc-1", now: now) }
        let disks = taken.compactMap { try? $0.get() }.compactMap { $0 }
        #expect(disks.map(\.id) == ["disk-r"], "one caller took it, the others found none: \(taken)")
        #expect(try await replicas[1].disk(id: "disk-r")?.use == .instance)
        #expect(try await replicas[1].diskUsage(account: "a") == [.instance: 20, .build: 30])
        build.sizeGiB = 40
        try await replicas[1].updateDisk(build)
        #expect(try await replicas[0].disks().map(\.sizeGiB) == [40, 20])
        try await replicas[0].deleteDisk(id: "disk-b")
        #expect(try await replicas[1].disk(id: "disk-b") == nil)
        await #expect(throws: StoreError.self) { try await replicas[1].updateDisk(build) }
    }

    @Test(arguments: Backend.allCases) func idRangesAndAddressesAreNeverGivenTwice(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let replicas = [opened.store.instances, try await opened.replica().instances]
        let ranges = await concurrently(12) { i in
            try await replicas[i % 2].allocateIDRange(instanceID: "eksci-\(i)", first: 100_000, size: 65536, count: 10)
        }
        let bases = ranges.compactMap { try? $0.get() }
        #expect(Set(bases).count == 10, "ten ranges, each once")
        #expect(
            ranges.filter { if case .failure(let e) = $0 { return (e as? StoreError)?.code == .exhausted } else { return false } }.count
                == 2)
        // Asking again for an instance that has a range gives it the same (which 2 of the 12 went
        // without is the race's to decide).
        let holder = try #require(ranges.firstIndex { (try? $0.get()) != nil })
        #expect(
            try await replicas[0].allocateIDRange(instanceID: "eksci-\(holder)", first: 100_000, size: 65536, count: 10)
                == (try ranges[holder].get()))
        try await replicas[1].releaseIDRange(instanceID: "eksci-\(holder)")
        #expect(try await replicas[0].allocatedIDRanges().count == 9)

        let addresses = await concurrently(12) { i in
            try await replicas[i % 2].allocateAddress(
                instanceID: "eksci-\(i)", account: "a", vpc: "vpc-1", subnet: i < 6 ? "s1" : "s2", networks: 4)
        }
        let given = addresses.compactMap { try? $0.get() }
        #expect(given.count == 12)
        #expect(Set(given.map { "\($0.block).\($0.host)" }).count == 12, "no address twice")
        #expect(Set(given.map(\.network)).count == 1 && Set(given.map(\.block)).count == 2)
        try await replicas[0].releaseAddress(instanceID: "eksci-3")
        #expect(try await replicas[1].allocatedAddresses().count == 11)
    }

    @Test(arguments: Backend.allCases) func usageIsMeteredAndClosed(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { withExtendedLifetime(opened) {} }
        let usage = opened.store.usage
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        try await usage.start(
            Usage(
                account: "a", kind: .builder, resourceID: "imc-1", cacheID: "imc-1", instanceID: nil, quantity: 1, diskType: nil, start: t0)
        )
        try await usage.start(
            Usage(
                account: "a", kind: .buildDisk, resourceID: "imc-1", cacheID: "imc-1", instanceID: nil, quantity: 20, diskType: "CLOUD_SSD",
                start: t0))
        try await usage.start(
            Usage(account: "b", kind: .snapshot, resourceID: "snap-1", cacheID: nil, instanceID: nil, quantity: 5, diskType: nil, start: t0)
        )
        try await usage.stop(resourceID: "imc-1", kind: .builder, at: t0.addingTimeInterval(60))
        try await usage.stopAll(kinds: [.buildDisk], at: t0.addingTimeInterval(120))
        let a = try await usage.usage(account: "a", from: t0, to: t0.addingTimeInterval(3600))
        #expect(a.map(\.kind) == [.builder, .buildDisk])
        #expect(a.map(\.end) == [t0.addingTimeInterval(60), t0.addingTimeInterval(120)])
        #expect(a[1].diskType == "CLOUD_SSD" && a[1].quantity == 20)
        #expect(try await usage.usage(account: "a", from: t0.addingTimeInterval(200), to: t0.addingTimeInterval(3600)).isEmpty)
        #expect(try await usage.usage(account: "b", from: t0, to: t0.addingTimeInterval(1)).first?.end == nil)
    }

    @Test(arguments: Backend.allCases) func objectsArePerAccountAndSealed(_ backend: Backend) async throws {
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let opened = try await backend.open(secrets: box)
        defer { withExtendedLifetime(opened) {} }
        let objects = opened.store.objects
        let secret = StoredObject(
            kind: "Secret", namespace: "default", name: "pull", uid: "u-1", created: Date(timeIntervalSince1970: 1_700_000_000),
            data: Data(#"{"data":"object-secret-value"}"#.utf8))
        try await objects.insertObject(secret, account: "a")
        await #expect(throws: StoreError.self) { try await objects.insertObject(secret, account: "a") }
        try await objects.insertObject(secret, account: "b")
        #expect(try await objects.object(account: "a", kind: "Secret", namespace: "default", name: "pull") == secret)
        #expect(try await objects.objects(account: "a", kind: "Secret", namespace: nil).count == 1)
        #expect(try await objects.objects(account: "a", kind: "Secret", namespace: "other").isEmpty)
        #expect(try await objects.deleteObject(account: "a", kind: "Secret", namespace: "default", name: "pull"))
        #expect(try await objects.object(account: "a", kind: "Secret", namespace: "default", name: "pull") == nil)
        #expect(try await objects.object(account: "b", kind: "Secret", namespace: "default", name: "pull") != nil)
    }

    @Test func passwordsNeverReachPostgreSQLInClear() async throws {
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let server = try PostgreSQLServer.running()
        let url = try server.newDatabase()
        let store = try await StateStore.open(database: url, dataRoot: "/nonexistent", secrets: box)
        var c = cache("imc-s")
        c.credentials = [CacheCredential(server: "r", username: "u", password: "cache-password-1234")]
        try await store.caches.insert(c)
        try await store.instances.insert(instance("eksci-s"))
        try await store.objects.insertObject(
            StoredObject(kind: "Secret", namespace: "d", name: "s", uid: "u", created: Date(), data: Data("object-password-5678".utf8)),
            account: "a")
        #expect(try await store.caches.get(id: "imc-s", account: "a")?.credentials.first?.password == "cache-password-1234")
        let name = String(url.split(separator: "/").last!)
        let dump = try server.psql(
            "SELECT encode(data, 'escape') FROM caches UNION ALL SELECT encode(data, 'escape') FROM instances UNION ALL SELECT encode(data, 'escape') FROM history UNION ALL SELECT data FROM objects",
            database: name)
        #expect(!dump.isEmpty)
        for clear in ["cache-password-1234", "instance-secret", "object-password-5678"] {
            #expect(!dump.contains(clear), "\(clear) is sealed")
        }
    }

    @Test func aDatabaseMigratedByANewerImcIsRefusedNotDamaged() async throws {
        let server = try PostgreSQLServer.running()
        let url = try server.newDatabase()
        _ = try await StateStore.open(database: url, dataRoot: "/nonexistent", secrets: nil)
        let name = String(url.split(separator: "/").last!)
        let count = {
            try server.psql("SELECT COUNT(*) FROM schema_migrations", database: name).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let applied = try count()
        try server.psql("INSERT INTO schema_migrations (name, applied) VALUES ('v99-future', 0)", database: name)
        do {
            _ = try await StateStore.open(database: url, dataRoot: "/nonexistent", secrets: nil)
            Issue.record("a newer schema was opened")
        } catch let e as StoreError {
            #expect(e.message.contains("v99-future"))
        }
        #expect(try count() == "\(Int(applied)! + 1)", "nothing was applied or undone")
    }

    @Test func aReplicaWithAnotherMasterKeyIsRefused() async throws {
        let url = try PostgreSQLServer.running().newDatabase()
        let first = try await StateStore.open(
            database: url, dataRoot: "/nonexistent", secrets: SecretBox(key: SymmetricKey(size: .bits256)))
        do {
            _ = try await StateStore.open(database: url, dataRoot: "/nonexistent", secrets: SecretBox(key: SymmetricKey(size: .bits256)))
            Issue.record("a second key was accepted")
        } catch let e as StoreError {
            #expect(e.code == .secret && e.message.contains("IMC_MASTER_KEY"))
        }
        #expect(await first.ready())
    }

    @Test func aBadDatabaseURLIsNamedInTheError() async throws {
        do {
            _ = try await StateStore.open(database: "postgres://user:s3cret-pw@[bad/db", dataRoot: "/nonexistent", secrets: nil)
            Issue.record("a malformed URL opened")
        } catch let e as StoreError {
            #expect(!e.message.contains("s3cret-pw"), "the password is never repeated: \(e.message)")
        }
        for url in ["postgres://127.0.0.1:1/none", "postgres://h/db?sslmode=require"] {
            do {
                _ = try await StateStore.open(database: url, dataRoot: "/nonexistent", secrets: nil)
                Issue.record("\(url) opened")
            } catch let e as StoreError {
                #expect(e.message.contains("PostgreSQL") || e.message.contains("sslmode"), "\(e.message)")
            }
        }
    }
}
