import Foundation
import IMCCaches
import IMCDisks
import IMCDocuments
import IMCInstance
import IMCModel
import IMCNetworking
import IMCRegistry
import IMCRuntime
import IMCServiceSupport
import IMCStore
import Logging

/// What an instance's run is handed: the parts of the node it uses, each narrow, so that a run
/// reaches nothing else of the service (not the other runs, not placement, not the doors).
struct InstanceRunParts: Sendable {
    /// Its record, its id range and its address.
    let records: any InstanceRepository
    let caches: CacheChoice
    let disks: InstanceDisks
    let images: ImageSupply
    let isolation: InstanceWalls
    let runtimes: Runtimes
    let paths: InstancePaths
    let limits: InstanceLimits
    let clock: any ServiceClock
    let logger: Logger
    /// The ConfigMaps and Secrets a Pod's environment reads.
    var objects = ConfigObjects(repository: nil)
    /// EIPs, released or kept when their instance is gone.
    var eips: ElasticIPs? = nil
}

/// The ConfigMaps and Secrets of a Pod's namespace, read when its containers start (the
/// Kubernetes door's objects; none for a service without that door).
struct ConfigObjects: Sendable {
    let repository: (any ObjectRepository)?

    /// The data of each object named (its bytes: a Secret's values and a ConfigMap's
    /// `binaryData` decoded from base64), absent where there is no such object.
    func data(_ names: Set<Environment.ObjectName>, account: String, namespace: String) async throws -> Environment.Objects {
        var out: Environment.Objects = [:]
        guard let repository else { return out }
        for name in names {
            guard
                let stored = try await repository.object(account: account, kind: name.kind.rawValue, namespace: namespace, name: name.name),
                let object = try? JSONValue.parseJSON(Array(stored.data))
            else { continue }
            var data: [String: [UInt8]] = [:]
            let encoded = name.kind == .secret ? object["data"] : object["binaryData"]
            for (key, value) in encoded?.object ?? [:] {
                if let text = value.string, let bytes = Data(base64Encoded: text) { data[key] = Array(bytes) }
            }
            if name.kind == .configMap {
                for (key, value) in object["data"]?.object ?? [:] { data[key] = Array((value.string ?? "").utf8) }
            }
            out[name.kind, default: [:]][name.name] = data
        }
        return out
    }
}

/// The caches an instance may start from: matched, looked up, marked used, auto-created; and
/// those this node holds warm.
struct CacheChoice: Sendable {
    let service: CacheService
    var records: any CacheRepository { service.repository }
    let warm: WarmCaches
}

/// The instance's disk: attached, metered, retained or released (`leases`), mounted (`manager`).
struct InstanceDisks: Sendable {
    let leases: DiskLeases
    let manager: DiskManager
}

/// Where images come from when the cache does not hold them: the account's node store and the
/// registries, as the node's settings allow.
struct ImageSupply: Sendable {
    let nodeImages: NodeImages
    let registry: RegistryConfig
    let clientOptions: RegistryClientOptions
    /// The quota of an account's node store, for the message when it is full.
    let nodeStoreGiB: Int
}

/// What walls an instance off: its host ids, its VPC's network and the host prepared for it, and
/// the ports' drop counters read before it leaves.
struct InstanceWalls: Sendable {
    let idRanges: IDRangePool
    let network: NetworkSettings
    let portDrops: PortDropCollector
    var hostNetworkReady: HostPreparation { portDrops.host }
}

/// The runtime of each runtime class.
struct Runtimes: Sendable {
    let runc: Runc
    /// gVisor's runsc, for instances of the `gvisor` class: with their loopback only, and with
    /// gVisor's network stack on their VPC's network.
    let gvisor: Runc
    let gvisorOnVPC: Runc

    init(root: String) {
        runc = Runc(root: root + "/runc")
        gvisor = Runc.gvisor(root: root + "/runsc")
        gvisorOnVPC = Runc.gvisor(root: root + "/runsc", network: true)
    }

    func runtime(for instance: Instance) -> Runc {
        guard instance.runtimeClass == .gvisor else { return runc }
        return instance.vpcID == nil ? gvisor : gvisorOnVPC
    }
}

/// Where an instance's files are on this node.
struct InstancePaths: Sendable {
    let root: String

    func runDirectory(_ id: String) -> String { "\(root)/run/\(id)" }
    /// Where an instance's disk is mounted while it exists.
    func diskMount(_ id: String) -> String { runDirectory(id) + "/disk" }
    /// A container's log, on the instance's own disk (its size is the log's limit too).
    func logPath(_ id: String, _ container: String) -> String { diskMount(id) + "/.imc-logs/\(container).log" }
}
