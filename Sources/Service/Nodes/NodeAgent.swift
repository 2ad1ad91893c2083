import Foundation
import IMCInstance
import IMCInstances
import IMCServiceSupport
import IMCStore
import Logging
import ServiceLifecycle
import Synchronization

/// What a node offers to instances (`--node-cpu`, `--node-memory-gib`).
public struct NodeCapacity: Sendable {
    public var cpu: Double
    public var memoryGiB: Double
    public var diskGiB: Int64
    public init(cpu: Double, memoryGiB: Double, diskGiB: Int64) {
        self.cpu = cpu
        self.memoryGiB = memoryGiB
        self.diskGiB = diskGiB
    }
}

/// This host as a node (`imc serve --role node|all`): it registers with its capacity, sends a
/// heartbeat every `interval`, and carries out what the store asks of the instances placed on
/// it, whichever API replica wrote it: it starts the Pending ones, stops and removes the
/// Terminating ones, restarts those a restart was asked for. It wakes on every committed change
/// (PostgreSQL's NOTIFY) and at each heartbeat.
///
/// A node that finds itself declared Lost (its heartbeats stopped reaching the store; another
/// replica fenced its disks and started its instances elsewhere) stops everything it still
/// runs, without writing over the instances' new lives, and registers again.
public struct NodeAgent: Service {
    let service: InstanceService
    let nodes: any NodeRepository
    let capacity: NodeCapacity
    let interval: Duration
    let wakeup: Wakeup
    /// The caches whose snapshots this host keeps (the local store: only here), or nil (RBD:
    /// every host reaches every snapshot).
    let localSnapshots: (@Sendable () -> Set<String>)?
    let logger: Logger

    public init(
        service: InstanceService, nodes: any NodeRepository, capacity: NodeCapacity, interval: Duration = .seconds(2),
        wakeup: Wakeup, localSnapshots: (@Sendable () -> Set<String>)?, logger: Logger
    ) {
        self.service = service
        self.nodes = nodes
        self.capacity = capacity
        self.interval = interval
        self.wakeup = wakeup
        self.localSnapshots = localSnapshots
        self.logger = logger
    }

    var name: String { service.node }

    public func register() async throws {
        var node = Node(
            name: name, cpu: capacity.cpu, memoryGiB: capacity.memoryGiB, diskGiB: capacity.diskGiB, at: service.clock.now())
        (node.allocatedCPU, node.allocatedMemoryGiB) = Self.allocation(of: try await service.repository.instances(onNode: name))
        await refreshWarm()
        node.warmCaches = service.warm.all
        try await nodes.register(node)
        logger.info(
            "node \(name) registered: \(capacity.cpu) CPU, \(capacity.memoryGiB) GiB of memory, \(capacity.diskGiB) GiB of disk")
    }

    public func run() async throws {
        try await register()
        var lastBeat = ContinuousClock.now
        var beats = 0
        while !Task.isCancelledOrShuttingDown {
            do {
                let mine = try await service.repository.instances(onNode: name)
                await carryOut(mine)
                if ContinuousClock.now - lastBeat >= interval || beats == 0 {
                    lastBeat = ContinuousClock.now
                    beats += 1
                    if beats % 15 == 0 { await refreshWarm() }
                    try await beat(mine)
                }
            } catch {
                logger.error("node \(name): the store could not be reached", metadata: ["error": "\(error)"])
            }
            // Commits anywhere in the cluster wake every node: those of the next moment are
            // taken together, so a busy cluster costs each node at most ten reads a second.
            _ = await cancelWhenGracefulShutdown {
                try? await Task.sleep(for: .milliseconds(100))
                return await wakeup.wait(upTo: interval)
            }
        }
    }

    /// Starts, stops and restarts what the store asks of this node's instances.
    func carryOut(_ mine: [Instance]) async {
        for instance in mine {
            switch instance.status {
            case .pending where service.runs.get(instance.id) == nil && !service.runs.isStopping(instance.id):
                service.startHere(instance)
            case .terminating where !service.runs.isStopping(instance.id):
                Task { await service.stopAndRemove(instance.id, account: instance.account) }
            case .running, .succeeded, .failed:
                if instance.restartRequested != nil, let run = service.runs.get(instance.id) {
                    var cleared = instance
                    cleared.restartRequested = nil
                    guard (try? await service.repository.update(cleared)) != nil else { continue }
                    // An update through another API replica left its spec in the record.
                    Task { await run.update(to: instance) }
                }
            default: break
            }
        }
    }

    private func beat(_ mine: [Instance]) async throws {
        let (cpu, memory) = Self.allocation(of: mine)
        let state = try await nodes.heartbeat(
            name: name, at: service.clock.now(), allocatedCPU: cpu, allocatedMemoryGiB: memory, counted: Set(mine.map(\.id)),
            warmCaches: service.warm.all)
        switch state {
        case .ready: return
        case nil:
            try await register()
        case .lost:
            logger.critical(
                "node \(name) was declared lost (its heartbeats did not reach the store in time): its instances were started on other nodes and its disks fenced; stopping what still runs here and registering again"
            )
            await service.shutdown()
            for run in service.runs.all() { service.runs.remove(run.id) }
            try await register()
        }
    }

    /// The CPU and memory that the instances which have not ended hold.
    static func allocation(of instances: [Instance]) -> (cpu: Double, memoryGiB: Double) {
        instances.filter { !$0.status.isEnded }.reduce((0, 0)) { ($0.0 + $1.cpu, $0.1 + $1.memory) }
    }

    /// The local store's caches are warm here (and only here).
    private func refreshWarm() async {
        guard let localSnapshots else { return }
        let here = localSnapshots()
        guard let caches = try? await service.cacheRepository.all(in: [.ready, .updating, .updateFailed]) else { return }
        var warm = Set(service.warm.all)
        for cache in caches { if let id = cache.snapshotID, here.contains(id) { warm.insert(cache.id) } }
        service.warm.set(warm)
    }
}
