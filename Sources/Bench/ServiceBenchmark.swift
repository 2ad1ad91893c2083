import ArgumentParser
import Foundation
import IMCAPI
import IMCCache
import IMCClient
import IMCDisks
import IMCStore
import IMCTestSupport
import Synchronization

/// The service's speeds (issue 3): a disk made from a snapshot of a 20 GiB and a 200 GiB cache
/// against `cp --sparse=always`, and the latency and throughput of DescribeImageCaches and
/// GetMostSuitableImageCache over signed requests with 10,000 caches in the database. With
/// `--ceph` (issue 13), a disk from an RBD snapshot (clone, rbd-fuse map, mount) against the
/// local reflink path, on a one-node Ceph started for the run; with `--postgres`, the API over
/// PostgreSQL with one and two replicas against SQLite, on a PostgreSQL started for the run.
struct ServiceBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Benchmark disks from snapshots and the API with many caches.")

    @Option(help: "Where the benchmark's data root goes (removed afterwards).") var work = "/var/tmp/imc-bench-service"
    @Option(help: "The imc binary to run as the service.") var imc = ".build/release/imc"
    @Option(help: "Caches in the database.") var caches = 10_000
    @Option(help: "Sequential requests per action for latency.") var requests = 2000
    @Option(help: "Concurrent connections for throughput.") var connections = 16
    @Option(help: "Seconds of the throughput run per action.") var seconds = 5
    @Option(name: .customLong("data-gib"), help: "GiB of data written to the cached disk before it is snapshotted.") var dataGiB = 1
    @Option(help: "Runs of each disk measurement.") var runs = 10
    @Option(help: "Write the results as Markdown to this file.") var markdown: String?
    @Flag(help: "Also measure disks from RBD snapshots on a one-node Ceph started for the run.") var ceph = false
    @Flag(help: "Also measure the API over PostgreSQL (one and two replicas) started for the run.") var postgres = false
    @Flag(help: "Skip the local disk measurements.") var skipLocalDisks = false
    @Option(help: "Also measure the API while this many instances start at once, again and again (0: not).") var starting = 0

    func run() async throws {
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var report = ""
        if !skipLocalDisks { report += "### Disks from snapshots\n\n" + (try await disks()) + "\n" }
        if ceph { report += "### Disks from RBD snapshots against the local reflink pool\n\n" + (try await rbdDisks()) + "\n" }
        report += "### The API with \(caches) caches\n\n" + (try await apiReport())
        report += "\n"
        print(report)
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    func disks() async throws -> String {
        let root = work + "/disks"
        let pool = try await DiskPool.open(dataRoot: root, poolSizeGiB: 4096)
        let manager = DiskManager(pool: pool)
        let store = LocalSnapshotStore(disks: manager)
        var rows: [String] = []
        for size in [20, 200] {
            let disk = try await manager.create(sizeGiB: size)
            _ = try await manager.withMounted(disk, at: root + "/mnt") { mnt in
                try Measure.shell("head -c \(dataGiB << 30) /dev/urandom > \(mnt)/data && sync")
            }
            var snapshot = try await store.create(from: disk)
            snapshot.checksum = try await store.takeChecksum(id: snapshot.id)
            await manager.remove(disk)
            var make: [Double] = []
            var verify: [Double] = []
            var copy: [Double] = []
            var clone: [Double] = []
            let image = "\(pool.root)/snapshots/\(snapshot.id).img"
            for i in 0..<runs {
                var t = ContinuousClock.now
                try await store.verify(snapshot)
                verify.append((ContinuousClock.now - t).seconds)
                t = ContinuousClock.now
                try await pool.copy(image, to: "\(pool.root)/disks/clone-\(i).img")
                clone.append((ContinuousClock.now - t).seconds)
                unlink("\(pool.root)/disks/clone-\(i).img")
                t = ContinuousClock.now
                let d = try await store.makeDisk(from: snapshot, sizeGiB: nil)
                make.append((ContinuousClock.now - t).seconds)
                await manager.remove(d)
                sync()
                t = ContinuousClock.now
                try Measure.shell("cp --sparse=always --reflink=never \(pool.root)/snapshots/\(snapshot.id).img \(pool.root)/copy-\(i).img")
                copy.append((ContinuousClock.now - t).seconds)
                unlink("\(pool.root)/copy-\(i).img")
            }
            store.delete(id: snapshot.id)
            rows.append(
                String(
                    format: "| %d GiB (%d GiB of data) | %.2f ms | %.0f ms | %.2f ms | %.0f ms | %.0fx |", size, dataGiB,
                    Measure.median(clone) * 1000,
                    Measure.median(verify) * 1000, Measure.median(make) * 1000, Measure.median(copy) * 1000,
                    Measure.median(copy) / max(1e-6, Measure.median(clone))))
        }
        try? pool.unmountPool()
        return
            "| cache disk | reflink clone (median) | full checksum rehash (median) | makeDisk: seal check + clone (median) | cp --sparse=always (median) | clone vs cp |\n|---|---|---|---|---|---|\n"
            + rows.joined(separator: "\n") + "\n"
    }

    /// A disk ready to use (made from the snapshot and mounted) from a snapshot of a cache with
    /// `dataGiB` written, at 20 and 200 GiB: the local store (reflink clone, loop mount) against
    /// RBD (clone, an rbd-fuse mapping, loop mount).
    func rbdDisks() async throws -> String {
        let cluster = try CephCluster.start()
        defer { cluster.stop() }
        let root = work + "/rbd"
        let pool = try await DiskPool.open(dataRoot: root, poolSizeGiB: 4096)
        defer { try? pool.unmountPool() }
        let rbd = try await RBDDisks.attach(configuration: cluster.configuration, maps: root + "/maps")
        let local = DiskManager(pool: pool)
        let remote = DiskManager(pool: pool, rbd: rbd)
        let backends: [(DiskManager, any SnapshotStore)] = [
            (local, LocalSnapshotStore(disks: local)), (remote, try RBDSnapshotStore(disks: remote)),
        ]
        var rows: [String] = []
        for size in [20, 200] {
            var medians: [Double] = []
            var makes: [Double] = []
            for (manager, store) in backends {
                let disk = try await manager.create(sizeGiB: size)
                _ = try await manager.withMounted(disk, at: root + "/mnt") { mnt in
                    try Measure.shell("head -c \(dataGiB << 30) /dev/urandom > \(mnt)/data && sync")
                }
                let snapshot = try await store.create(from: disk)
                await manager.remove(disk)
                var ready: [Double] = []
                var made: [Double] = []
                for _ in 0..<runs {
                    let t = ContinuousClock.now
                    let d = try await store.makeDisk(from: snapshot, sizeGiB: nil)
                    made.append((ContinuousClock.now - t).seconds)
                    try await manager.mount(d, at: root + "/ready")
                    ready.append((ContinuousClock.now - t).seconds)
                    try await manager.unmount(root + "/ready")
                    await manager.remove(d)
                }
                store.delete(id: snapshot.id)
                medians.append(Measure.median(ready))
                makes.append(Measure.median(made))
            }
            rows.append(
                String(
                    format: "| %d GiB (%d GiB of data) | %.0f ms (clone %.0f ms) | %.0f ms (clone + map %.0f ms) | %.1fx |", size, dataGiB,
                    medians[0] * 1000, makes[0] * 1000, medians[1] * 1000, makes[1] * 1000, medians[1] / max(1e-6, medians[0])))
        }
        return
            "Median of \(runs) runs from the snapshot to a mounted disk; Ceph is one monitor and one bluestore OSD on a file on this machine.\n\n"
            + "| cache disk | local: reflink clone + loop mount | RBD: clone + rbd-fuse map + loop mount | RBD / local |\n|---|---|---|---|\n"
            + rows.joined(separator: "\n") + "\n"
    }

    func apiReport() async throws -> String {
        // Instances that start while the API is measured pull this image (a busybox) from a
        // registry of the benchmark's own.
        let registry = starting > 0 ? try await FaultRegistry.start() : nil
        defer { registry?.stop() }
        if let registry { registry.add(try RunnableImages.image(), repository: "bench/starting", tag: "v1") }
        var rows = try await api(label: "SQLite, 1 replica", database: nil, replicas: 1)
        if let registry {
            rows += try await api(
                label: "SQLite, 1 replica, \(starting) instances starting", database: nil, replicas: 1, registry: registry)
        }
        if postgres {
            let server = try PostgreSQLServer.start()
            defer { server.stop() }
            rows += try await api(label: "PostgreSQL, 1 replica", database: try server.newDatabase(), replicas: 1)
            if let registry {
                rows += try await api(
                    label: "PostgreSQL, 1 replica, \(starting) instances starting", database: try server.newDatabase(), replicas: 1,
                    registry: registry)
            }
            rows += try await api(label: "PostgreSQL, 2 replicas", database: try server.newDatabase(), replicas: 2)
        }
        return
            "Signed requests from imc's own client, \(requests) sequential per action for latency (each signed and its answer decoded, as an SDK does), then \(connections) connections for \(seconds) s replaying 512 requests per action signed beforehand (spread over the replicas).\n\n"
            + "| state | action | median | p99 | requests/s (\(connections) connections) |\n|---|---|---|---|---|\n"
            + rows.joined(separator: "\n")
            + "\n"
    }

    /// Keeps `starting` instances starting for as long as it runs: creates them at once (each
    /// pulls the image, unpacks it, starts a container that ends at once), waits for them to end,
    /// deletes them, and again. Returns how many started.
    func keepStarting(_ client: APIClient, image: String, registry: String, count: Counter) async throws -> Int {
        var started = 0
        while !Task.isCancelled {
            var request = CreateEKSContainerInstancesRequest(Containers: [Container(Name: "main", Image: image)])
            request.Containers[0].Commands = ["/bin/true"]
            request.RestartPolicy = "Never"
            request.TerminationGracePeriodSeconds = 0
            request.Replicas = starting
            request.RegistryHttpEndPointList = [registry]
            // Over PostgreSQL the instances are placed on the node (this process), whose room is
            // given back by its next heartbeat after a delete: a refusal is waited out.
            guard let ids = try? await client.send(request).EksCiIds else {
                try await Task.sleep(for: .milliseconds(500))
                continue
            }
            while !Task.isCancelled {
                var describe = DescribeEKSContainerInstancesRequest()
                describe.EksCiIds = ids
                let all = try await client.send(describe).EksCis
                if all.allSatisfy({ $0.Status == "Succeeded" || $0.Status == "Failed" }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            started += ids.count
            for _ in ids { count.add() }
            try await client.deleteInstancesAndWait(ids, poll: .milliseconds(100))
        }
        return started
    }

    func api(label: String, database: String?, replicas: Int, registry: FaultRegistry? = nil) async throws -> [String] {
        let root = work + "/api-\(label.filter(\.isLetter))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // Seed the database directly: Ready caches of the root account over a pool of images.
        let store = try await StateStore.open(database: database ?? root + "/imc.sqlite", dataRoot: root, secrets: nil)
        let repository = store.caches
        let images = (0..<200).map { "registry.example.com/team\($0 % 20)/app\($0):v\($0 % 7)" }
        var generator = SystemRandomNumberGenerator()
        let t0 = Date()
        for i in 0..<caches {
            var c = ImageCache(
                id: String(format: "imc-%08d", i), account: "100000000001", region: "ap-guangzhou", name: "bench-\(i)",
                size: [20, 30, 50, 100].randomElement(using: &generator) ?? 20,
                images: Array(images.shuffled(using: &generator).prefix(Int.random(in: 1...5, using: &generator))),
                creationTime: t0.addingTimeInterval(-Double(i)), retentionDays: 0)
            c.status = .ready
            c.snapshotID = String(format: "snap-%08d", i)
            try await repository.insert(c)
        }
        if store.database.dialect == .postgresql {
            // What autovacuum does within a minute of such a load (an insert-heavy table is
            // vacuumed and analyzed): a database that has held 10,000 caches for a while has its
            // statistics and its visibility map, which an index-only page read needs.
            _ = try await store.database.rows("VACUUM ANALYZE")
        }
        var serves: [ServeProcess] = []
        defer { for serve in serves { serve.stop() } }
        // Every replica seals with one key (the first records it in the database).
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        for replica in 0..<replicas {
            let dataRoot = replicas == 1 ? root : root + "/replica-\(replica)"
            serves.append(
                try await ServeProcess(
                    imc: imc, dataRoot: dataRoot, builders: 0,
                    extraArguments: (database.map { ["--database", $0] } ?? []) + (registry.map { ["--plain-http", $0.host] } ?? []),
                    environment: ["IMC_MASTER_KEY": key]))
        }
        let endpoints = serves.map(\.settings)
        let settings = endpoints[0]
        let client = APIClient(settings)
        defer { Task { try await client.shutdown() } }
        let count = caches
        /// One request of `action`, its parameters drawn at random, sent as the SDK sends it
        /// (signed now, its answer read into the response's types).
        let send: @Sendable (APIClient, String) async throws -> Void = { client, action in
            if action == "DescribeImageCaches" {
                _ = try await client.send(DescribeImageCachesRequest(Limit: 20, Offset: Int.random(in: 0..<max(1, count - 20))))
            } else {
                _ = try await client.send(GetMostSuitableImageCacheRequest(Images: Array(images.shuffled().prefix(Int.random(in: 1...2)))))
            }
        }
        /// 512 such requests of `action`, signed once, for the throughput run to replay: on these
        /// 2 cores the load generator shares the CPU with the service, and signing and decoding
        /// each answer cost it as much as the service's work (wrk replaying one signed request
        /// measures the same service at the same rates).
        let signed: @Sendable (APIClient, String) throws -> [APIClient.SignedCall] = { client, action in
            try (0..<512).map { _ in
                action == "DescribeImageCaches"
                    ? try client.sign(DescribeImageCachesRequest(Limit: 20, Offset: Int.random(in: 0..<max(1, count - 20))))
                    : try client.sign(GetMostSuitableImageCacheRequest(Images: Array(images.shuffled().prefix(Int.random(in: 1...2)))))
            }
        }
        var rows: [String] = []
        let connections = self.connections
        // The instances starting meanwhile, when asked for.
        let startedCount = Counter()
        let load = registry.map { registry in
            Task {
                try await keepStarting(
                    APIClient(settings), image: "\(registry.host)/bench/starting:v1", registry: registry.host, count: startedCount)
            }
        }
        defer { load?.cancel() }
        for action in ["DescribeImageCaches", "GetMostSuitableImageCache"] {
            var latencies: [Double] = []
            for _ in 0..<requests {
                let t = ContinuousClock.now
                try await send(client, action)
                latencies.append((ContinuousClock.now - t).seconds)
            }
            latencies.sort()
            let p99 = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
            let done = Counter()
            let end = ContinuousClock.now + .seconds(seconds)
            let failure = Data(#"{"Response":{"Error""#.utf8)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in 0..<connections {
                    let c = APIClient(endpoints[connection % endpoints.count])
                    let calls = try signed(c, action)
                    group.addTask {
                        var i = connection
                        while ContinuousClock.now < end {
                            let answer = try await c.send(calls[i % calls.count])
                            // A failure's envelope opens with its error (keys are sorted).
                            guard !answer.starts(with: failure) else {
                                throw BenchError("\(action) failed: \(String(decoding: answer.prefix(300), as: UTF8.self))")
                            }
                            i += 1
                            done.add()
                        }
                        try await c.shutdown()
                    }
                }
                try await group.waitForAll()
            }
            let rps = Double(done.total) / Double(seconds)
            rows.append(
                String(
                    format: "| %@ | %@ | %.2f ms | %.2f ms | %.0f |", label as NSString, action as NSString,
                    Measure.median(latencies) * 1000,
                    p99 * 1000, rps))
        }
        if let load {
            load.cancel()
            let started = (try? await load.value) ?? startedCount.total
            rows = rows.map { $0.replacingOccurrences(of: "| \(label) |", with: "| \(label) (\(started) started during the run) |") }
        }
        return rows
    }
}

/// A count shared by concurrent tasks.
final class Counter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var total: Int { value.withLock { $0 } }
}
