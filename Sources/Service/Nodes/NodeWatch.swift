import Foundation
import IMCInstance
import IMCInstances
import IMCPull
import IMCStore
import Logging
import ServiceLifecycle

/// Watches the nodes from an API replica (`--role api|all`): a node whose last heartbeat is
/// older than `lostAfter` is marked Lost (by exactly one replica: the store hands each lost
/// node to one caller), its disks are fenced so that it can never write them again, and its
/// instances are moved: those that still run under Always or OnFailure start again on another
/// node, from their caches; the others end Failed; those being deleted are deleted. Every step
/// is an event on the instance.
public struct NodeWatch: Service {
    let service: InstanceService
    let nodes: any NodeRepository
    let lostAfter: Duration
    let logger: Logger

    public init(service: InstanceService, nodes: any NodeRepository, lostAfter: Duration = .seconds(20), logger: Logger) {
        self.service = service
        self.nodes = nodes
        self.lostAfter = lostAfter
        self.logger = logger
    }

    public func run() async throws {
        let every = max(Duration.milliseconds(250), lostAfter / 4)
        while !Task.isCancelledOrShuttingDown {
            await sweep()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: every) }
        }
    }

    /// One look at the nodes; returns the nodes this replica declared lost.
    @discardableResult
    public func sweep() async -> [Node] {
        let cutoff = service.clock.now().addingTimeInterval(-lostAfter.seconds)
        let lost: [Node]
        do { lost = try await nodes.markLost(heartbeatBefore: cutoff) } catch {
            logger.error("the nodes could not be read", metadata: ["error": "\(error)"])
            return []
        }
        for node in lost { await failOver(node) }
        return lost
    }

    func failOver(_ node: Node) async {
        let silent = Int(service.clock.now().timeIntervalSince(node.heartbeat).rounded())
        logger.warning("node \(node.name) lost: no heartbeat for \(silent) s; fencing its disks and moving its instances")
        // Fenced first: nothing the lost node still runs may write a disk after its instance
        // started elsewhere.
        var fenced: [String: [String]] = [:]
        for disk in await (try? service.repository.disks()) ?? [] where disk.node == node.name {
            do {
                let clients = try await service.disks.fence(diskID: disk.id)
                fenced[disk.id] = clients
                logger.notice(
                    "disk of lost node fenced",
                    metadata: ["disk": "\(disk.id)", "node": "\(node.name)", "blocklisted": "\(clients.joined(separator: ", "))"])
            } catch {
                logger.error("disk \(disk.id) of lost node \(node.name) could not be fenced", metadata: ["error": "\(error)"])
            }
        }
        let instances: [Instance]
        do { instances = try await service.repository.instances(onNode: node.name) } catch {
            logger.error("the instances of lost node \(node.name) could not be read", metadata: ["error": "\(error)"])
            return
        }
        for instance in instances { await move(instance, off: node, silent: silent, fenced: instance.diskID.flatMap { fenced[$0] }) }
        // The fenced disks go once their fenced clients' watches lapse (their instances start
        // from their caches on new disks; a retained disk of the lost node goes too).
        for id in fenced.keys.sorted() {
            Task {
                if await service.disks.removeFenced(diskID: id) {
                    try? await service.repository.deleteDisk(id: id)
                    await service.meter.stop(id, kind: .instanceDisk)
                    await service.meter.stop(id, kind: .retainedDisk)
                } else {
                    logger.error("fenced disk \(id) of lost node \(node.name) could not be removed; it is left in the pool")
                }
            }
        }
    }

    private func move(_ instance: Instance, off node: Node, silent: Int, fenced: [String]?) async {
        let now = service.clock.now()
        let fence =
            switch fenced {
            case nil: ""
            case let clients? where clients.isEmpty: "; its disk \(instance.diskID ?? "") had no writer left to fence"
            // The clients' addresses are the cluster's, for the operator's log, not the tenant's.
            case let clients?: "; its disk \(instance.diskID ?? "") was fenced (\(clients.count) writer(s) blocklisted)"
            }
        let why = "Node \(node.name) was lost (no heartbeat for \(silent) s)\(fence)"
        do {
            if instance.status == .terminating {
                try await service.repository.delete(id: instance.id, account: instance.account)
                return
            }
            guard instance.survivesNodeLoss else {
                guard !instance.status.isEnded else { return }
                var failed = instance
                failed.status = .failed
                failed.message = why
                failed.finishTime = now
                failed.record(.nodeLost, why + "; restart policy \(instance.restartPolicy.rawValue): not started again", at: now)
                try await service.repository.update(failed)
                return
            }
            guard
                let target = try await nodes.place(
                    instance: instance.id, cpu: instance.cpu, memoryGiB: instance.memory, cache: instance.cacheID,
                    excluding: [node.name], at: now)
            else {
                var failed = instance
                failed.status = .failed
                failed.message = why + "; " + Placement.tenantRefusal(cpu: instance.cpu, memoryGiB: instance.memory)
                let known = (try? await nodes.nodes()) ?? []
                logger.warning(
                    "instance of lost node not moved: \(Placement.refusal(known, cpu: instance.cpu, memoryGiB: instance.memory, excluding: [node.name]))",
                    metadata: ["instance": "\(instance.id)"])
                failed.finishTime = now
                failed.record(.nodeLost, failed.message!, at: now)
                try await service.repository.update(failed)
                return
            }
            var lostEvent = instance
            lostEvent.record(.nodeLost, why, at: now)
            let cache = instance.cacheID.map { " from image cache \($0)" } ?? ""
            let moved = lostEvent.moved(to: target.name, because: "Started again on node \(target.name)\(cache)", at: now)
            try await service.repository.reassign(moved, from: node.name)
            logger.notice(
                "instance moved off lost node", metadata: ["instance": "\(instance.id)", "from": "\(node.name)", "to": "\(target.name)"])
        } catch {
            logger.error("instance \(instance.id) of lost node \(node.name) could not be moved", metadata: ["error": "\(error)"])
        }
    }
}
