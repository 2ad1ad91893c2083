import Foundation
import IMCBilling
import IMCCache
import IMCCaches
import IMCDisks
import IMCInstance
import IMCInstances
import IMCModel
import IMCOS
import IMCRegistry
import IMCServiceSupport
import IMCStore
import IMCTestSupport
import Testing

/// A whole instance service for real, for the suites that try its walls: a disk pool under a
/// temporary data root, SQLite, a build worker's builder, the scriptable registry on loopback,
/// runc and runsc. Made with the limits and quotas a suite needs; `close()` checks that nothing
/// is left behind and releases the pool.
final class InstanceHarness: Sendable {
    let dir: TemporaryDirectory
    let pool: DiskPool
    let disks: DiskManager
    let snapshots: LocalSnapshotStore
    let database: SQLiteDatabase
    let cacheRepository: SQLCacheRepository
    let instances: SQLInstanceRepository
    let caches: CacheService
    let builder: CacheBuilder
    let registry: FaultRegistry
    let service: InstanceService
    let account = "100000000001"
    let region = "ap-guangzhou"

    static var available: Bool {
        Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
            && FileManager.default.isExecutableFile(atPath: "/bin/busybox")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs")
    }

    static var gvisorAvailable: Bool { available && FileManager.default.isExecutableFile(atPath: "/usr/bin/runsc") }

    init(
        limits: InstanceLimits = InstanceLimits(), quotas: AccountQuotas = AccountQuotas(), bytesPerGiB: Int64 = 16 << 20,
        builderOptions: RegistryClientOptions = RegistryClientOptionsForTests.fast, policy: BuildPolicy = BuildPolicy(),
        sandboxed: Bool = false, dataRoot: TemporaryDirectory? = nil, poolSizeGiB: Int64 = 64, reserveBytes: Int64 = 2 << 30,
        network: NetworkSettings = NetworkSettings()
    ) async throws {
        dir = try dataRoot ?? TemporaryDirectory(prefix: "imc-walls")
        chmod(dir.path, 0o711)
        var pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: poolSizeGiB)
        pool.reserveBytes = reserveBytes
        self.pool = pool
        disks = DiskManager(pool: pool, bytesPerGiB: bytesPerGiB)
        snapshots = LocalSnapshotStore(disks: disks)
        database = try SQLiteDatabase(path: dir.appending("imc.sqlite"))
        cacheRepository = SQLCacheRepository(database: database)
        instances = SQLInstanceRepository(database: database)
        caches = CacheService(repository: cacheRepository, quotas: quotas, snapshots: snapshots)
        registry = try await FaultRegistry.start()
        let sandbox =
            sandboxed
            ? try BuildSandbox(
                program: CommandRunner.productsDirectory + "/imc", root: dir.appending("sandboxes"), ranges: instances,
                logger: .init(label: "test"))
            : nil
        builder = CacheBuilder(
            repository: cacheRepository, disks: disks, snapshots: snapshots, workRoot: dir.appending("build"),
            clientOptions: builderOptions, diskRecords: instances, policy: policy, sandbox: sandbox)
        service = try InstanceService(
            repository: instances, caches: caches, disks: disks, snapshots: snapshots, root: dir.appending("instances"),
            registry: RegistryConfig(plainHTTPHosts: [registry.host]), clientOptions: RegistryClientOptionsForTests.fast,
            limits: limits, network: network)
    }

    /// Stops what runs and checks that no mount, disk or id range is left.
    func close() async {
        await service.shutdown()
        let mounts = MountTable.entries().map(\.target).joined(separator: "\n")
        #expect(!mounts.contains(dir.appending("instances")), "no instance mount is left behind")
        #expect(await (try? instances.allocatedIDRanges())?.isEmpty ?? true, "no id range is left taken")
        registry.stop()
        try? pool.unmountPool()
    }

    /// Builds a Ready cache of `images` (pushed to the registry beforehand).
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

    func request(
        image: String, command: [String], runtime: RuntimeClass = .runc, memory: Double? = nil, cpu: Double? = nil,
        security: ContainerSecurity? = nil, use: String? = "auto"
    ) -> InstanceRequest {
        var r = InstanceRequest()
        var c = ContainerSpec(name: "c0", image: image, commands: command)
        c.security = security
        r.containers = [c]
        r.cache.use = use
        r.restartPolicy = .never
        r.terminationGracePeriodSeconds = 1
        r.runtimeClass = runtime
        r.memory = memory
        r.cpu = cpu
        return r
    }

    /// Creates one instance, waits until it has ended, and returns it with its log.
    func run(_ request: InstanceRequest) async throws -> (Instance, String) {
        let created = try await service.create(request, account: account, region: region)
        let done = try await wait(created[0].id) { $0.status == .succeeded || $0.status == .failed }
        let log = await (try? service.logs(id: done.id, account: account, container: nil, tail: nil, limitBytes: nil).1) ?? ""
        return (done, log)
    }

    func remove(_ id: String) async throws { try await service.deleteAndWait(ids: [id], account: account) }

    /// Waits until the instance satisfies `done` (or 90 s pass).
    func wait(_ id: String, until done: (Instance) -> Bool) async throws -> Instance {
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            if let i = try await instances.get(id: id, account: account), done(i) { return i }
            try await Task.sleep(for: .milliseconds(20))
        }
        let last = try await instances.get(id: id, account: account)
        Issue.record("instance \(id) did not get there: \(String(describing: last?.status)) \(last?.events.map(\.message) ?? [])")
        throw CancellationError()
    }
}
