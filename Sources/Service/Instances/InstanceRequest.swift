import IMCCache
import IMCInstance
import IMCModel
import IMCNetworking
import IMCRuntime

/// Instances' networks and security groups (configuration).
public struct NetworkSettings: Sendable {
    public var networks: VPCNetworks
    public var securityGroups: [String: SecurityGroup]
    /// The EIP pool; nil: EIPs are refused.
    public var eips: EIPPool?
    public init(networks: VPCNetworks = VPCNetworks(), securityGroups: [String: SecurityGroup] = [:], eips: EIPPool? = nil) {
        self.networks = networks
        self.eips = eips
        self.securityGroups = securityGroups.merging(["default": SecurityGroup()]) { own, _ in own }
    }
}

/// Limits of instances (configuration, not code).
public struct InstanceLimits: Sendable {
    public var maximumContainers = 20
    public var maximumReplicas = 50
    public var maximumDiskGiB = 2048
    public var defaultScratchDiskGiB = 20
    public var maximumRetainMinutes = 7 * 24 * 60
    /// The most processes and threads of one instance (all its containers together).
    public var pidsPerInstance: Int64 = 4096
    /// A container's log files: at most this many bytes each, this many of them (the kubelet's
    /// defaults, 10 MiB x 5).
    public var logMaxBytes: Int64 = 10 << 20
    public var logFiles = 5
    /// The runtime class of instances that do not name one.
    public var defaultRuntimeClass: RuntimeClass = .runc
    public init() {}
}

/// Runs the host's network preparation once, and each VPC bridge's once, per service (the
/// first instance on a network waits for it; the next ones start no iptables process for it).
actor HostPreparation {
    /// Each preparation once: the host's, each bridge's, each subnet's; concurrent starts
    /// await the same one (an actor's awaits interleave; a set of what is done would not).
    private var work: [String: Task<Void, any Error>] = [:]
    /// Whether the host has been prepared (an instance has been on a VPC here).
    private(set) var prepared = false

    func ensure(_ settings: NetworkSettings, at: NetworkAddress) async throws {
        let networks = settings.networks
        let groups = settings.securityGroups.keys.sorted()
        try await once("host") { try await networks.prepareHost(groups: groups) }
        prepared = true
        try await once("bridge \(at.network)") { try await networks.ensureBridge(at.network) }
        try await once("block \(at.block)") { try await networks.ensureSubnet(network: at.network, block: at.block) }
    }

    /// At shutdown, once every instance here has stopped: the rules guarding this service's API
    /// ports go with the ports, and the VPC bridges made here that no instance uses any more are
    /// removed, with their rules (nothing of them is left on the host).
    func releaseIdleBridges(_ settings: NetworkSettings) async {
        if work["host"] != nil {
            await settings.networks.releaseAPIPorts()
            work["host"] = nil
        }
        for key in work.keys.sorted() where key.hasPrefix("bridge ") {
            guard let network = Int(key.dropFirst("bridge ".count)) else { continue }
            if await settings.networks.removeBridgeIfIdle(network) {
                work[key] = nil
                for block in work.keys where block.hasPrefix("block ") { work[block] = nil }
            }
        }
    }

    private func once(_ key: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
        let task = work[key] ?? Task { try await body() }
        work[key] = task
        do { try await task.value } catch {
            work[key] = nil  // tried again by the next start
            throw error
        }
    }
}
