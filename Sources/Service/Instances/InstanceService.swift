import Foundation
import IMCBilling
import IMCBillingService
import IMCCache
import IMCCaches
import IMCDisks
import IMCDocuments
import IMCInstance
import IMCModel
import IMCOS
import IMCRegistry
import IMCRuntime
import IMCServiceSupport
import IMCStore
import Logging
import Synchronization

/// Container instances: validated, recorded, started from an image cache's disk (or from pulled
/// images), supervised by their restart policy, and stopped and cleaned up on delete. Each
/// instance runs in an `InstanceRun` of its own.
public final class InstanceService: Sendable {
    public let repository: any InstanceRepository
    let caches: CacheService
    package let cacheRepository: any CacheRepository
    package let disks: DiskManager
    let snapshots: any SnapshotStore
    let root: String
    let nodeImages: NodeImages
    let registry: RegistryConfig
    let clientOptions: RegistryClientOptions
    let limits: InstanceLimits
    /// What one account may hold: the cache service's quotas, one set for both.
    var quotas: AccountQuotas { caches.quotas }
    /// The host ids given to instances' user namespaces.
    let idRanges: IDRangePool
    let ids: any IDGenerator
    package let clock: any ServiceClock
    let logger: Logger
    package let runs = Runs()
    /// Commands run in containers for people, counted per account.
    let execs = ExecCounts()
    /// Image cache disks (in use and retained), metered for the bill.
    package let meter: Meter
    /// The annotations each account's instances get when they do not say otherwise.
    let defaults: InstanceDefaults
    /// VPC networks and security groups; the host is prepared for them at the first attach.
    public let network: NetworkSettings
    var hostNetworkReady: HostPreparation { parts.isolation.hostNetworkReady }
    /// Instances' disks: attached, metered, retained or released.
    let leases: DiskLeases
    /// imc's hosts, when instances are placed among them (nil: every instance runs here).
    public let nodes: (any NodeRepository)?
    /// Whether this process runs instances (`--role node|all`); an API replica only places them.
    public let runsInstances: Bool
    /// This host's name among imc's hosts.
    public var node: String { disks.node }
    /// Caches whose snapshot this node holds warm (placement prefers it for their instances).
    public let warm = WarmCaches()
    /// What each instance's run is handed.
    let parts: InstanceRunParts
    /// The operator's EIP pool and the accounts' EIPs.
    public let eips: ElasticIPs

    /// `root` holds each instance's mounts, bundles and logs, runc's state and the node's
    /// pulled images. `registry` is the node's registry settings (plain-HTTP and unverified
    /// hosts); an instance's own credentials are added to it.
    public init(
        repository: any InstanceRepository, caches: CacheService, disks: DiskManager, snapshots: any SnapshotStore, root: String,
        registry: RegistryConfig = RegistryConfig(), clientOptions: RegistryClientOptions = RegistryClientOptions(),
        limits: InstanceLimits = InstanceLimits(), idRanges: IDRangePool = IDRangePool(), ids: any IDGenerator = RandomIDGenerator(),
        clock: any ServiceClock = SystemClock(), meter: Meter = .off, defaults: InstanceDefaults = InstanceDefaults(),
        network: NetworkSettings = NetworkSettings(), nodes: (any NodeRepository)? = nil, runsInstances: Bool = true,
        objects: (any ObjectRepository)? = nil, logger: Logger? = nil
    ) throws {
        self.nodes = nodes
        self.runsInstances = runsInstances
        self.network = network
        self.meter = meter
        self.defaults = defaults
        leases = DiskLeases(
            disks: disks, snapshots: snapshots, repository: repository, meter: meter, clock: clock, quotas: caches.quotas)
        self.repository = repository
        self.caches = caches
        cacheRepository = caches.repository
        self.disks = disks
        self.snapshots = snapshots
        self.root = root
        nodeImages = NodeImages(root: root + "/node", disks: disks, sizeGiB: caches.quotas.nodeStoreGiB)
        self.registry = registry
        self.clientOptions = clientOptions
        self.limits = limits
        self.idRanges = idRanges
        self.ids = ids
        self.clock = clock
        self.logger = logger ?? Logger(label: "imc.instance", factory: { _ in SwiftLogNoOpLogHandler() })
        eips = ElasticIPs(repository: objects, pool: network.eips, meter: meter, clock: clock, ids: ids)
        parts = InstanceRunParts(
            records: repository, caches: CacheChoice(service: caches, warm: warm),
            disks: InstanceDisks(leases: leases, manager: disks),
            images: ImageSupply(
                nodeImages: nodeImages, registry: registry, clientOptions: clientOptions, nodeStoreGiB: caches.quotas.nodeStoreGiB),
            isolation: InstanceWalls(
                idRanges: idRanges, network: network, portDrops: PortDropCollector(runs: runs, network: network, clock: clock)),
            runtimes: Runtimes(root: root), paths: InstancePaths(root: root), limits: limits, clock: clock, logger: self.logger,
            objects: ConfigObjects(repository: objects), eips: eips)
        // The path to a container's root filesystem must be traversable by its root, which is not
        // the host's (0711: nothing here can be listed); runc's state and the node's images are
        // the host's alone.
        for (dir, mode) in [(root, 0o711), (root + "/run", 0o711), (root + "/runc", 0o700), (root + "/node", 0o700)] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, mode_t(mode))
        }
    }

    // MARK: - Doors

    /// Validates, records `replicas` Pending instances and starts them; returns at once.
    public func create(_ asked: InstanceRequest, account: String, region: String) async throws -> [Instance] {
        var request = asked
        let defaulted = defaults.fill(&request.cache, unsaid: request.unsaid, account: account)
        try validate(request)
        let (total, _) = try await repository.list(
            account: account,
            query: {
                var q = InstanceQuery()
                q.limit = 0
                return q
            }())
        let replicas = request.replicas ?? 1
        try AccountQuotas.check("instances", limit: quotas.instances, used: total, more: replicas, unit: "", what: "instances")
        if let asked = request.eip, request.vpcID == nil {
            throw ServiceError.invalidValue(
                asked.field, "\(asked.field): an EIP is bound to the instance's address in its VPC; give VpcId and SubnetId too")
        }
        let placed = try await place(request, replicas: replicas, account: account, region: region)
        // EIPs before any record: all of them, or none and no instance.
        var eipsTaken: [InstanceEIP] = []
        if let asked = request.eip { eipsTaken = try await eips.take(asked, for: placed.map(\.id), account: account) }
        var created: [Instance] = []
        do {
            created = try await record(request, placed: placed, eips: eipsTaken, defaulted: defaulted, account: account, region: region)
        } catch {
            for eip in eipsTaken { await eips.finish(eip, account: account) }
            throw error
        }
        // Those placed here start at once; a node elsewhere finds its own (`NodeAgent`).
        for instance in created where runsInstances && instance.node == node { startHere(instance) }
        return created
    }

    private func record(
        _ request: InstanceRequest, placed: [(id: String, node: String)], eips: [InstanceEIP], defaulted: [String: String],
        account: String, region: String
    ) async throws -> [Instance] {
        let replicas = placed.count
        var created: [Instance] = []
        for (n, (id, target)) in placed.enumerated() {
            var instance = Instance(id: id, account: account, region: region, name: request.name ?? id, creationTime: clock.now())
            instance.node = target
            if replicas > 1, let name = request.name { instance.name = "\(name)-\(created.count)" }
            instance.containers = request.containers
            instance.initContainers = request.initContainers
            instance.volumes = request.volumes
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
            instance.dns = request.dns
            instance.runtimeClass = request.runtimeClass ?? limits.defaultRuntimeClass
            instance.kubernetes = request.kubernetes
            instance.eip = n < eips.count ? eips[n] : nil
            for c in request.initContainers + request.containers { instance.states[c.name] = ContainerState(reason: "ContainerCreating") }
            instance.record(.scheduled, "Successfully assigned \(instance.name) to node \(target)", at: instance.creationTime)
            if !defaulted.isEmpty {
                instance.record(
                    .defaultAnnotationsApplied,
                    "The account's default annotations applied: "
                        + defaulted.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "),
                    at: instance.creationTime)
            }
            instance.mark(StartupPhase.created, at: instance.creationTime)
            try await repository.insert(instance)
            created.append(instance)
        }
        return created
    }

    /// Starts an instance placed on this node, unless it already runs here.
    package func startHere(_ instance: Instance) {
        let run = InstanceRun(instance: instance, parts: parts)
        guard runs.addIfAbsent(run) else { return }
        Task { await run.begin() }
    }

    /// The node each replica goes to: this one when no nodes are kept; otherwise the node with
    /// room that holds the instance's cache warm, or the most room (`Placement`).
    private func place(_ request: InstanceRequest, replicas: Int, account: String, region: String) async throws
        -> [(id: String, node: String)]
    {
        let ids = (0..<replicas).map { _ in self.ids.next(prefix: "eksci") }
        guard let nodes else { return ids.map { ($0, node) } }
        let cpu = request.cpu ?? 1
        let memory = request.memory ?? 2
        let cache: String? =
            switch request.cache.use {
            case nil: nil
            case "auto":
                try? await caches.match(
                    images: (request.initContainers + request.containers).map(\.image), account: account, region: region)?.id
            case let id?: id
            }
        var placed: [(id: String, node: String)] = []
        for id in ids {
            guard
                let chosen = try await nodes.place(
                    instance: id, cpu: cpu, memoryGiB: memory, cache: cache, excluding: [], at: clock.now())
            else {
                let known = (try? await nodes.nodes()) ?? []
                logger.warning("instance refused: \(Placement.refusal(known, cpu: cpu, memoryGiB: memory))")
                throw ServiceError(
                    .limitExceeded, Placement.tenantRefusal(cpu: cpu, memoryGiB: memory), specificCode: "ResourceInsufficient")
            }
            placed.append((id, chosen.name))
        }
        return placed
    }

    /// Whether the instance is this process's to run and stop (its node is this one, and this
    /// process runs instances).
    func isHere(_ instance: Instance) -> Bool { runsInstances && (instance.node == nil || instance.node == node) }

    public func describe(account: String, query: InstanceQuery) async throws -> (total: Int, instances: [Instance]) {
        guard (0...100).contains(query.limit) else {
            throw ServiceError.invalidValue("Limit", "Limit must be from 0 to 100, not \(query.limit)")
        }
        guard query.offset >= 0 else { throw ServiceError.invalidValue("Offset", "Offset must not be negative, not \(query.offset)") }
        return try await repository.list(account: account, query: query)
    }

    public func get(id: String, account: String) async throws -> Instance {
        guard let instance = try await repository.get(id: id, account: account) else {
            throw ServiceError.notFound("EksCiId \(id) does not exist")
        }
        return instance
    }

    /// Deletes instances: each is marked Terminating at once, then its containers are stopped
    /// (SIGTERM, SIGKILL after the grace period), everything unmounted and its disk released or
    /// kept for reuse; the record goes last. Unknown ids are an error and then nothing happens.
    /// `grace`: seconds the containers get to exit, instead of each instance's own (a Pod
    /// deleted with `--grace-period`).
    public func delete(ids: [String], account: String, grace: Int? = nil, releaseAutoCreatedEIP: Bool = true) async throws {
        guard !ids.isEmpty else { throw ServiceError.missing("EksCiIds", "EksCiIds must name at least one instance") }
        var found: [Instance] = []
        for id in ids { await found.append(try get(id: id, account: account)) }
        for var instance in found where instance.status != .terminating {
            instance.deletedFrom = instance.status
            instance.status = .terminating
            if !releaseAutoCreatedEIP, let eip = instance.eip, eip.autoCreated { try await eips.keep(eip, account: account) }
            if let grace { instance.terminationGracePeriodSeconds = max(0, grace) }
            try await repository.update(instance)
            // Its node stops it: this one, or the node's agent, which sees it Terminating.
            var stopsHere = isHere(instance)
            if !stopsHere { stopsHere = await nodeIsGone(instance.node) }
            if stopsHere {
                Task { await self.stopAndRemove(instance.id, account: account, grace: grace) }
            }
        }
    }

    /// Deletes and waits until every named instance is gone.
    public func deleteAndWait(ids: [String], account: String) async throws {
        try await delete(ids: ids, account: account)
        for id in ids {
            while try await repository.get(id: id, account: account) != nil { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Restarts every container of the instances (same disk, writable layers kept).
    public func restart(ids: [String], account: String) async throws {
        guard !ids.isEmpty else { throw ServiceError.missing("EksCiIds", "EksCiIds must name at least one instance") }
        var found: [Instance] = []
        for id in ids { await found.append(try get(id: id, account: account)) }
        for instance in found {
            guard instance.status == .running || instance.status == .succeeded || instance.status == .failed else {
                throw ServiceError.inUse(
                    "instance \(instance.id) is \(instance.status.rawValue); it can be restarted once it has started")
            }
        }
        for var instance in found {
            if let run = runs.get(instance.id) {
                Task { await run.restartAll() }
            } else if !isHere(instance) {
                // Its node carries it out (`NodeAgent`).
                instance.restartRequested = clock.now()
                try await repository.update(instance)
            }
        }
    }

    /// `UpdateEKSContainerInstance`: the instance stopped and started again with its new
    /// containers, restart policy, name or credentials; its id, address and disk kept. The new
    /// containers run images the instance has (its disk holds them, from its cache or pulled): an
    /// image it has not is refused by its field, and the instance is as it was.
    public func update(id: String, account: String, _ change: InstanceUpdate) async throws {
        var instance = try await get(id: id, account: account)
        guard instance.status == .running || instance.status == .succeeded || instance.status == .failed else {
            throw ServiceError.inUse("instance \(id) is \(instance.status.rawValue); it can be updated once it has started")
        }
        let have = Set(instance.images)
        for (list, containers) in [("Containers", change.containers ?? []), ("InitContainers", change.initContainers ?? [])] {
            for (i, c) in containers.enumerated() where !have.contains(c.image) {
                throw ServiceError.invalidValue(
                    FieldPath([.key(list), .index(i), .key("Image")]),
                    "\(list)[\(i)].Image \(c.image.prefix(120)) is not one of the instance's images (\(instance.images.joined(separator: ", "))); an update runs the images its disk holds; create a new instance for another"
                )
            }
        }
        if change.name != nil, instance.kubernetes != nil {
            throw ServiceError.invalidValue(
                "Name", "Name cannot change: the instance is a Pod of the Kubernetes door, named by its metadata")
        }
        if let name = change.name, name != instance.name {
            guard InstanceService.isDNSLabel(name) else {
                throw ServiceError.invalidValue("Name", "Name \"\(name.prefix(60))\" must be a lowercase RFC 1123 label")
            }
            var query = InstanceQuery()
            query.names = [name]
            if try await repository.list(account: account, query: query).total > 0 {
                throw ServiceError(.inUse, "Name \(name) is already the name of an instance of this account", field: "Name")
            }
        }
        let updated = Self.applying(change, to: instance)
        if let run = runs.get(id) {
            await run.update(to: updated)
        } else {
            // Its node carries it out (`NodeAgent` adopts the record's spec, then restarts).
            instance = updated
            instance.restartRequested = clock.now()
            try await repository.update(instance)
        }
    }

    static func applying(_ change: InstanceUpdate, to instance: Instance) -> Instance {
        var out = instance
        if let containers = change.containers { out.containers = containers }
        if let initContainers = change.initContainers { out.initContainers = initContainers }
        if let policy = change.restartPolicy { out.restartPolicy = policy }
        if let name = change.name { out.name = name }
        if let credentials = change.credentials { out.credentials = credentials }
        for c in out.initContainers + out.containers where out.states[c.name] == nil {
            out.states[c.name] = ContainerState(reason: "ContainerCreating")
        }
        let names = Set((out.initContainers + out.containers).map(\.name))
        out.states = out.states.filter { names.contains($0.key) }
        return out
    }

    /// Whether `name` is no node that could still act on its instances (lost, or unknown).
    func nodeIsGone(_ name: String?) async -> Bool {
        guard let nodes, let name, name != node else { return false }
        guard let found = try? await nodes.nodes().first(where: { $0.name == name }) else { return true }
        return found.state == .lost
    }

    package func stopAndRemove(_ id: String, account: String, grace: Int? = nil) async {
        guard runs.beginStop(id) else { return }  // already being stopped here
        defer { runs.endStop(id) }
        if let run = runs.get(id) {
            await run.stop(removing: true, grace: grace)
            runs.remove(id)
        } else if let instance = try? await repository.get(id: id, account: account) {
            // Never started here (or the service restarted): clean what may be left.
            let run = InstanceRun(instance: instance, parts: parts)
            await run.stop(removing: true)
        }
    }

    // MARK: - Paths

    /// The runtime of an instance: its class's, networked as the instance is.
    /// Where an instance's disk is mounted while it exists.
    public func diskMount(_ id: String) -> String { parts.paths.diskMount(id) }
    func logPath(_ id: String, _ container: String) -> String { parts.paths.logPath(id, container) }
    func diskPath(_ id: String) -> String { disks.disk(id: id, sizeGiB: 0).path }
}

/// The instances running in this process, by id, and those being stopped.
package final class Runs: Sendable {
    private let runs = Mutex<(running: [String: InstanceRun], stopping: Set<String>)>(([:], []))
    /// Adds the run unless one of its instance is here already (the API's start and the node
    /// agent's pick-up may race); returns whether it was added.
    func addIfAbsent(_ run: InstanceRun) -> Bool {
        runs.withLock {
            guard $0.running[run.id] == nil else { return false }
            $0.running[run.id] = run
            return true
        }
    }
    package func get(_ id: String) -> InstanceRun? { runs.withLock { $0.running[id] } }
    package func remove(_ id: String) { _ = runs.withLock { $0.running.removeValue(forKey: id) } }
    package func all() -> [InstanceRun] { runs.withLock { Array($0.running.values) } }
    /// Marks the instance as being stopped; false if it already is.
    func beginStop(_ id: String) -> Bool { runs.withLock { $0.stopping.insert(id).inserted } }
    func endStop(_ id: String) { _ = runs.withLock { $0.stopping.remove(id) } }
    package func isStopping(_ id: String) -> Bool { runs.withLock { $0.stopping.contains(id) } }
}
