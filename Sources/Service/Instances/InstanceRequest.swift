import IMCCache
import IMCInstance

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
