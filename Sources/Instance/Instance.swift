import Foundation
import IMCCache
import IMCModel

/// The life cycle of a container instance, as DescribeEKSContainerInstances reports it.
public enum InstanceStatus: String, Codable, Sendable, CaseIterable {
    case pending = "Pending"
    case running = "Running"
    case succeeded = "Succeeded"
    case failed = "Failed"
    /// Being deleted: containers stopping, disks being released.
    case terminating = "Terminating"

    /// Succeeded or Failed: it holds no CPU or memory of its node any more.
    public var isEnded: Bool { self == .succeeded || self == .failed }
}

/// When a container that ended is started again (a Pod's `restartPolicy`).
public enum RestartPolicy: String, Codable, Sendable, CaseIterable {
    case always = "Always"
    case onFailure = "OnFailure"
    case never = "Never"
}

public struct EnvVar: Codable, Sendable, Equatable {
    public var name: String
    public var value: String
    /// Where the value comes from when it is resolved at the container's start (`value` is then
    /// empty).
    public var source: EnvSource?
    public init(name: String, value: String, source: EnvSource? = nil) {
        self.name = name
        self.value = value
        self.source = source
    }
}

/// What a container's security context asks for (Kubernetes' names). Requests for the host
/// (privileged, added capabilities, privilege escalation) are refused before this is made.
public struct ContainerSecurity: Codable, Sendable, Equatable {
    public var runAsUser: UInt32?
    public var runAsGroup: UInt32?
    /// Refuse to start when the container's user is root (0).
    public var runAsNonRoot: Bool?
    public var readOnlyRootFilesystem: Bool?
    /// Capabilities removed from the default set (`ALL` removes every one).
    public var drop: [String]

    public init(
        runAsUser: UInt32? = nil, runAsGroup: UInt32? = nil, runAsNonRoot: Bool? = nil, readOnlyRootFilesystem: Bool? = nil,
        drop: [String] = []
    ) {
        self.runAsUser = runAsUser
        self.runAsGroup = runAsGroup
        self.runAsNonRoot = runAsNonRoot
        self.readOnlyRootFilesystem = readOnlyRootFilesystem
        self.drop = drop
    }
}

/// How an instance's containers are run: `runc` (Linux namespaces, a user namespace, seccomp,
/// cgroups) or `gvisor` (the same, each Pod in a gVisor sandbox: a kernel of its own in user
/// space, `runsc --platform=ptrace`).
public enum RuntimeClass: String, Codable, Sendable, CaseIterable {
    case runc
    case gvisor
}

/// One container as asked for.
public struct ContainerSpec: Codable, Sendable, Equatable {
    public var name: String
    public var image: String
    /// Replaces the image's Entrypoint (Kubernetes' `command`).
    public var commands: [String]?
    /// Replaces the image's Cmd.
    public var args: [String]?
    public var env: [EnvVar]
    public var workingDir: String?
    public var cpu: Double?
    public var memory: Double?
    public var security: ContainerSecurity?
    /// Every key of these ConfigMaps and Secrets as variables (`envFrom`).
    public var envFrom: [EnvFromSource]?
    /// The Pod's volumes this container mounts, and where.
    public var volumeMounts: [VolumeMountSpec]?
    /// Its liveness, readiness and startup probes.
    public var probes: ContainerProbes?

    public init(
        name: String, image: String, commands: [String]? = nil, args: [String]? = nil, env: [EnvVar] = [], workingDir: String? = nil
    ) {
        self.name = name
        self.image = image
        self.commands = commands
        self.args = args
        self.env = env
        self.workingDir = workingDir
    }
}

/// Where a container stands, as the API's `ContainerState`.
public struct ContainerState: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case waiting = "Waiting"
        case running = "Running"
        case terminated = "Terminated"
    }
    public var state: State
    public var reason: String?
    public var message: String?
    public var exitCode: Int?
    public var startTime: Date?
    public var finishTime: Date?
    public var restartCount: Int
    /// Whether its readiness probe passes (nil: it has no probes; then it is ready while it runs).
    public var ready: Bool?

    public init(state: State = .waiting, reason: String? = nil) {
        self.state = state
        self.reason = reason
        restartCount = 0
    }
}

/// A moment of an instance's start-up, kept so that where the time went can be shown.
public struct Phase: Codable, Sendable, Equatable {
    public var name: String
    public var at: Date
    public init(name: String, at: Date) {
        self.name = name
        self.at = at
    }
}

/// What became of the request for an image cache (the reason of the event that says it).
public enum CacheOutcome: String, Codable, Sendable {
    case used = "ImageCacheUsed"
    case notMatched = "ImageCacheNotMatched"
    case mismatch = "ImageCacheMismatch"
    case notFound = "ImageCacheNotFound"
    /// No cache was asked for.
    case off = "ImageCacheOff"
}

/// A Pod's DNS, as Kubernetes' `dnsConfig` and the API's `DnsConfig` give it.
public struct DNSSettings: Codable, Sendable, Equatable {
    public var nameservers: [String]
    public var searches: [String]
    /// `name` or `name:value`.
    public var options: [String]
    public init(nameservers: [String] = [], searches: [String] = [], options: [String] = []) {
        self.nameservers = nameservers
        self.searches = searches
        self.options = options
    }

    /// The resolv.conf text.
    public var resolvConf: String {
        var lines = nameservers.map { "nameserver \($0)" }
        if !searches.isEmpty { lines.append("search " + searches.joined(separator: " ")) }
        if !options.isEmpty { lines.append("options " + options.joined(separator: " ")) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The host's resolvers that an instance can reach (not loopback ones) and its search list.
    public static func host(resolvConf text: String) -> DNSSettings {
        var out = DNSSettings()
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let key = words.first else { continue }
            if key == "nameserver", words.count > 1, !words[1].hasPrefix("127."), words[1] != "::1" { out.nameservers.append(words[1]) }
            if key == "search" { out.searches = Array(words.dropFirst()) }
        }
        return out
    }
}

/// Disk price classes (`image-cache-disk-type`).
public enum DiskType: String, Codable, Sendable, CaseIterable {
    case basic = "CLOUD_BASIC"
    case premium = "CLOUD_PREMIUM"
    case ssd = "CLOUD_SSD"
    case hssd = "CLOUD_HSSD"
    case tssd = "CLOUD_TSSD"
}

/// How an instance asks for an image cache (the annotations of API.md section 4).
public struct CacheRequestOptions: Codable, Sendable, Equatable {
    /// nil: no cache; `auto`; or a cache id.
    public var use: String?
    public var diskType: DiskType
    /// GiB; grows the cache's disk, never shrinks it.
    public var diskSizeGiB: Int?
    /// Minutes the disk is kept after the instance ends, for reuse; 0 releases it at once.
    public var retainMinutes: Int
    /// Automatic matching: nil or false, a cache must hold every image (the seed's rule); true,
    /// the cache holding the most of them will do (at least `minMatchedImages`, default 1), and
    /// the others are pulled onto its disk.
    public var partialMatch: Bool?
    public var minMatchedImages: Int?
    /// When an automatic match finds nothing, a cache is built for the instance's images in the
    /// background, for the next instance.
    public var autoCreate: Bool?

    /// How many of `images` images a cache must hold to be matched automatically.
    public func minimumMatched(of images: Int) -> Int {
        partialMatch == true ? min(images, max(1, minMatchedImages ?? 1)) : images
    }

    public init(use: String? = nil, diskType: DiskType = .premium, diskSizeGiB: Int? = nil, retainMinutes: Int = 0) {
        self.use = use
        self.diskType = diskType
        self.diskSizeGiB = diskSizeGiB
        self.retainMinutes = retainMinutes
    }
}

/// A container instance (a Pod): init containers, then containers, on one data disk.
public struct Instance: Codable, Sendable, Equatable {
    /// `eksci-` + 8 lower-case alphanumerics.
    public var id: String
    public var account: String
    public var region: String
    public var name: String
    public var status: InstanceStatus
    /// Why the instance is Failed, in a sentence.
    public var message: String?
    public var creationTime: Date
    public var finishTime: Date?
    public var cpu: Double
    public var memory: Double
    public var restartPolicy: RestartPolicy
    public var terminationGracePeriodSeconds: Int
    public var initContainers: [ContainerSpec]
    public var containers: [ContainerSpec]
    /// By container name (init containers included).
    public var states: [String: ContainerState]
    public var credentials: [CacheCredential]
    public var registryHttpEndPointList: [String]
    public var registrySkipVerifyList: [String]
    public var cache: CacheRequestOptions
    public var cacheOutcome: CacheOutcome?
    /// The cache whose snapshot became the disk.
    public var cacheID: String?
    public var diskID: String?
    public var diskSizeGiB: Int?
    /// Whether the disk came from a cache's snapshot (or is a scratch disk for pulled images):
    /// `cacheID` is set exactly when it did.
    public var diskFromCache: Bool { cacheID != nil }
    public var events: [CacheEvent]
    public var phases: [Phase]
    public var subnetID: String?
    public var vpcID: String?
    /// The instance's address on its VPC's network (instances with a VpcId), and where it was
    /// given: the network's index and the host number.
    public var privateIP: String?
    /// The Pod's DNS (`DnsConfig`); nil: the host's resolvers.
    public var dns: DNSSettings?
    public var networkIndex: Int?
    /// The block (the /24) of its subnet; nil for an instance recorded before subnets (its
    /// block is its network's index).
    public var networkBlock: Int?
    public var networkHost: Int?
    public var securityGroupIDs: [String]
    /// The runtime its containers run under.
    public var runtimeClass: RuntimeClass
    /// The first host id of its user namespace's range, while it has one.
    public var idRangeBase: UInt32?
    /// What the Kubernetes door keeps of the Pod (namespace, uid, labels, annotations); nil for
    /// an instance made through the Cloud API (a Pod in `default` then).
    public var kubernetes: KubernetesMetadata?
    /// Its elastic IP, given at creation; nil: none.
    public var eip: InstanceEIP?
    /// The store's revision of its last change (the Pod's `resourceVersion`), as read.
    public var revision: Int64?
    /// The imc host (`imc serve --node-name`) that runs it; nil for instances from before hosts
    /// were named (the only host then).
    public var node: String?
    /// A restart asked for through an API replica on another host, for the node to carry out.
    public var restartRequested: Date?
    /// The Pod's volumes (emptyDir, configMap, secret, downwardAPI, projected).
    public var volumes: [VolumeSpec] = []
    /// The status it had when its deletion was asked for: while it is Terminating, the Cloud API
    /// shows this (its `Status` has no Terminating), as the Kubernetes door shows its last phase.
    public var deletedFrom: InstanceStatus?

    public init(id: String, account: String, region: String, name: String, creationTime: Date) {
        self.id = id
        self.account = account
        self.region = region
        self.name = name
        self.creationTime = creationTime
        status = .pending
        cpu = 1
        memory = 2
        restartPolicy = .always
        terminationGracePeriodSeconds = 30
        initContainers = []
        containers = []
        states = [:]
        credentials = []
        registryHttpEndPointList = []
        registrySkipVerifyList = []
        cache = CacheRequestOptions()
        events = []
        phases = []
        securityGroupIDs = []
        runtimeClass = .runc
    }

    enum CodingKeys: String, CodingKey {
        case id, account, region, name, status, message, creationTime, finishTime, cpu, memory, restartPolicy,
            terminationGracePeriodSeconds, initContainers, containers, states, credentials, registryHttpEndPointList,
            registrySkipVerifyList, cache, cacheOutcome, cacheID, diskID, diskSizeGiB, events, phases, subnetID, vpcID, securityGroupIDs,
            runtimeClass, idRangeBase, privateIP, networkIndex, networkBlock, networkHost, dns, kubernetes, node, restartRequested,
            deletedFrom, volumes, eip
    }

    /// Rows written before a field existed read with its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        account = try c.decode(String.self, forKey: .account)
        region = try c.decode(String.self, forKey: .region)
        name = try c.decode(String.self, forKey: .name)
        status = try c.decode(InstanceStatus.self, forKey: .status)
        message = try c.decodeIfPresent(String.self, forKey: .message)
        creationTime = try c.decode(Date.self, forKey: .creationTime)
        finishTime = try c.decodeIfPresent(Date.self, forKey: .finishTime)
        cpu = try c.decode(Double.self, forKey: .cpu)
        memory = try c.decode(Double.self, forKey: .memory)
        restartPolicy = try c.decode(RestartPolicy.self, forKey: .restartPolicy)
        terminationGracePeriodSeconds = try c.decode(Int.self, forKey: .terminationGracePeriodSeconds)
        initContainers = try c.decode([ContainerSpec].self, forKey: .initContainers)
        containers = try c.decode([ContainerSpec].self, forKey: .containers)
        states = try c.decode([String: ContainerState].self, forKey: .states)
        credentials = try c.decode([CacheCredential].self, forKey: .credentials)
        registryHttpEndPointList = try c.decode([String].self, forKey: .registryHttpEndPointList)
        registrySkipVerifyList = try c.decode([String].self, forKey: .registrySkipVerifyList)
        cache = try c.decode(CacheRequestOptions.self, forKey: .cache)
        cacheOutcome = try c.decodeIfPresent(CacheOutcome.self, forKey: .cacheOutcome)
        cacheID = try c.decodeIfPresent(String.self, forKey: .cacheID)
        diskID = try c.decodeIfPresent(String.self, forKey: .diskID)
        diskSizeGiB = try c.decodeIfPresent(Int.self, forKey: .diskSizeGiB)
        events = try c.decode([CacheEvent].self, forKey: .events)
        phases = try c.decode([Phase].self, forKey: .phases)
        subnetID = try c.decodeIfPresent(String.self, forKey: .subnetID)
        vpcID = try c.decodeIfPresent(String.self, forKey: .vpcID)
        securityGroupIDs = try c.decode([String].self, forKey: .securityGroupIDs)
        runtimeClass = try c.decodeIfPresent(RuntimeClass.self, forKey: .runtimeClass) ?? .runc
        idRangeBase = try c.decodeIfPresent(UInt32.self, forKey: .idRangeBase)
        privateIP = try c.decodeIfPresent(String.self, forKey: .privateIP)
        networkIndex = try c.decodeIfPresent(Int.self, forKey: .networkIndex)
        networkBlock = try c.decodeIfPresent(Int.self, forKey: .networkBlock)
        networkHost = try c.decodeIfPresent(Int.self, forKey: .networkHost)
        dns = try c.decodeIfPresent(DNSSettings.self, forKey: .dns)
        kubernetes = try c.decodeIfPresent(KubernetesMetadata.self, forKey: .kubernetes)
        node = try c.decodeIfPresent(String.self, forKey: .node)
        restartRequested = try c.decodeIfPresent(Date.self, forKey: .restartRequested)
        deletedFrom = try c.decodeIfPresent(InstanceStatus.self, forKey: .deletedFrom)
        volumes = try c.decodeIfPresent([VolumeSpec].self, forKey: .volumes) ?? []
        eip = try c.decodeIfPresent(InstanceEIP.self, forKey: .eip)
    }

    /// Every image the instance runs, in order, once each.
    public var images: [String] {
        var seen = Set<String>()
        return (initContainers + containers).map(\.image).filter { seen.insert($0).inserted }
    }

    public mutating func record(_ type: CacheEvent.Kind, _ reason: String, _ message: String, at time: Date) {
        events.record(type, reason, message, at: time, limit: 200)
    }

    public mutating func mark(_ phase: String, at time: Date) { phases.append(Phase(name: phase, at: time)) }

    /// Milliseconds from creation to the phase (the first of that name).
    public func milliseconds(to phase: String) -> Double? {
        phases.first { $0.name == phase }.map { $0.at.timeIntervalSince(creationTime) * 1000 }
    }
}

/// A data disk the database accounts for: a build's, an instance's, or one kept after its
/// instance ended (`image-cache-disk-retain-minute`) for the next instance of the same account
/// and cache.
public struct DiskRecord: Codable, Sendable, Equatable {
    public enum Use: String, Codable, Sendable {
        case build
        case instance
        case retained
    }
    public var id: String
    public var account: String
    public var use: Use
    public var instanceID: String?
    public var cacheID: String?
    /// The snapshot the disk was made from (a retained disk is reused only for the same one).
    public var snapshotID: String?
    public var sizeGiB: Int
    public var diskType: DiskType
    public var createdAt: Date
    public var retainUntil: Date?
    /// The imc host the disk is attached to (nil: from before hosts were named).
    public var node: String?

    public init(
        id: String, account: String, use: Use, instanceID: String?, cacheID: String?, sizeGiB: Int, diskType: DiskType, createdAt: Date
    ) {
        self.id = id
        self.account = account
        self.use = use
        self.instanceID = instanceID
        self.cacheID = cacheID
        self.sizeGiB = sizeGiB
        self.diskType = diskType
        self.createdAt = createdAt
    }
}
