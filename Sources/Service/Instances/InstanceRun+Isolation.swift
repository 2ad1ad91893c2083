import Foundation
import IMCInstance
import IMCModel
import IMCNetworking
import IMCOS
import IMCRuntime

/// The walls around an instance's containers that are the instance's, not each container's: its
/// id range and user namespace, its layers shown through idmapped mounts (nothing on the disk is
/// chowned, so one snapshot serves every range), and its cgroup with the instance's limits.
extension InstanceRun {
    /// The directory (relative to the run directory) where layers below `root` are shown
    /// idmapped: the cache disk's, or the account's node store's.
    static let mappedLayers = ["layers", "node-layers"]

    /// Takes the instance's id range and makes its user namespace and cgroup.
    func isolate() async throws {
        try cgroup.create(
            memoryBytes: Int64(instance.memory * Double(1 << 30)), cpus: instance.cpu, pids: parts.limits.pidsPerInstance)
        // gVisor's sentry stands between the containers and the host's kernel instead.
        guard instance.runtimeClass == .runc else { return }
        let pool = parts.isolation.idRanges
        let base = try await parts.records.allocateIDRange(instanceID: id, first: pool.first, size: pool.size, count: pool.count)
        life.update { $0.idRangeBase = base }
        let range = IDRange(base: base, count: pool.size)
        let file = runDirectory + "/userns"
        held.namespace = try await BlockingPool.shared.run {
            let made = try UserNamespace(range: range)
            try made.bind(at: file)
            return made
        }
    }

    /// The instance's id range, once taken.
    var idRange: IDRange? { held.namespace?.range }

    /// Shows each layer store the images use (the disk's, the node store's) idmapped under the
    /// run directory, and returns each image's layers as paths relative to the run directory.
    func mapLayers() async throws {
        guard let namespace = held.namespace else {
            held.relativeLayers = held.images.mapValues(\.layers)
            return
        }
        let stores = [diskRoot + "/layers", parts.images.nodeImages.directory(for: account) + "/layers"]
        let directory = runDirectory
        var used = Set<Int>()
        for image in held.images.values {
            for layer in image.layers {
                if let i = stores.firstIndex(where: { layer.hasPrefix($0 + "/") }) { used.insert(i) }
            }
        }
        for i in used.sorted() {
            let target = "\(directory)/\(Self.mappedLayers[i])"
            if MountTable.isMountPoint(target) { continue }
            let source = stores[i]
            try await BlockingPool.shared.run {
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                try Mount.idmapped(source, at: target, through: namespace)
            }
        }
        held.relativeLayers = held.images.mapValues { image in
            image.layers.map { layer in
                for (i, store) in stores.enumerated() where layer.hasPrefix(store + "/") {
                    return Self.mappedLayers[i] + layer.dropFirst(store.count)
                }
                return layer
            }
        }
    }

    /// The walls of one container: the instance's range, the seccomp filter, its own limits
    /// when it has them, and its security context.
    func isolation(for spec: ContainerSpec) -> Isolation {
        var isolation = Isolation(ids: idRange)
        if idRange != nil { isolation.userNamespacePath = runDirectory + "/userns" }
        if instance.vpcID != nil, FileManager.default.fileExists(atPath: resolvConfPath) { isolation.resolvConf = resolvConfPath }
        if instance.runtimeClass == .gvisor {
            isolation.seccomp = false
            isolation.sandbox = .container(sandboxID: sandboxID)
        }
        if let memory = spec.memory { isolation.memoryBytes = Int64(memory * Double(1 << 30)) }
        isolation.cpus = spec.cpu
        isolation.readOnlyRoot = spec.security?.readOnlyRootFilesystem ?? false
        isolation.drop = spec.security?.drop ?? []
        return isolation
    }

    /// Empties (killing what is left in it) and removes the instance's cgroup, waiting up to
    /// about 3 s for killed processes to exit. Returns whether it is gone.
    func removeCgroup() async -> Bool {
        let cgroup = self.cgroup
        for _ in 0..<150 {
            if await BlockingPool.shared.run({ cgroup.removeOrKill() }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Releases what `isolate` took: the cgroup, the namespace; the id range goes with the
    /// record (a range is reused only once its instance is gone).
    func unisolate(removing: Bool) async {
        if await !removeCgroup() {
            parts.logger.error("instance cgroup could not be removed", metadata: ["instance": "\(id)", "cgroup": "\(cgroup.path)"])
        }
        held.namespace = nil
        if removing { try? await parts.records.releaseIDRange(instanceID: id) }
    }
}

/// The instance on its VPC's network (instances with a VpcId): an address of the VPC's /24,
/// given out once and kept until the instance is gone.
extension InstanceRun {
    func connectToVPC() async throws {
        guard let vpc = instance.vpcID else { return }
        let settings = parts.isolation.network
        let at = try await parts.records.allocateAddress(
            instanceID: id, account: account, vpc: vpc, subnet: instance.subnetID ?? "", networks: settings.networks.count)
        try await parts.isolation.hostNetworkReady.ensure(settings, at: at)
        let groups = securityGroups.map { (id: $0, group: settings.securityGroups[$0] ?? SecurityGroup(egress: false, ingress: [])) }
        try await settings.networks.attach(namespace: network.name, instance: id, at: at, groups: groups)
        let address = settings.networks.address(at)
        let dns = instance.dns ?? DNSSettings.host(resolvConf: (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
        try? AtomicFile.write(Array(dns.resolvConf.utf8), to: resolvConfPath, sync: false)
        chmod(resolvConfPath, 0o644)
        life.update {
            $0.privateIP = address
            $0.networkIndex = at.network
            $0.networkBlock = at.block
            $0.networkHost = at.host
        }
        await save()
        // After the address is recorded: a binding that fails is undone with the rest.
        if let eip = instance.eip {
            try await settings.networks.bindEIP(
                instance: id, privateIP: address, eip: eip.address, bandwidthMbps: eip.bandwidthMbps, groups: groups)
        }
    }

    /// The instance's security groups (`default` when it names none).
    var securityGroups: [String] { instance.securityGroupIDs.isEmpty ? ["default"] : instance.securityGroupIDs }

    /// The Pod's resolv.conf, shown to its containers.
    var resolvConfPath: String { runDirectory + "/resolv.conf" }

    func disconnectFromVPC(removing: Bool) async {
        guard let index = instance.networkIndex, let host = instance.networkHost else { return }
        let at = NetworkAddress(network: index, block: instance.networkBlock ?? index, host: host)
        // What its port dropped until now is counted before its counters go.
        await parts.isolation.portDrops.collect()
        let networks = parts.isolation.network.networks
        if let eip = instance.eip { await networks.unbindEIP(instance: id, privateIP: networks.address(at), eip: eip.address) }
        await networks.detach(instance: id, at: at, groups: securityGroups)
        if removing { try? await parts.records.releaseAddress(instanceID: id) }
    }
}
