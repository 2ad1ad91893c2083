import Foundation
import IMCBilling
import IMCCache
import IMCDisks
import IMCInstance
import IMCModel
import IMCOS
import IMCRegistry
import IMCRuntime
import IMCStore
import Logging

/// What a user asks for when creating instances, already type-checked by the door.
public struct InstanceRequest: Sendable {
    public var name: String?
    public var containers: [ContainerSpec] = []
    public var initContainers: [ContainerSpec] = []
    public var cpu: Double?
    public var memory: Double?
    public var restartPolicy: RestartPolicy?
    public var credentials: [CacheCredential] = []
    public var registryHttpEndPointList: [String] = []
    public var registrySkipVerifyList: [String] = []
    public var cache = CacheRequestOptions()
    public var terminationGracePeriodSeconds: Int?
    public var replicas: Int?
    public var subnetID: String?
    public var vpcID: String?
    public var securityGroupIDs: [String] = []
    public init() {}
}

/// Limits of instances (configuration, not code).
public struct InstanceLimits: Sendable {
    public var maximumContainers = 20
    public var maximumReplicas = 50
    public var maximumDiskGiB = 2048
    public var defaultScratchDiskGiB = 20
    public var maximumRetainMinutes = 7 * 24 * 60
    public var maximumInstancesPerAccount = 1000
    public init() {}
}

/// Container instances: validated, recorded, started from an image cache's disk (or from pulled
/// images), supervised by their restart policy, and stopped and cleaned up on delete. Each
/// instance runs in an `InstanceRun` of its own.
public final class InstanceService: Sendable {
    public let repository: any InstanceRepository
    let caches: CacheService
    let cacheRepository: any CacheRepository
    let disks: DiskManager
    let snapshots: any SnapshotStore
    let runc: Runc
    let root: String
    let nodeImages: NodeImages
    let registry: RegistryConfig
    let clientOptions: RegistryClientOptions
    let limits: InstanceLimits
    let ids: any IDGenerator
    let now: @Sendable () -> Date
    let logger: Logger
    let runs = Runs()
    /// Image cache disks (in use and retained), metered for the bill.
    let meter: Meter

    /// `root` holds each instance's mounts, bundles and logs, runc's state and the node's
    /// pulled images. `registry` is the node's registry settings (plain-HTTP and unverified
    /// hosts); an instance's own credentials are added to it.
    public init(
        repository: any InstanceRepository, caches: CacheService, disks: DiskManager, snapshots: any SnapshotStore, root: String,
        registry: RegistryConfig = RegistryConfig(), clientOptions: RegistryClientOptions = RegistryClientOptions(),
        limits: InstanceLimits = InstanceLimits(), ids: any IDGenerator = RandomIDGenerator(),
        now: @escaping @Sendable () -> Date = { Date() }, meter: Meter = .off,
        logger: Logger? = nil
    ) throws {
        self.meter = meter
        self.repository = repository
        self.caches = caches
        cacheRepository = caches.repository
        self.disks = disks
        self.snapshots = snapshots
        self.root = root
        runc = Runc(root: root + "/runc")
        nodeImages = NodeImages(root: root + "/node")
        self.registry = registry
        self.clientOptions = clientOptions
        self.limits = limits
        self.ids = ids
        self.now = now
        self.logger = logger ?? Logger(label: "imc.instance", factory: { _ in SwiftLogNoOpLogHandler() })
        for dir in [root, root + "/runc", root + "/node", root + "/run"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    // MARK: - Doors

    /// Validates, records `replicas` Pending instances and starts them; returns at once.
    public func create(_ request: InstanceRequest, account: String, region: String) throws -> [Instance] {
        try validate(request)
        let (total, _) = try repository.list(
            account: account,
            query: {
                var q = InstanceQuery()
                q.limit = 0
                return q
            }())
        let replicas = request.replicas ?? 1
        guard total + replicas <= limits.maximumInstancesPerAccount else {
            throw CacheServiceError.limitExceeded(
                "the account has \(total) instances; \(replicas) more would pass the limit of \(limits.maximumInstancesPerAccount)")
        }
        var created: [Instance] = []
        for _ in 0..<replicas {
            let id = ids.next(prefix: "eksci")
            var instance = Instance(id: id, account: account, region: region, name: request.name ?? id, creationTime: now())
            if replicas > 1, let name = request.name { instance.name = "\(name)-\(created.count)" }
            instance.containers = request.containers
            instance.initContainers = request.initContainers
            instance.cpu = request.cpu ?? 1
            instance.memory = request.memory ?? 2
            instance.restartPolicy = request.restartPolicy ?? .always
            instance.terminationGracePeriodSeconds = request.terminationGracePeriodSeconds ?? 30
            instance.credentials = request.credentials
            instance.registryHttpEndPointList = request.registryHttpEndPointList
            instance.registrySkipVerifyList = request.registrySkipVerifyList
            instance.cache = request.cache
            instance.subnetID = request.subnetID
            instance.vpcID = request.vpcID
            instance.securityGroupIDs = request.securityGroupIDs
            for c in request.initContainers + request.containers { instance.states[c.name] = ContainerState(reason: "ContainerCreating") }
            instance.record(.normal, "Scheduled", "Successfully assigned \(instance.name) to imc", at: instance.creationTime)
            instance.mark("Created", at: instance.creationTime)
            try repository.insert(instance)
            created.append(instance)
        }
        for instance in created {
            let run = InstanceRun(instance: instance, service: self)
            runs.add(run)
            Task { await run.begin() }
        }
        return created
    }

    public func describe(account: String, query: InstanceQuery) throws -> (total: Int, instances: [Instance]) {
        guard (0...100).contains(query.limit) else {
            throw CacheServiceError.invalidValue("Limit must be from 0 to 100, not \(query.limit)")
        }
        guard query.offset >= 0 else { throw CacheServiceError.invalidValue("Offset must not be negative, not \(query.offset)") }
        return try repository.list(account: account, query: query)
    }

    public func get(id: String, account: String) throws -> Instance {
        guard let instance = try repository.get(id: id, account: account) else {
            throw CacheServiceError.notFound("EksCiId \(id) does not exist")
        }
        return instance
    }

    /// A container's output (the last `tail` lines and at most `limitBytes` bytes).
    public func logs(id: String, account: String, container: String?, tail: Int?, limitBytes: Int?) throws -> (String, String) {
        let instance = try get(id: id, account: account)
        let names = (instance.initContainers + instance.containers).map(\.name)
        let name = container ?? instance.containers.first?.name ?? ""
        guard names.contains(name) else {
            throw CacheServiceError.invalidValue(
                "ContainerName \"\(name.prefix(60))\" is not a container of \(id); it has \(names.joined(separator: ", "))")
        }
        if let tail, tail < 0 { throw CacheServiceError.invalidValue("Tail must not be negative, not \(tail)") }
        if let limitBytes, limitBytes <= 0 { throw CacheServiceError.invalidValue("LimitBytes must be positive, not \(limitBytes)") }
        let maxBytes = min(limitBytes ?? (1 << 20), 1 << 20)
        guard let h = FileHandle(forReadingAtPath: logPath(instance.id, name)) else { return (name, "") }
        defer { try? h.close() }
        let end = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: end > UInt64(maxBytes) ? end - UInt64(maxBytes) : 0)
        var text = String(decoding: (try? h.readToEnd()) ?? Data(), as: UTF8.self)
        if let tail {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }
            text = lines.suffix(tail).joined(separator: "\n") + (lines.isEmpty || tail == 0 ? "" : "\n")
        }
        return (name, text)
    }

    /// Deletes instances: each is marked Terminating at once, then its containers are stopped
    /// (SIGTERM, SIGKILL after the grace period), everything unmounted and its disk released or
    /// kept for reuse; the record goes last. Unknown ids are an error and then nothing happens.
    public func delete(ids: [String], account: String) throws {
        guard !ids.isEmpty else { throw CacheServiceError.missing("EksCiIds must name at least one instance") }
        var found: [Instance] = []
        for id in ids { found.append(try get(id: id, account: account)) }
        for var instance in found where instance.status != .terminating {
            instance.status = .terminating
            try repository.update(instance)
            Task { await self.stopAndRemove(instance.id, account: account) }
        }
    }

    /// Deletes and waits until every named instance is gone.
    public func deleteAndWait(ids: [String], account: String) async throws {
        try delete(ids: ids, account: account)
        while try ids.contains(where: { try repository.get(id: $0, account: account) != nil }) {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Restarts every container of the instances (same disk, writable layers kept).
    public func restart(ids: [String], account: String) throws {
        guard !ids.isEmpty else { throw CacheServiceError.missing("EksCiIds must name at least one instance") }
        var found: [Instance] = []
        for id in ids { found.append(try get(id: id, account: account)) }
        for instance in found {
            guard instance.status == .running || instance.status == .succeeded || instance.status == .failed else {
                throw CacheServiceError.inUse(
                    "instance \(instance.id) is \(instance.status.rawValue); it can be restarted once it has started")
            }
        }
        for instance in found {
            if let run = runs.get(instance.id) { Task { await run.restartAll() } }
        }
    }

    func stopAndRemove(_ id: String, account: String) async {
        if let run = runs.get(id) {
            await run.stop(removing: true)
            runs.remove(id)
        } else if let instance = try? repository.get(id: id, account: account) {
            // Never started here (or the service restarted): clean what may be left.
            let run = InstanceRun(instance: instance, service: self)
            await run.stop(removing: true)
        }
    }

    // MARK: - Housekeeping

    /// Stops every instance of this process (the service is shutting down).
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for run in runs.all() { group.addTask { await run.shutdown() } }
        }
    }

    /// After a restart: instances that were running are stopped (their containers died with
    /// the service or are killed now), their mounts and disks released, and they end Failed
    /// with a reason; instances being deleted are deleted. Returns the disk ids still in use
    /// (retained disks), which the disk pool must keep.
    public func recover() async throws -> Set<String> {
        for id in runc.list() { await runc.delete(id: id) }
        for var instance in try repository.all(in: [.pending, .running, .terminating]) {
            let removing = instance.status == .terminating
            if !removing {
                instance.status = .failed
                instance.message = "imc restarted while the instance ran; its containers were stopped"
                instance.record(.warning, "NodeRestarted", instance.message!, at: now())
                try? repository.update(instance)
            }
            let run = InstanceRun(instance: instance, service: self)
            await run.stop(removing: removing)
        }
        await nodeImages.removeAll()
        // Instance directories no record accounts for.
        let known = Set(try repository.all(in: InstanceStatus.allCases).map(\.id))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root + "/run")) ?? [] where !known.contains(entry) {
            Mount.unmountAll(under: "\(root)/run/\(entry)")
            try? FileManager.default.removeItem(atPath: "\(root)/run/\(entry)")
        }
        var kept = Set<String>()
        for disk in try repository.disks() {
            if disk.use == .retained || (disk.instanceID.map(known.contains) ?? false) && access(diskPath(disk.id), F_OK) == 0 {
                kept.insert(disk.id)
            } else {
                try? repository.deleteDisk(id: disk.id)
            }
        }
        return kept
    }

    /// Releases retained disks whose time is up.
    @discardableResult
    public func sweepRetainedDisks() throws -> [String] {
        var released: [String] = []
        for disk in try repository.disks() where disk.use == .retained && (disk.retainUntil ?? .distantPast) <= now() {
            disks.remove(disks.disk(id: disk.id, sizeGiB: disk.sizeGiB))
            try repository.deleteDisk(id: disk.id)
            meter.stop(disk.id, kind: .retainedDisk)
            released.append(disk.id)
            logger.info("retained disk released", metadata: ["disk": "\(disk.id)"])
        }
        return released
    }

    // MARK: - Paths

    func runDirectory(_ id: String) -> String { "\(root)/run/\(id)" }
    func diskMount(_ id: String) -> String { runDirectory(id) + "/disk" }
    func logPath(_ id: String, _ container: String) -> String { runDirectory(id) + "/logs/\(container).log" }
    func diskPath(_ id: String) -> String { disks.disk(id: id, sizeGiB: 0).path }

    // MARK: - Validation

    func validate(_ r: InstanceRequest) throws {
        guard !r.containers.isEmpty else { throw CacheServiceError.missing("Containers must name at least one container") }
        let all = r.initContainers.map { ("InitContainers", $0) } + r.containers.map { ("Containers", $0) }
        guard all.count <= limits.maximumContainers else {
            throw CacheServiceError.invalidValue("an instance has at most \(limits.maximumContainers) containers, not \(all.count)")
        }
        var names = Set<String>()
        var index: [String: Int] = [:]
        for (field, c) in all {
            let i = index[field, default: 0]
            index[field] = i + 1
            let path = "\(field)[\(i)]"
            guard Self.isDNSLabel(c.name) else {
                throw CacheServiceError.invalidValue(
                    "\(path).Name \"\(c.name.prefix(80))\" must be 1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit"
                )
            }
            guard names.insert(c.name).inserted else { throw CacheServiceError.invalidValue("\(path).Name \"\(c.name)\" is used twice") }
            do { _ = try ImageReference(parsing: c.image) } catch {
                throw CacheServiceError.invalidValue("\(path).Image: \(error.message)")
            }
            for (j, e) in c.env.enumerated() where e.name.isEmpty || e.name.contains("=") || e.name.contains("\0") || e.value.contains("\0")
            {
                throw CacheServiceError.invalidValue(
                    "\(path).EnvironmentVars[\(j)].Name \"\(e.name.prefix(60))\" is not a valid variable name")
            }
            if let w = c.workingDir, !w.isEmpty, !w.hasPrefix("/") {
                throw CacheServiceError.invalidValue("\(path).WorkingDir \"\(w.prefix(100))\" must be an absolute path")
            }
            for (what, v) in [("Cpu", c.cpu), ("Memory", c.memory)] {
                if let v, !(v > 0 && v <= 1024) { throw CacheServiceError.invalidValue("\(path).\(what) must be from 0 to 1024, not \(v)") }
            }
        }
        for (what, v) in [("Cpu", r.cpu), ("Memory", r.memory)] {
            if let v, !(v > 0 && v <= 1024) { throw CacheServiceError.invalidValue("\(what) must be from 0 to 1024, not \(v)") }
        }
        if let n = r.replicas, !(1...limits.maximumReplicas).contains(n) {
            throw CacheServiceError.invalidValue("Replicas must be from 1 to \(limits.maximumReplicas), not \(n)")
        }
        if let g = r.terminationGracePeriodSeconds, !(0...3600).contains(g) {
            throw CacheServiceError.invalidValue("TerminationGracePeriodSeconds must be from 0 to 3600, not \(g)")
        }
        if let name = r.name, name.count > 63 || !name.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) {
            throw CacheServiceError.invalidValue("EksCiName \"\(name.prefix(80))\" must be at most 63 printable characters without spaces")
        }
        if let use = r.cache.use, use != "auto", !RandomIDGenerator.isValid(use, prefix: "imc") {
            throw CacheServiceError.invalidValue("image cache \"\(use.prefix(60))\" must be auto or an image cache id (imc-xxxxxxxx)")
        }
        if let size = r.cache.diskSizeGiB, !(1...limits.maximumDiskGiB).contains(size) {
            throw CacheServiceError.invalidValue("image cache disk size must be from 1 to \(limits.maximumDiskGiB) GiB, not \(size)")
        }
        guard (0...limits.maximumRetainMinutes).contains(r.cache.retainMinutes) else {
            throw CacheServiceError.invalidValue(
                "image cache disk retain minutes must be from 0 to \(limits.maximumRetainMinutes), not \(r.cache.retainMinutes)")
        }
    }

    static func isDNSLabel(_ s: String) -> Bool {
        guard (1...63).contains(s.count), let first = s.first, let last = s.last, first != "-", last != "-" else { return false }
        return s.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
    }
}

/// The instances running in this process, by id.
final class Runs: @unchecked Sendable {
    private var runs: [String: InstanceRun] = [:]
    private let lock = NSLock()
    func add(_ run: InstanceRun) { lock.withLock { runs[run.id] = run } }
    func get(_ id: String) -> InstanceRun? { lock.withLock { runs[id] } }
    func remove(_ id: String) { lock.withLock { runs[id] = nil } }
    func all() -> [InstanceRun] { lock.withLock { Array(runs.values) } }
}
