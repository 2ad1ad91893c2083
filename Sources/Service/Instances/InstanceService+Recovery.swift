import Foundation
import IMCInstance
import IMCOS
import IMCRuntime

/// The instances when the service stops and starts again, and the retained disks' time.
extension InstanceService {
    /// Stops every instance of this process (the service is shutting down).
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for run in runs.all() { group.addTask { await run.shutdown() } }
        }
        await hostNetworkReady.releaseIdleBridges(network)
    }

    /// After a restart: this host's instances that were running are stopped (their containers
    /// died with the service or are killed now), their mounts and disks released, and they end
    /// Failed with a reason; its instances being deleted are deleted. Another host's instances
    /// and disks (a shared database) are not this host's to touch. Returns the disk ids still in
    /// use (retained disks), which the disk pool must keep.
    public func recover() async throws -> Set<String> {
        let mine = { (node: String?) in node == nil || node == self.disks.node }
        for runtime in [parts.runtimes.runc, parts.runtimes.gvisor] { for id in runtime.list() { await runtime.delete(id: id) } }
        for var instance in try await repository.all(in: [.pending, .running, .terminating]) where mine(instance.node) {
            // Placed here by an API replica and never begun: the node agent starts it.
            if nodes != nil && instance.status == .pending && instance.phases.count <= 1 && instance.diskID == nil { continue }
            let removing = instance.status == .terminating
            if !removing {
                instance.status = .failed
                instance.message = "imc restarted while the instance ran; its containers were stopped"
                instance.record(.nodeRestarted, instance.message!, at: clock.now())
                try? await repository.update(instance)
            }
            let run = InstanceRun(instance: instance, parts: parts)
            await run.stop(removing: removing)
        }
        await nodeImages.removeAll()
        // Instance directories no record of this host accounts for (an instance moved to another
        // node while this one was lost is not this host's any more).
        let everywhere = try await repository.all(in: InstanceStatus.allCases)
        let known = Set(everywhere.filter { mine($0.node) }.map(\.id))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root + "/run")) ?? [] where !known.contains(entry) {
            Mount.unmountAll(under: "\(root)/run/\(entry)")
            try? FileManager.default.removeItem(atPath: "\(root)/run/\(entry)")
        }
        // Id ranges and addresses of instances that are gone (on any node: they are the
        // store's), and cgroups of instances that are nowhere.
        let anywhere = Set(everywhere.map(\.id))
        for (instance, _) in try await repository.allocatedIDRanges() where !anywhere.contains(instance) {
            try? await repository.releaseIDRange(instanceID: instance)
        }
        for instance in InstanceCgroup.existing() where !anywhere.contains(instance) { InstanceCgroup(instance: instance).remove() }
        for instance in try await repository.allocatedAddresses() where !anywhere.contains(instance) {
            try? await repository.releaseAddress(instanceID: instance)
        }
        var kept = Set<String>()
        for disk in try await repository.disks() where mine(disk.node) {
            if disk.use == .retained || (disk.instanceID.map(known.contains) ?? false) && access(diskPath(disk.id), F_OK) == 0 {
                kept.insert(disk.id)
            } else {
                try? await repository.deleteDisk(id: disk.id)
            }
        }
        return kept
    }

    /// Releases retained disks whose time is up.
    @discardableResult
    public func sweepRetainedDisks() async throws -> [String] {
        var released: [String] = []
        for disk in try await repository.disks() where disk.use == .retained && (disk.retainUntil ?? .distantPast) <= clock.now() {
            await disks.remove(disks.disk(id: disk.id, sizeGiB: disk.sizeGiB))
            try await repository.deleteDisk(id: disk.id)
            await meter.stop(disk.id, kind: .retainedDisk)
            released.append(disk.id)
            logger.info("retained disk released", metadata: ["disk": "\(disk.id)"])
        }
        return released
    }
}
