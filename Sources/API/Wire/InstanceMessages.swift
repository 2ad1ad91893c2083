import IMCDocuments

// The container instance actions of API.md section 3, with imc's image-cache extensions.

public struct EnvironmentVar: Codable, Sendable, Equatable {
    public var Name: String
    public var Value: String?

    public init(Name: String, Value: String?) {
        self.Name = Name
        self.Value = Value
    }
}

/// `DnsConfig`: resolvers, search domains and resolver options for the instance's containers.
public struct DNSConfig: Codable, Sendable, Equatable {
    public struct Option: Codable, Sendable, Equatable {
        public var Name: String
        public var Value: String?
        public init(Name: String, Value: String? = nil) {
            self.Name = Name
            self.Value = Value
        }
    }

    public var Nameservers: [String]?
    public var Searches: [String]?
    public var Options: [Option]?

    public init(Nameservers: [String]? = nil, Searches: [String]? = nil, Options: [Option]? = nil) {
        self.Nameservers = Nameservers
        self.Searches = Searches
        self.Options = Options
    }
}

/// `LivenessOrReadinessProbe`: the timing (`Probe`) and one of `Exec`, `HttpGet`, `TcpSocket`.
public struct LivenessOrReadinessProbe: Codable, Sendable, Equatable {
    public struct Timing: Codable, Sendable, Equatable {
        public var InitialDelaySeconds: Int?
        public var TimeoutSeconds: Int?
        public var PeriodSeconds: Int?
        public var SuccessThreshold: Int?
        public var FailureThreshold: Int?
    }
    public struct ExecAction: Codable, Sendable, Equatable { public var Commands: [String]? }
    public struct HttpGetAction: Codable, Sendable, Equatable {
        public var Path: String?
        public var Port: Int?
        public var Scheme: String?
    }
    public struct TcpSocketAction: Codable, Sendable, Equatable { public var Port: Int? }
    public var `Probe`: Timing?
    public var Exec: ExecAction?
    public var HttpGet: HttpGetAction?
    public var TcpSocket: TcpSocketAction?
}

/// A container as asked for.
public struct Container: Codable, Sendable, Equatable {
    public var Name: String
    public var Image: String
    public var Commands: [String]?
    public var Args: [String]?
    public var EnvironmentVars: [EnvironmentVar]?
    public var WorkingDir: String?
    public var Cpu: Double?
    public var Memory: Double?
    /// The real service's; refused by name (`InstanceActions.request`): the Cloud API's volumes
    /// (CBS and NFS) are not built.
    public var VolumeMounts: JSONValue?
    public var LivenessProbe: LivenessOrReadinessProbe?
    public var ReadinessProbe: LivenessOrReadinessProbe?
    public var GpuLimit: JSONValue?
    public var SecurityContext: SecurityContext?

    public init(Name: String, Image: String, Commands: [String]? = nil, Args: [String]? = nil, EnvironmentVars: [EnvironmentVar]? = nil) {
        self.Name = Name
        self.Image = Image
        self.Commands = Commands
        self.Args = Args
        self.EnvironmentVars = EnvironmentVars
    }
}

public struct CreateEKSContainerInstancesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.createEKSContainerInstances
    public typealias Response = CreateEKSContainerInstancesResponse

    public var Containers: [Container]
    public var InitContainers: [Container]?
    public var EksCiName: String?
    public var Cpu: Double?
    public var Memory: Double?
    public var RestartPolicy: String?
    public var ImageRegistryCredentials: [ImageRegistryCredential]?
    public var Replicas: Int?
    public var SubnetId: String?
    public var VpcId: String?
    public var SecurityGroupIds: [String]?
    public var TerminationGracePeriodSeconds: Int?
    public var RegistryHttpEndPointList: [String]?
    public var RegistrySkipVerifyList: [String]?
    /// The real service's; imc refuses each by name (`InstanceActions.request`): it runs no volume, EIP, GPU or CAM role yet.
    public var EksCiVolume: JSONValue?
    public var DnsConfig: DNSConfig?
    public var ExistedEipIds: JSONValue?
    public var AutoCreateEipAttribute: JSONValue?
    public var AutoCreateEip: JSONValue?
    public var CpuType: JSONValue?
    public var GpuType: JSONValue?
    public var GpuCount: JSONValue?
    public var CamRoleName: JSONValue?
    /// imc's extensions, mirroring the Pod annotations (API.md section 4).
    public var AutoMatchImageCache: Bool?
    public var ImageCacheId: String?
    public var ImageCacheDiskType: String?
    public var ImageCacheDiskSize: Int?
    public var ImageCacheDiskRetainMinutes: Int?
    /// `perfect` (the default: a cache must hold every image) or `partial` (the cache holding the
    /// most of them, at least `ImageCacheMinMatchedImages`; the others are pulled onto its disk).
    public var ImageCacheMatch: String?
    public var ImageCacheMinMatchedImages: Int?
    /// When nothing matches, build a cache of these images for the next instance.
    public var AutoCreateImageCache: Bool?
    /// imc's extension: the runtime class (`runc` or `gvisor`), as a Pod's `runtimeClassName`.
    public var RuntimeClassName: String?

    public init(Containers: [Container]) { self.Containers = Containers }
}

public struct CreateEKSContainerInstancesResponse: Codable, Sendable, Equatable {
    public var EksCiIds: [String]
    public init(EksCiIds: [String]) { self.EksCiIds = EksCiIds }
}

public struct DescribeEKSContainerInstancesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeEKSContainerInstances
    public typealias Response = DescribeEKSContainerInstancesResponse

    public var EksCiIds: [String]?
    public var Limit: Int?
    public var Offset: Int?
    public var Filters: [Filter]?

    public init(EksCiIds: [String]? = nil, Limit: Int? = nil, Offset: Int? = nil) {
        self.EksCiIds = EksCiIds
        self.Limit = Limit
        self.Offset = Offset
    }
}

public struct DescribeEKSContainerInstancesResponse: Codable, Sendable, Equatable {
    public var TotalCount: Int
    public var EksCis: [EksCi]

    public init(TotalCount: Int, EksCis: [EksCi]) {
        self.TotalCount = TotalCount
        self.EksCis = EksCis
    }
}

/// `EksCi.Status`: the real service's four values, and only those (an instance being deleted
/// shows the one it had; `StatusMessage` says it is being deleted).
public enum EksCiStatus: String, Codable, Sendable, CaseIterable {
    case Pending, Running, Succeeded, Failed
}

/// The API's `EksCi`, with imc's image-cache fields and the start-up phases.
public struct EksCi: Codable, Sendable, Equatable {
    public var EksCiId: String
    public var EksCiName: String
    public var Status: String
    public var Cpu: Double
    public var Memory: Double
    public var RestartPolicy: String
    public var CreationTime: String
    @Nullable public var SucceededTime: String?
    public var Containers: [ContainerView]
    public var InitContainers: [ContainerView]
    @Nullable public var SubnetId: String?
    @Nullable public var VpcId: String?
    public var SecurityGroupIds: [String]
    @Nullable public var PrivateIp: String?
    @Nullable public var EipAddress: String?
    /// The EIP made for it (`AutoCreateEip`); null for one of the account's kept EIPs.
    @Nullable public var AutoCreatedEipId: String?
    @Nullable public var PersistStatus: String?
    @Nullable public var ImageCacheId: String?
    @Nullable public var ImageCacheResult: String?
    @Nullable public var ImageCacheDiskId: String?
    @Nullable public var ImageCacheDiskSize: Int?
    public var ImageCacheDiskType: String
    @Nullable public var StatusMessage: String?
    public var StartupPhases: [StartupPhaseView]
    /// imc's extension: how the containers run (`runc` or `gvisor`).
    public var RuntimeClassName: String?
    /// imc's extension: the imc node that runs it (`imc serve --node-name`).
    @Nullable public var NodeName: String?

    public init(
        EksCiId: String, EksCiName: String, Status: String, Cpu: Double, Memory: Double, RestartPolicy: String, CreationTime: String,
        SucceededTime: String?, Containers: [ContainerView], InitContainers: [ContainerView], SubnetId: String?, VpcId: String?,
        SecurityGroupIds: [String], PrivateIp: String?, ImageCacheId: String?, ImageCacheResult: String?, ImageCacheDiskId: String?,
        ImageCacheDiskSize: Int?, ImageCacheDiskType: String, StatusMessage: String?, StartupPhases: [StartupPhaseView],
        RuntimeClassName: String? = nil, NodeName: String? = nil, EipAddress: String? = nil, AutoCreatedEipId: String? = nil
    ) {
        self.EipAddress = EipAddress
        self.AutoCreatedEipId = AutoCreatedEipId
        self.RuntimeClassName = RuntimeClassName
        self.NodeName = NodeName
        self.EksCiId = EksCiId
        self.EksCiName = EksCiName
        self.Status = Status
        self.Cpu = Cpu
        self.Memory = Memory
        self.RestartPolicy = RestartPolicy
        self.CreationTime = CreationTime
        self.SucceededTime = SucceededTime
        self.Containers = Containers
        self.InitContainers = InitContainers
        self.SubnetId = SubnetId
        self.VpcId = VpcId
        self.SecurityGroupIds = SecurityGroupIds
        self.PrivateIp = PrivateIp
        self.ImageCacheId = ImageCacheId
        self.ImageCacheResult = ImageCacheResult
        self.ImageCacheDiskId = ImageCacheDiskId
        self.ImageCacheDiskSize = ImageCacheDiskSize
        self.ImageCacheDiskType = ImageCacheDiskType
        self.StatusMessage = StatusMessage
        self.StartupPhases = StartupPhases
    }
}

/// A container as the service describes it.
public struct ContainerView: Codable, Sendable, Equatable {
    public var Name: String
    public var Image: String
    public var Commands: [String]
    public var Args: [String]
    public var EnvironmentVars: [EnvironmentVar]
    @Nullable public var WorkingDir: String?
    @Nullable public var Cpu: Double?
    @Nullable public var Memory: Double?
    public var RestartCount: Int
    public var CurrentState: ContainerStateView?

    public init(
        Name: String, Image: String, Commands: [String], Args: [String], EnvironmentVars: [EnvironmentVar], WorkingDir: String?,
        Cpu: Double?, Memory: Double?, RestartCount: Int, CurrentState: ContainerStateView?
    ) {
        self.Name = Name
        self.Image = Image
        self.Commands = Commands
        self.Args = Args
        self.EnvironmentVars = EnvironmentVars
        self.WorkingDir = WorkingDir
        self.Cpu = Cpu
        self.Memory = Memory
        self.RestartCount = RestartCount
        self.CurrentState = CurrentState
    }
}

/// `ContainerState`.
public struct ContainerStateView: Codable, Sendable, Equatable {
    public var State: String
    @Nullable public var Reason: String?
    @Nullable public var Message: String?
    @Nullable public var ExitCode: Int?
    @Nullable public var StartTime: String?
    @Nullable public var FinishTime: String?
    public var RestartCount: Int

    public init(
        State: String, Reason: String?, Message: String?, ExitCode: Int?, StartTime: String?, FinishTime: String?, RestartCount: Int
    ) {
        self.State = State
        self.Reason = Reason
        self.Message = Message
        self.ExitCode = ExitCode
        self.StartTime = StartTime
        self.FinishTime = FinishTime
        self.RestartCount = RestartCount
    }
}

public struct StartupPhaseView: Codable, Sendable, Equatable {
    public var Name: String
    public var Milliseconds: Double

    public init(Name: String, Milliseconds: Double) {
        self.Name = Name
        self.Milliseconds = Milliseconds
    }
}

public struct DescribeEKSContainerInstanceEventRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeEKSContainerInstanceEvent
    public typealias Response = DescribeEKSContainerInstanceEventResponse

    public var EksCiId: String
    public var Limit: Int?

    public init(EksCiId: String, Limit: Int? = nil) {
        self.EksCiId = EksCiId
        self.Limit = Limit
    }
}

public struct DescribeEKSContainerInstanceEventResponse: Codable, Sendable, Equatable {
    public var EksCiId: String
    public var Events: [EksCiEvent]

    public init(EksCiId: String, Events: [EksCiEvent]) {
        self.EksCiId = EksCiId
        self.Events = Events
    }
}

/// An instance's event, as the kubelet's.
public struct EksCiEvent: Codable, Sendable, Equatable {
    public var PodName: String
    public var Reason: String
    public var `Type`: String
    public var Count: Int
    public var Message: String
    public var FirstTimestamp: String
    public var LastTimestamp: String

    public init(PodName: String, Reason: String, Type: String, Count: Int, Message: String, FirstTimestamp: String, LastTimestamp: String) {
        self.PodName = PodName
        self.Reason = Reason
        self.`Type` = Type
        self.Count = Count
        self.Message = Message
        self.FirstTimestamp = FirstTimestamp
        self.LastTimestamp = LastTimestamp
    }
}

public struct DescribeEksContainerInstanceLogRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeEksContainerInstanceLog
    public typealias Response = DescribeEksContainerInstanceLogResponse

    public var EksCiId: String
    public var ContainerName: String?
    public var Tail: Int?
    public var StartTime: String?
    public var Previous: Bool?
    public var SinceSeconds: Int?
    public var LimitBytes: Int?

    public init(EksCiId: String, ContainerName: String? = nil, Tail: Int? = nil) {
        self.EksCiId = EksCiId
        self.ContainerName = ContainerName
        self.Tail = Tail
    }
}

public struct DescribeEksContainerInstanceLogResponse: Codable, Sendable, Equatable {
    public var ContainerName: String
    public var LogContent: String

    public init(ContainerName: String, LogContent: String) {
        self.ContainerName = ContainerName
        self.LogContent = LogContent
    }
}

public struct DeleteEKSContainerInstancesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.deleteEKSContainerInstances
    public typealias Response = EmptyResponse

    public var EksCiIds: [String]?
    public var ReleaseAutoCreatedEip: Bool?

    public init(EksCiIds: [String]) { self.EksCiIds = EksCiIds }
}

/// `UpdateEKSContainerInstance`: the instance is stopped and started again with this spec, its id
/// and address kept.
public struct UpdateEKSContainerInstanceRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.updateEKSContainerInstance
    public typealias Response = UpdateEKSContainerInstanceResponse

    public var EksCiId: String
    public var RestartPolicy: String?
    /// The real service's; refused by name, as at creation.
    public var EksCiVolume: JSONValue?
    public var Containers: [Container]?
    public var InitContainers: [Container]?
    public var Name: String?
    public var ImageRegistryCredentials: [ImageRegistryCredential]?

    public init(EksCiId: String) { self.EksCiId = EksCiId }
}

public struct UpdateEKSContainerInstanceResponse: Codable, Sendable, Equatable {
    public var EksCiId: String
    public init(EksCiId: String) { self.EksCiId = EksCiId }
}

public struct RestartEKSContainerInstancesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.restartEKSContainerInstances
    public typealias Response = EmptyResponse

    public var EksCiIds: [String]?

    public init(EksCiIds: [String]) { self.EksCiIds = EksCiIds }
}

public struct DescribeEKSContainerInstanceRegionsRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeEKSContainerInstanceRegions
    public typealias Response = DescribeEKSContainerInstanceRegionsResponse

    public init() {}
}

public struct DescribeEKSContainerInstanceRegionsResponse: Codable, Sendable, Equatable {
    public var Regions: [EksCiRegionInfo]
    public var TotalCount: Int

    public init(Regions: [EksCiRegionInfo]) {
        self.Regions = Regions
        TotalCount = Regions.count
    }
}

/// A region container instances run in: its short alias (`gz`), name (`ap-guangzhou`) and
/// numeric id, as the real service writes them (`RegionId` is null for a region whose id imc
/// does not know: the operator named it).
public struct EksCiRegionInfo: Codable, Sendable, Equatable {
    public var Alias: String
    public var RegionName: String
    public var RegionId: Int?

    public init(RegionName: String) {
        self.RegionName = RegionName
        let known = Self.known[RegionName]
        Alias = known?.alias ?? RegionName
        RegionId = known?.id
    }

    /// Tencent Cloud's regions with their alias and id, as its region list gives them.
    static let known: [String: (alias: String, id: Int)] = [
        "ap-guangzhou": ("gz", 1), "ap-shanghai": ("sh", 4), "ap-hongkong": ("hk", 5), "na-toronto": ("ca", 6),
        "ap-beijing": ("bj", 8), "ap-singapore": ("sg", 9), "na-siliconvalley": ("usw", 15), "ap-chengdu": ("cd", 16),
        "eu-frankfurt": ("de", 17), "ap-seoul": ("kr", 18), "ap-chongqing": ("cq", 19), "ap-mumbai": ("in", 21),
        "na-ashburn": ("use", 22), "ap-bangkok": ("th", 23), "ap-tokyo": ("jp", 25), "ap-nanjing": ("nj", 33),
    ]
}
