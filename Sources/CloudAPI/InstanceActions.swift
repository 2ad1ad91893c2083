import Foundation
import IMCAPI
import IMCCache
import IMCDocuments
import IMCInstance
import IMCInstances
import IMCModel
import IMCStore

/// The container instance actions of API.md section 3, with imc's image-cache extensions.
public struct InstanceActions: Sendable {
    let service: InstanceService

    func create(_ r: CreateEKSContainerInstancesRequest, account: String, region: String) async throws
        -> CreateEKSContainerInstancesResponse
    {
        let created = try await service.create(try Self.request(r), account: account, region: region)
        return CreateEKSContainerInstancesResponse(EksCiIds: created.map(\.id))
    }

    /// `EksCiVolume`: its `NfsVolumes` (`Name`, `Server`, `Path`, `ReadOnly`) are mounted by
    /// imc's userspace NFS client; a `CbsVolumes` disk is one imc does not know (it has no disk
    /// API: every disk id is refused by its field).
    static func volumes(_ value: JSONValue?) throws(APIError) -> [VolumeSpec] {
        guard let value, value != .null else { return [] }
        guard case .object(let fields) = value else {
            throw APIError.invalidParameterValue("EksCiVolume must be an object with CbsVolumes or NfsVolumes", field: "EksCiVolume")
        }
        var out: [VolumeSpec] = []
        for (key, list) in fields.sorted(by: { $0.key < $1.key }) {
            let at = FieldPath("EksCiVolume").key(key)
            guard key == "CbsVolumes" || key == "NfsVolumes" else {
                throw APIError.invalidParameter("\(at) is not a field of EksCiVolume (it takes CbsVolumes and NfsVolumes)", field: at)
            }
            guard case .array(let items) = list else {
                if list == .null { continue }
                throw APIError.invalidParameterValue("\(at) must be a list", field: at)
            }
            for (i, item) in items.enumerated() {
                let p = at.index(i)
                guard case .object(let v) = item else { throw APIError.invalidParameterValue("\(p) must be an object", field: p) }
                let known: Set<String> = key == "CbsVolumes" ? ["Name", "CbsDiskId"] : ["Name", "Server", "Path", "ReadOnly"]
                if let extra = v.keys.sorted().first(where: { !known.contains($0) }) {
                    throw APIError.invalidParameter("\(p.key(extra)) is not a field of \(key)", field: p.key(extra))
                }
                guard let name = v["Name"]?.string, VolumeSpec.isName(name) else {
                    throw APIError.invalidParameterValue(
                        "\(p.key("Name")) must be a DNS label (lower-case letters, digits and -, at most 63)", field: p.key("Name"))
                }
                if out.contains(where: { $0.name == name }) {
                    throw APIError.invalidParameterValue("\(p.key("Name")) \"\(name)\" names another volume too", field: p.key("Name"))
                }
                if key == "CbsVolumes" {
                    let disk = v["CbsDiskId"]?.string ?? ""
                    throw APIError(
                        "ResourceNotFound",
                        "\(p.key("CbsDiskId")) \(disk.prefix(40)): no such disk; imc has no disk API, so it knows no disk by id (an image cache's disk is attached by ImageCacheId)",
                        field: p.key("CbsDiskId"))
                }
                let server = v["Server"]?.string ?? ""
                let exportPath = v["Path"]?.string ?? ""
                if let problem = VolumeSource.nfsProblem(server: server, path: exportPath) {
                    let field = p.key(problem.field == "server" ? "Server" : "Path")
                    throw APIError.invalidParameterValue("\(field) \(problem.message)", field: field)
                }
                let readOnly: Bool
                switch v["ReadOnly"] {
                case nil, .null?: readOnly = false
                case .bool(let b)?: readOnly = b
                case let other?:
                    throw APIError.invalidParameterValue(
                        "\(p.key("ReadOnly")) must be true or false, not \(other)", field: p.key("ReadOnly"))
                }
                out.append(VolumeSpec(name: name, source: .nfs(server: server, path: exportPath, readOnly: readOnly)))
            }
        }
        return out
    }

    /// A container's `VolumeMounts` (`Name`, `MountPath`, `ReadOnly`, `SubPath`); a propagation
    /// or `SubPathExpr` is refused by name.
    static func mounts(_ value: JSONValue?, path: FieldPath) throws(APIError) -> [VolumeMountSpec]? {
        guard let value, value != .null, value != [] else { return nil }
        guard case .array(let items) = value else { throw APIError.invalidParameterValue("\(path) must be a list", field: path) }
        var out: [VolumeMountSpec] = []
        for (j, item) in items.enumerated() {
            let p = path.index(j)
            guard case .object(let m) = item else { throw APIError.invalidParameterValue("\(p) must be an object", field: p) }
            for key in m.keys.sorted() where !["Name", "MountPath", "ReadOnly", "SubPath", "MountPropagation"].contains(key) {
                throw APIError(
                    "UnsupportedOperation", "\(p.key(key)) is not supported by imc (it takes Name, MountPath, ReadOnly, SubPath)",
                    field: p.key(key))
            }
            if let propagation = m["MountPropagation"], propagation != .null, propagation != .string("None") {
                throw APIError.invalidParameterValue(
                    "\(p.key("MountPropagation")) is refused: an instance's mounts never propagate to or from the node",
                    field: p.key("MountPropagation"))
            }
            guard let name = m["Name"]?.string, !name.isEmpty else {
                throw APIError.missingParameter("\(p.key("Name")) must name a volume of EksCiVolume", field: p.key("Name"))
            }
            let mountPath = m["MountPath"]?.string ?? ""
            if let problem = VolumeMountSpec.mountPathProblem(mountPath, taken: out) {
                throw APIError.invalidParameterValue("\(p.key("MountPath")) \(problem)", field: p.key("MountPath"))
            }
            let sub = m["SubPath"]?.string
            if let sub, !sub.isEmpty, let problem = VolumeFiles.pathProblem(sub) {
                throw APIError.invalidParameterValue("\(p.key("SubPath")) \(problem)", field: p.key("SubPath"))
            }
            out.append(
                VolumeMountSpec(
                    name: name, mountPath: mountPath, readOnly: m["ReadOnly"] == .bool(true), subPath: sub?.isEmpty == true ? nil : sub))
        }
        return out
    }

    /// The EIPs a create asks for: `AutoCreateEip` (with `AutoCreateEipAttribute`'s
    /// `InternetMaxBandwidthOut` and `DeletePolicy`) or `ExistedEipIds`, not both.
    static func eip(auto: JSONValue?, attribute: JSONValue?, existing: JSONValue?) throws(APIError) -> EIPRequest? {
        let ids: [String]
        switch existing {
        case nil, .null?: ids = []
        case .array(let items)?:
            ids = try items.enumerated().map { i, item throws(APIError) in
                guard let id = item.string, RandomIDGenerator.isValid(id, prefix: "eip") else {
                    throw APIError.invalidParameterValue("ExistedEipIds.\(i) must be an EIP id like eip-xxxxxxxx", field: "ExistedEipIds")
                }
                return id
            }
        case let other?:
            throw APIError.invalidParameterValue("ExistedEipIds must be a list of EIP ids, not \(other)", field: "ExistedEipIds")
        }
        let wantsNew: Bool
        switch auto {
        case nil, .null?: wantsNew = false
        case .bool(let b)?: wantsNew = b
        case let other?: throw APIError.invalidParameterValue("AutoCreateEip must be true or false, not \(other)", field: "AutoCreateEip")
        }
        let hasAttribute = attribute != nil && attribute != .null
        if hasAttribute && !wantsNew {
            throw APIError.invalidParameterValue("AutoCreateEipAttribute is for AutoCreateEip: true", field: "AutoCreateEipAttribute")
        }
        if wantsNew && !ids.isEmpty {
            throw APIError.invalidParameterValue("AutoCreateEip and ExistedEipIds exclude each other; give one", field: "ExistedEipIds")
        }
        if !ids.isEmpty { return .existing(ids) }
        guard wantsNew else { return nil }
        return .autoCreate(bandwidthMbps: try attributeBandwidth(attribute ?? .null, path: "AutoCreateEipAttribute"))
    }

    static func attributeBandwidth(_ attribute: JSONValue, path: FieldPath) throws(APIError) -> Int? {
        switch EIPRequest.bandwidth(attributes: attribute) {
        case .success(let bandwidth): return bandwidth
        case .failure(let p):
            let field = p.key.map { path.key($0) } ?? path
            if p.unsupported { throw APIError("UnsupportedOperation", "\(field) \(p.message)", field: field) }
            throw APIError.invalidParameterValue("\(field) \(p.message)", field: field)
        }
    }

    /// The service's request for a CreateEKSContainerInstances call (also what a Pod becomes,
    /// through `PodManifest`, in the Kubernetes door); a bad field is an `APIError` naming it.
    public static func request(_ r: CreateEKSContainerInstancesRequest) throws -> InstanceRequest {
        // Fields of the real service imc does not act on are refused by name, never taken and
        // dropped: an instance is not run without the volume, probe, GPU or EIP it asked for.
        // GPUs: nodes declare the GPUs they offer (docs/ARCHITECTURE.md); none here offers any.
        for (name, value) in [("GpuType", r.GpuType), ("GpuCount", r.GpuCount)] where value != nil && value != .null && value != 0 {
            throw APIError(
                "ResourceInsufficient", "\(name): no node offers GPUs (the nodes' GPUs: none); the instance is not run on CPUs instead",
                field: FieldPath([.key(name)]))
        }
        if let asked = r.CpuType, asked != .null {
            guard let type = asked.string, type.lowercased() == HostCPU.type else {
                throw APIError(
                    "ResourceInsufficient",
                    "CpuType \(asked.string.map { "\"\($0.prefix(20))\"" } ?? "\(asked)"): the nodes' CPUs are \(HostCPU.type)",
                    field: "CpuType")
            }
        }
        let unbuilt: [(String, JSONValue?)] = [("CamRoleName", r.CamRoleName)]
        for (name, value) in unbuilt where value != nil && value != .null && value != .bool(false) {
            throw APIError(
                "UnsupportedOperation", "\(name) is not supported by imc yet; the instance is not created without it",
                field: FieldPath([.key(name)]))
        }
        var request = InstanceRequest()
        request.volumes = try Self.volumes(r.EksCiVolume)
        request.eip = try Self.eip(auto: r.AutoCreateEip, attribute: r.AutoCreateEipAttribute, existing: r.ExistedEipIds)
        for (i, c) in r.Containers.enumerated() { request.containers.append(try Self.container(c, path: FieldPath("Containers").index(i))) }
        for (i, c) in (r.InitContainers ?? []).enumerated() {
            request.initContainers.append(try Self.container(c, path: FieldPath("InitContainers").index(i)))
        }
        for (list, containers) in [("Containers", request.containers), ("InitContainers", request.initContainers)] {
            for (i, c) in containers.enumerated() {
                for (j, m) in (c.volumeMounts ?? []).enumerated() where !request.volumes.contains(where: { $0.name == m.name }) {
                    let field = FieldPath(stringLiteral: list).index(i).key("VolumeMounts").index(j).key("Name")
                    throw APIError.invalidParameterValue("\(field) \"\(m.name.prefix(60))\" is not a volume of EksCiVolume", field: field)
                }
            }
        }
        if let name = r.RuntimeClassName {
            guard let runtime = RuntimeClass(rawValue: name) else {
                throw APIError.invalidParameterValue(
                    "RuntimeClassName \"\(name.prefix(40))\" is not a runtime class; use \(RuntimeClass.allCases.map(\.rawValue).joined(separator: " or "))"
                )
            }
            request.runtimeClass = runtime
        }
        request.name = r.EksCiName
        request.cpu = r.Cpu
        request.memory = r.Memory
        request.restartPolicy = try r.RestartPolicy.map { v throws(APIError) in try APIError.oneOf(v, field: "RestartPolicy") }
        request.credentials = (r.ImageRegistryCredentials ?? []).map(Views.credential)
        request.replicas = r.Replicas
        request.subnetID = r.SubnetId
        request.vpcID = r.VpcId
        request.securityGroupIDs = r.SecurityGroupIds ?? []
        request.dns = try r.DnsConfig.map(Self.dns)
        request.terminationGracePeriodSeconds = r.TerminationGracePeriodSeconds
        request.registryHttpEndPointList = r.RegistryHttpEndPointList ?? []
        request.registrySkipVerifyList = r.RegistrySkipVerifyList ?? []
        if r.AutoMatchImageCache == true, let id = r.ImageCacheId, !id.isEmpty {
            throw APIError.invalidParameterValue("AutoMatchImageCache and ImageCacheId \(id.prefix(20)) exclude each other; give one")
        }
        request.cache.use = (r.ImageCacheId?.isEmpty == false ? r.ImageCacheId : nil) ?? (r.AutoMatchImageCache == true ? "auto" : nil)
        if let type = r.ImageCacheDiskType { request.cache.diskType = try APIError.oneOf(type, field: "ImageCacheDiskType") }
        request.cache.diskSizeGiB = r.ImageCacheDiskSize
        request.cache.retainMinutes = r.ImageCacheDiskRetainMinutes ?? 0
        // What the request leaves out, the account's default annotations may fill
        // (`AutoMatchImageCache: false` says "no cache").
        if r.AutoMatchImageCache == nil && r.ImageCacheId == nil { request.unsaid.insert(.useImageCache) }
        if r.ImageCacheDiskType == nil { request.unsaid.insert(.diskType) }
        if r.ImageCacheDiskSize == nil { request.unsaid.insert(.diskSize) }
        if r.ImageCacheDiskRetainMinutes == nil { request.unsaid.insert(.retainMinute) }
        if let match = r.ImageCacheMatch {
            do { try CacheAnnotation.match.apply(match, to: &request.cache) } catch {
                throw APIError.invalidParameterValue("ImageCacheMatch must be perfect or partial, not \"\(match.prefix(40))\"")
            }
        } else {
            request.unsaid.insert(.match)
        }
        if let n = r.ImageCacheMinMatchedImages {
            do { try CacheAnnotation.minMatchedImages.apply("\(n)", to: &request.cache) } catch {
                throw APIError.invalidParameterValue("ImageCacheMinMatchedImages must be from 1 to 100, not \(n)")
            }
        } else {
            request.unsaid.insert(.minMatchedImages)
        }
        if let auto = r.AutoCreateImageCache { request.cache.autoCreate = auto } else { request.unsaid.insert(.autoCreate) }
        return request
    }

    /// `DnsConfig`: `Nameservers` (IP addresses, at most 3, as resolv.conf takes), `Searches`
    /// (at most 6 domains), `Options` (`Name`, `Value`).
    static func dns(_ config: DNSConfig) throws(APIError) -> DNSSettings {
        func names(_ key: String, _ list: [String]?) throws(APIError) -> [String] {
            for s in list ?? []
            where s.isEmpty || s.count > 253 || !s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:_".contains($0)) }) {
                throw APIError.invalidParameterValue(
                    "DnsConfig.\(key) has a value that is not a name or an address", field: FieldPath("DnsConfig").key(key))
            }
            return list ?? []
        }
        var dns = DNSSettings(nameservers: try names("Nameservers", config.Nameservers), searches: try names("Searches", config.Searches))
        func isAddress(_ text: String) -> Bool {
            var v4 = in_addr()
            var v6 = in6_addr()
            return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
        }
        for ns in dns.nameservers where !isAddress(ns) {
            throw APIError.invalidParameterValue(
                "DnsConfig.Nameservers \(ns.prefix(60)) is not an IP address", field: "DnsConfig.Nameservers")
        }
        guard dns.nameservers.count <= 3, dns.searches.count <= 6 else {
            throw APIError.invalidParameterValue("DnsConfig takes at most 3 Nameservers and 6 Searches", field: "DnsConfig")
        }
        for option in config.Options ?? [] {
            guard !option.Name.isEmpty, option.Name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw APIError.invalidParameterValue(
                    "DnsConfig.Options entries need a Name of letters, digits or '-'", field: "DnsConfig.Options")
            }
            if let v = option.Value, !v.isEmpty {
                guard v.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                    throw APIError.invalidParameterValue(
                        "DnsConfig.Options \(option.Name) has a Value that is not letters or digits", field: "DnsConfig.Options")
                }
                dns.options.append("\(option.Name):\(v)")
            } else {
                dns.options.append(option.Name)
            }
        }
        return dns
    }

    static func container(_ c: Container, path: FieldPath) throws(APIError) -> ContainerSpec {
        if let gpu = c.GpuLimit, gpu != .null, gpu != 0 {
            throw APIError(
                "ResourceInsufficient", "\(path.key("GpuLimit")): no node offers GPUs (the nodes' GPUs: none)", field: path.key("GpuLimit"))
        }
        var spec = ContainerSpec(name: c.Name, image: c.Image)
        spec.volumeMounts = try Self.mounts(c.VolumeMounts, path: path.key("VolumeMounts"))
        if let context = c.SecurityContext {
            let s = try SecurityContextRequest(context, path: path.key("SecurityContext"))
            spec.security = ContainerSecurity(
                runAsUser: s.runAsUser, runAsGroup: s.runAsGroup, runAsNonRoot: s.runAsNonRoot,
                readOnlyRootFilesystem: s.readOnlyRootFilesystem,
                drop: s.drop.map { $0 == "ALL" ? $0 : "CAP_" + $0 })
        }
        spec.commands = c.Commands
        spec.args = c.Args
        spec.workingDir = c.WorkingDir
        spec.cpu = c.Cpu
        spec.memory = c.Memory
        spec.env = (c.EnvironmentVars ?? []).map { EnvVar(name: $0.Name, value: $0.Value ?? "") }
        let probes = ContainerProbes(
            liveness: try c.LivenessProbe.map { p throws(APIError) in try Self.probe(p, path: path.key("LivenessProbe")) },
            readiness: try c.ReadinessProbe.map { p throws(APIError) in try Self.probe(p, path: path.key("ReadinessProbe")) })
        if let success = probes.liveness?.successThreshold, success != 1 {
            throw APIError.invalidParameterValue(
                "\(path.key("LivenessProbe")).Probe.SuccessThreshold must be 1",
                field: path.key("LivenessProbe").key("Probe").key("SuccessThreshold"))
        }
        spec.probes = probes.isEmpty ? nil : probes
        return spec
    }

    /// The Cloud API's probe: one of Exec, HttpGet (HTTP only) or TcpSocket, with the timing of
    /// `Probe` (Kubernetes' defaults where it is silent).
    static func probe(_ p: LivenessOrReadinessProbe, path: FieldPath) throws(APIError) -> Probe {
        func port(_ n: Int?, _ at: FieldPath) throws(APIError) -> Int {
            guard let n, (1...65535).contains(n) else {
                throw APIError.invalidParameterValue("\(at) must be a port from 1 to 65535", field: at)
            }
            return n
        }
        var handlers: [Probe.Handler] = []
        if let e = p.Exec {
            guard let commands = e.Commands, !commands.isEmpty else {
                throw APIError.missingParameter("\(path.key("Exec").key("Commands")) is required", field: path.key("Exec").key("Commands"))
            }
            handlers.append(.exec(commands))
        }
        if let h = p.HttpGet {
            if let scheme = h.Scheme, scheme.uppercased() != "HTTP" {
                throw APIError.invalidParameterValue(
                    "\(path.key("HttpGet").key("Scheme")) \"\(scheme.prefix(20))\" is not supported: only HTTP probes are built",
                    field: path.key("HttpGet").key("Scheme"))
            }
            let at = h.Path ?? "/"
            guard at.hasPrefix("/"), !at.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " }) else {
                throw APIError.invalidParameterValue(
                    "\(path.key("HttpGet").key("Path")) must be an absolute request path", field: path.key("HttpGet").key("Path"))
            }
            handlers.append(.httpGet(path: at, port: try port(h.Port, path.key("HttpGet").key("Port")), scheme: "HTTP", headers: [:]))
        }
        if let t = p.TcpSocket { handlers.append(.tcpSocket(port: try port(t.Port, path.key("TcpSocket").key("Port")))) }
        guard handlers.count == 1 else {
            throw APIError.invalidParameterValue("\(path) must have exactly one of Exec, HttpGet or TcpSocket", field: path)
        }
        var probe = Probe(handler: handlers[0])
        let t = p.Probe
        if let (index, problem) = probe.setTiming([
            t?.InitialDelaySeconds, t?.PeriodSeconds, t?.TimeoutSeconds, t?.SuccessThreshold, t?.FailureThreshold,
        ]) {
            let name = Probe.timingFields[index].name
            let at = path.key("Probe").key(name.prefix(1).uppercased() + name.dropFirst())
            throw APIError.invalidParameterValue("\(at) \(problem)", field: at)
        }
        return probe
    }

    func describe(_ r: DescribeEKSContainerInstancesRequest, account: String) async throws -> DescribeEKSContainerInstancesResponse {
        var query = InstanceQuery()
        query.ids = r.EksCiIds
        query.limit = r.Limit ?? 20
        query.offset = r.Offset ?? 0
        var shown: Set<EksCiStatus>?
        for filter in r.Filters ?? [] {
            let values = filter.Values ?? []
            switch filter.Name {
            case "eks-ci-name", "EksCiName": query.names = (query.names ?? []) + values
            case "eks-ci-id", "EksCiId": query.ids = (query.ids ?? []) + values
            case "status", "Status":
                let statuses = try values.map { v throws(APIError) -> EksCiStatus in try APIError.oneOf(v, field: "Filters status value") }
                shown = (shown ?? []).union(statuses)
            default:
                throw APIError.invalidParameterValue(
                    "Filters Name \"\(filter.Name.prefix(60))\" is not supported; use eks-ci-name, eks-ci-id or status")
            }
        }
        guard let shown else {
            let (total, instances) = try await service.describe(account: account, query: query)
            return DescribeEKSContainerInstancesResponse(TotalCount: total, EksCis: instances.map(Views.instance))
        }
        // A status filter is on what the wire shows: an instance being deleted shows the status it
        // had, so those are read too and the page is cut after the filter.
        _ = try await service.describe(account: account, query: query)  // checks Limit and Offset
        var all = query
        all.statuses = InstanceStatus.allCases.filter { s in s == .terminating || shown.contains(Views.status(s)) }
        all.limit = 100
        all.offset = 0
        var matched: [Instance] = []
        while true {
            let (_, page) = try await service.describe(account: account, query: all)
            matched += page.filter { shown.contains(Views.status($0)) }
            if page.count < all.limit { break }
            all.offset += page.count
        }
        let cut = matched.dropFirst(query.offset).prefix(query.limit)
        return DescribeEKSContainerInstancesResponse(TotalCount: matched.count, EksCis: cut.map(Views.instance))
    }

    func events(_ r: DescribeEKSContainerInstanceEventRequest, account: String) async throws -> DescribeEKSContainerInstanceEventResponse {
        let limit = r.Limit ?? 100
        guard (1...200).contains(limit) else { throw APIError.invalidParameterValue("Limit must be from 1 to 200, not \(limit)") }
        let instance = try await service.get(id: r.EksCiId, account: account)
        return DescribeEKSContainerInstanceEventResponse(
            EksCiId: r.EksCiId, Events: instance.events.suffix(limit).map { Views.event($0, pod: instance.name) })
    }

    func logs(_ r: DescribeEksContainerInstanceLogRequest, account: String) async throws -> DescribeEksContainerInstanceLogResponse {
        var request = LogRequest(container: r.ContainerName, tail: r.Tail, limitBytes: r.LimitBytes)
        request.previous = r.Previous ?? false
        if r.StartTime != nil && r.SinceSeconds != nil {
            throw APIError.invalidParameterValue("StartTime and SinceSeconds exclude each other; give one", field: "StartTime")
        }
        if let start = r.StartTime {
            guard let date = Date(rfc3339: start) else {
                throw APIError.invalidParameterValue(
                    "StartTime \"\(start.prefix(40))\" is not an RFC 3339 time such as 2026-12-07T15:13:56Z", field: "StartTime")
            }
            request.since = date
        }
        if let seconds = r.SinceSeconds {
            guard seconds > 0 else {
                throw APIError.invalidParameterValue("SinceSeconds must be positive, not \(seconds)", field: "SinceSeconds")
            }
            request.since = Date().addingTimeInterval(-Double(min(seconds, 100 * 365 * 86400)))
        }
        let (name, text) = try await service.logs(id: r.EksCiId, account: account, request)
        return DescribeEksContainerInstanceLogResponse(ContainerName: name, LogContent: text)
    }

    func delete(_ r: DeleteEKSContainerInstancesRequest, account: String) async throws -> EmptyResponse {
        try await service.delete(ids: r.EksCiIds ?? [], account: account, releaseAutoCreatedEIP: r.ReleaseAutoCreatedEip ?? true)
        return EmptyResponse()
    }

    /// The instance stopped and started again with the new spec (what the request leaves out is
    /// kept); its id, its address and its disk kept.
    func update(_ r: UpdateEKSContainerInstanceRequest, account: String) async throws -> UpdateEKSContainerInstanceResponse {
        if let volume = r.EksCiVolume, volume != .null {
            throw APIError(
                "UnsupportedOperation", "EksCiVolume cannot be changed by an update: an instance keeps the volumes it was made with",
                field: "EksCiVolume")
        }
        var change = InstanceUpdate()
        if let list = r.Containers {
            guard !list.isEmpty else {
                throw APIError.invalidParameterValue("Containers must list at least one container", field: "Containers")
            }
            change.containers = try list.enumerated().map { i, c in try Self.container(c, path: FieldPath("Containers").index(i)) }
        }
        if let list = r.InitContainers {
            change.initContainers = try list.enumerated().map { i, c in try Self.container(c, path: FieldPath("InitContainers").index(i)) }
        }
        change.restartPolicy = try r.RestartPolicy.map { v throws(APIError) in try APIError.oneOf(v, field: "RestartPolicy") }
        change.name = r.Name
        change.credentials = r.ImageRegistryCredentials.map { $0.map(Views.credential) }
        try await service.update(id: r.EksCiId, account: account, change)
        return UpdateEKSContainerInstanceResponse(EksCiId: r.EksCiId)
    }

    func restart(_ r: RestartEKSContainerInstancesRequest, account: String) async throws -> EmptyResponse {
        try await service.restart(ids: r.EksCiIds ?? [], account: account)
        return EmptyResponse()
    }
}

/// What CPUs the nodes have, as the real service's `CpuType` names them (`intel`, `amd`): this
/// host's, read from /proc/cpuinfo (the nodes of one deployment are alike).
public enum HostCPU {
    public static let type: String = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let vendor =
            info.split(separator: "\n").first { $0.hasPrefix("vendor_id") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? ""
        switch vendor {
        case "GenuineIntel": return "intel"
        case "AuthenticAMD": return "amd"
        default: return vendor.isEmpty ? "unknown" : vendor.lowercased()
        }
    }()
}

/// The VPC API's EIP actions, on the instance service's EIPs.
extension InstanceActions {
    func addresses(_ r: DescribeAddressesRequest, account: String) async throws -> DescribeAddressesResponse {
        var all = try await service.eips.list(account: account)
        if let ids = r.AddressIds { all = all.filter { ids.contains($0.id) } }
        for filter in r.Filters ?? [] {
            let values = Set(filter.Values ?? [])
            switch filter.Name {
            case "address-id": all = all.filter { values.contains($0.id) }
            case "address-ip": all = all.filter { values.contains($0.address) }
            case "address-status": all = all.filter { values.contains($0.instance == nil ? "UNBIND" : "BIND") }
            case "instance-id": all = all.filter { $0.instance.map(values.contains) == true }
            default:
                throw APIError.invalidParameterValue(
                    "Filters.Name \(filter.Name.prefix(40)) is not one of address-id, address-ip, address-status, instance-id",
                    field: "Filters")
            }
        }
        let limit = r.Limit ?? 20
        let offset = r.Offset ?? 0
        guard (0...100).contains(limit) else {
            throw APIError.invalidParameterValue("Limit must be from 0 to 100, not \(limit)", field: "Limit")
        }
        guard offset >= 0 else { throw APIError.invalidParameterValue("Offset must not be negative, not \(offset)", field: "Offset") }
        var set: [Address] = []
        for eip in all.dropFirst(offset).prefix(limit) {
            var bound: Instance?
            if let id = eip.instance { bound = try? await service.get(id: id, account: account) }
            set.append(
                Address(
                    AddressId: eip.id, AddressStatus: eip.instance == nil ? "UNBIND" : "BIND", AddressIp: eip.address,
                    InstanceId: eip.instance, PrivateAddressIp: bound?.privateIP, CreatedTime: eip.created.rfc3339,
                    CascadeRelease: eip.autoCreated && eip.keep != true && bound?.eip?.releaseOnDelete == true,
                    Bandwidth: eip.bandwidthMbps))
        }
        return DescribeAddressesResponse(TotalCount: all.count, AddressSet: set)
    }

    func release(_ r: ReleaseAddressesRequest, account: String) async throws -> ReleaseAddressesResponse {
        guard !r.AddressIds.isEmpty else { throw APIError.missingParameter("AddressIds must name at least one EIP") }
        try await service.eips.release(ids: r.AddressIds, account: account)
        return ReleaseAddressesResponse()
    }
}
