import Foundation
import IMCAPI
import IMCCache
import IMCInstance
import IMCService
import IMCStore

/// The container instance actions of API.md section 3, with imc's image-cache extensions.
struct InstanceActions: Sendable {
    let service: InstanceService

    static let names: Set<String> = [
        "CreateEKSContainerInstances", "DescribeEKSContainerInstances", "DescribeEKSContainerInstanceEvent",
        "DeleteEKSContainerInstances", "RestartEKSContainerInstances", "DescribeEksContainerInstanceLog",
    ]
    static let changing: Set<String> = ["CreateEKSContainerInstances", "DeleteEKSContainerInstances", "RestartEKSContainerInstances"]

    func handle(_ action: String, _ p: inout Parameters, account: String, region: String) throws -> [String: Any] {
        switch action {
        case "CreateEKSContainerInstances":
            let request = try Self.createRequest(&p)
            try p.finish()
            let created = try service.create(request, account: account, region: region)
            return ["EksCiIds": created.map(\.id)]
        case "DescribeEKSContainerInstances":
            var query = InstanceQuery()
            query.ids = try p.strings("EksCiIds")
            query.limit = try p.int("Limit") ?? 20
            query.offset = try p.int("Offset") ?? 0
            let filters = try p.filters()
            try p.finish()
            for (name, values) in filters ?? [] {
                switch name {
                case "eks-ci-name", "EksCiName": query.names = (query.names ?? []) + values
                case "eks-ci-id", "EksCiId": query.ids = (query.ids ?? []) + values
                case "status", "Status":
                    query.statuses = try values.map { v throws(APIError) in try Parameters.oneOf(v, field: "Filters status value") }
                default:
                    throw APIError.invalidParameterValue(
                        "Filters Name \"\(name.prefix(60))\" is not supported; use eks-ci-name, eks-ci-id or status")
                }
            }
            let (total, instances) = try service.describe(account: account, query: query)
            return ["TotalCount": total, "EksCis": instances.map(Self.render)]
        case "DescribeEKSContainerInstanceEvent":
            let id = try p.requiredString("EksCiId")
            let limit = try p.int("Limit") ?? 100
            try p.finish()
            guard (1...200).contains(limit) else { throw APIError.invalidParameterValue("Limit must be from 1 to 200, not \(limit)") }
            let instance = try service.get(id: id, account: account)
            return ["EksCiId": id, "Events": instance.events.suffix(limit).map { Self.render($0, pod: instance.name) }]
        case "DescribeEksContainerInstanceLog":
            let id = try p.requiredString("EksCiId")
            let container = try p.string("ContainerName")
            let tail = try p.int("Tail")
            _ = try p.string("StartTime")
            _ = try p.bool("Previous")
            _ = try p.int("SinceSeconds")
            let limitBytes = try p.int("LimitBytes")
            try p.finish()
            let (name, text) = try service.logs(id: id, account: account, container: container, tail: tail, limitBytes: limitBytes)
            return ["ContainerName": name, "LogContent": text]
        case "DeleteEKSContainerInstances":
            let ids = try p.strings("EksCiIds") ?? []
            _ = try p.bool("ReleaseAutoCreatedEip")
            try p.finish()
            try service.delete(ids: ids, account: account)
            return [:]
        case "RestartEKSContainerInstances":
            let ids = try p.strings("EksCiIds") ?? []
            try p.finish()
            try service.restart(ids: ids, account: account)
            return [:]
        default:
            throw APIError.invalidAction("action \(action.prefix(80)) is not supported by this service")
        }
    }

    static func createRequest(_ p: inout Parameters) throws -> InstanceRequest {
        var r = InstanceRequest()
        guard let containers = try p.objects("Containers", Self.container) else {
            throw APIError.missingParameter("Containers is required")
        }
        r.containers = containers
        r.initContainers = try p.objects("InitContainers", Self.container) ?? []
        r.name = try p.string("EksCiName")
        r.cpu = try p.double("Cpu")
        r.memory = try p.double("Memory")
        r.restartPolicy = try p.oneOf("RestartPolicy")
        r.credentials =
            try p.objects("ImageRegistryCredentials") { (c: inout Parameters, path: String) throws(APIError) -> CacheCredential in
                guard let server = try c.string("Server"), !server.isEmpty else {
                    throw APIError.missingParameter("\(path).Server is required")
                }
                return CacheCredential(
                    server: server, username: try c.string("Username") ?? "", password: try c.string("Password") ?? "",
                    name: try c.string("Name"))
            } ?? []
        r.replicas = try p.int("Replicas")
        r.subnetID = try p.string("SubnetId")
        r.vpcID = try p.string("VpcId")
        r.securityGroupIDs = try p.strings("SecurityGroupIds") ?? []
        // Accepted for compatibility with scripts written for the real service; imc runs no
        // VPC, EIP, GPU or CAM role, and says so in the README.
        for name in [
            "EksCiVolume", "DnsConfig", "ExistedEipIds", "AutoCreateEipAttribute", "AutoCreateEip", "CpuType", "GpuType", "GpuCount",
            "CamRoleName",
        ] {
            _ = p.rawValue(name)
        }
        r.terminationGracePeriodSeconds = try p.int("TerminationGracePeriodSeconds")
        r.registryHttpEndPointList = try p.strings("RegistryHttpEndPointList") ?? []
        r.registrySkipVerifyList = try p.strings("RegistrySkipVerifyList") ?? []
        // imc's extensions, mirroring the Pod annotations.
        let auto = try p.bool("AutoMatchImageCache")
        let id = try p.string("ImageCacheId")
        if auto == true, let id, !id.isEmpty {
            throw APIError.invalidParameterValue("AutoMatchImageCache and ImageCacheId \(id.prefix(20)) exclude each other; give one")
        }
        r.cache.use = (id?.isEmpty == false ? id : nil) ?? (auto == true ? "auto" : nil)
        if let type: DiskType = try p.oneOf("ImageCacheDiskType") { r.cache.diskType = type }
        r.cache.diskSizeGiB = try p.int("ImageCacheDiskSize")
        r.cache.retainMinutes = try p.int("ImageCacheDiskRetainMinutes") ?? 0
        return r
    }

    static func container(_ c: inout Parameters, _ path: String) throws(APIError) -> ContainerSpec {
        var spec = ContainerSpec(name: try c.requiredString("Name"), image: try c.requiredString("Image"))
        spec.commands = try c.strings("Commands")
        spec.args = try c.strings("Args")
        spec.workingDir = try c.string("WorkingDir")
        spec.cpu = try c.double("Cpu")
        spec.memory = try c.double("Memory")
        spec.env =
            try c.objects("EnvironmentVars") { (e: inout Parameters, _: String) throws(APIError) -> EnvVar in
                EnvVar(name: try e.requiredString("Name"), value: try e.string("Value") ?? "")
            } ?? []
        for name in ["VolumeMounts", "LivenessProbe", "ReadinessProbe", "GpuLimit", "SecurityContext"] { _ = c.rawValue(name) }
        return spec
    }

    static func time(_ d: Date?) -> Any { ImageCacheActions.time(d) }

    static func render(_ e: CacheEvent, pod: String) -> [String: Any] {
        [
            "PodName": pod, "Reason": e.reason, "Type": e.type.rawValue, "Count": e.count, "Message": e.message,
            "FirstTimestamp": time(e.firstTimestamp), "LastTimestamp": time(e.lastTimestamp),
        ]
    }

    static func render(_ c: ContainerSpec, state: ContainerState?) -> [String: Any] {
        var out: [String: Any] = [
            "Name": c.name, "Image": c.image, "Commands": c.commands ?? [], "Args": c.args ?? [],
            "EnvironmentVars": c.env.map { ["Name": $0.name, "Value": $0.value] }, "WorkingDir": c.workingDir ?? NSNull(),
            "Cpu": c.cpu ?? NSNull(), "Memory": c.memory ?? NSNull(), "RestartCount": state?.restartCount ?? 0,
        ]
        if let s = state {
            out["CurrentState"] =
                [
                    "State": s.state.rawValue, "Reason": s.reason ?? NSNull(), "Message": s.message ?? NSNull(),
                    "ExitCode": s.exitCode ?? NSNull(), "StartTime": time(s.startTime), "FinishTime": time(s.finishTime),
                    "RestartCount": s.restartCount,
                ] as [String: Any]
        }
        return out
    }

    /// The API's `EksCi`, with imc's image-cache fields and the start-up phases.
    static func render(_ i: Instance) -> [String: Any] {
        [
            "EksCiId": i.id, "EksCiName": i.name, "Status": i.status.rawValue, "Cpu": i.cpu, "Memory": i.memory,
            "RestartPolicy": i.restartPolicy.rawValue, "CreationTime": time(i.creationTime),
            "SucceededTime": i.status == .succeeded ? time(i.finishTime) : NSNull(),
            "Containers": i.containers.map { render($0, state: i.states[$0.name]) },
            "InitContainers": i.initContainers.map { render($0, state: i.states[$0.name]) },
            "SubnetId": i.subnetID ?? NSNull(), "VpcId": i.vpcID ?? NSNull(), "SecurityGroupIds": i.securityGroupIDs,
            "PrivateIp": NSNull(), "EipAddress": NSNull(), "PersistStatus": NSNull(),
            "ImageCacheId": i.cacheID ?? NSNull(), "ImageCacheResult": i.cacheOutcome?.rawValue ?? NSNull(),
            "ImageCacheDiskId": i.diskID ?? NSNull(), "ImageCacheDiskSize": i.diskSizeGiB ?? NSNull(),
            "ImageCacheDiskType": i.cache.diskType.rawValue, "StatusMessage": i.message ?? NSNull(),
            "StartupPhases": i.phases.map {
                ["Name": $0.name, "Milliseconds": ($0.at.timeIntervalSince(i.creationTime) * 1000).rounded()]
            },
        ]
    }
}
