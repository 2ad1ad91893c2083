import IMCCache
import IMCModel

/// What a user asks for when creating instances, already type-checked by the door.
public struct InstanceRequest: Sendable {
    public var name: String?
    public var containers: [ContainerSpec] = []
    public var initContainers: [ContainerSpec] = []
    /// The Pod's volumes (the Kubernetes door's; the Cloud API's `EksCiVolume` is refused).
    public var volumes: [VolumeSpec] = []
    public var cpu: Double?
    public var memory: Double?
    public var restartPolicy: RestartPolicy?
    public var credentials: [CacheCredential] = []
    public var registryHttpEndPointList: [String] = []
    public var registrySkipVerifyList: [String] = []
    public var cache = CacheRequestOptions()
    /// The cache annotations the request did not say (a field absent from the API request);
    /// the account's defaults fill them. Empty: `cache` is exactly what was asked.
    public var unsaid: Set<CacheAnnotation> = []
    public var terminationGracePeriodSeconds: Int?
    public var replicas: Int?
    public var subnetID: String?
    public var vpcID: String?
    public var securityGroupIDs: [String] = []
    /// The Pod's DNS (`DnsConfig`); nil: the host's resolvers.
    public var dns: DNSSettings?
    /// The runtime class (`spec.runtimeClassName`); the service's default when nil.
    public var runtimeClass: RuntimeClass?
    /// What the Kubernetes door keeps of the Pod.
    public var kubernetes: KubernetesMetadata?
    /// The EIPs asked for; nil: none.
    public var eip: EIPRequest?
    public init() {}
}

/// What `UpdateEKSContainerInstance` changes (nil: kept as it is).
public struct InstanceUpdate: Sendable, Equatable {
    public var containers: [ContainerSpec]?
    public var initContainers: [ContainerSpec]?
    public var restartPolicy: RestartPolicy?
    public var name: String?
    public var credentials: [CacheCredential]?
    public init() {}
}
