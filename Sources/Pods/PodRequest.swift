import IMCCache
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel

/// A Pod as imc takes it, whichever door it came through (the Kubernetes API, `imc run -f`):
/// the walls every Pod meets, then the service's own request, in one function. A problem names
/// the Pod's field (`spec.containers[0].securityContext.privileged`).
public struct PodRequest: Sendable {
    /// The instance request: containers, limits, restart policy, runtime, network, cache.
    public var request: InstanceRequest
    /// The names of `spec.imagePullSecrets`, as `namespace/name` of the Pod's namespace.
    public var imagePullSecrets: [String]

    /// The annotations a virtual node's Pods carry for their network.
    public static let vpcAnnotation = "eks.tke.cloud.tencent.com/vpc-id"
    public static let subnetAnnotation = "eks.tke.cloud.tencent.com/subnet-id"
    public static let securityGroupAnnotation = "eks.tke.cloud.tencent.com/security-group-id"

    /// `pod`, of `namespace`, as a request; `metadata.name` must be set (a door fills it from
    /// `generateName` first).
    public init(_ pod: Pod, namespace: String) throws(DecodingProblem) {
        guard let name = pod.metadata.name, !name.isEmpty else { throw DecodingProblem(.missing, at: "metadata.name") }
        if let version = pod.metadata.resourceVersion, !version.isEmpty {
            throw DecodingProblem(.invalid("must not be set on a Pod to be created"), at: "metadata.resourceVersion")
        }
        var r = InstanceRequest()
        r.name = name
        try Self.readAnnotations(pod.metadata.annotations ?? [:], into: &r)
        let spec = pod.spec
        try Self.checkWalls(spec)
        r.restartPolicy = spec.restartPolicy.map { RestartPolicy(rawValue: $0.rawValue)! }
        if let grace = spec.terminationGracePeriodSeconds {
            guard grace >= 0 else {
                throw DecodingProblem(.invalid("must be a number of seconds, not \(grace)"), at: "spec.terminationGracePeriodSeconds")
            }
            r.terminationGracePeriodSeconds = grace
        }
        if let runtime = spec.runtimeClassName {
            guard let runtime = RuntimeClass(rawValue: runtime) else {
                throw DecodingProblem(
                    .invalid("must be \(RuntimeClass.allCases.map(\.rawValue).joined(separator: " or ")), not \(runtime.prefix(60))"),
                    at: "spec.runtimeClassName")
            }
            r.runtimeClass = runtime
        }
        if spec.dnsPolicy == .None {
            throw DecodingProblem(
                .invalid("None is refused: a Pod's dnsConfig is not read yet; use ClusterFirst or Default (the instance's resolvers)"),
                at: "spec.dnsPolicy")
        }
        guard !spec.containers.isEmpty else { throw DecodingProblem(.invalid("must list at least one container"), at: "spec.containers") }
        let pod = spec.securityContext
        r.containers = try spec.containers.enumerated().map { i, c throws(DecodingProblem) in
            try Self.container(c, pod: pod, at: FieldPath("spec.containers").index(i))
        }
        r.initContainers = try (spec.initContainers ?? []).enumerated().map { i, c throws(DecodingProblem) in
            try Self.container(c, pod: pod, at: FieldPath("spec.initContainers").index(i))
        }
        r.volumes = try Self.volumes(spec.volumes ?? [], containers: r.initContainers + r.containers)
        for (list, containers) in [("spec.initContainers", r.initContainers), ("spec.containers", r.containers)] {
            for (i, c) in containers.enumerated() {
                for (j, m) in (c.volumeMounts ?? []).enumerated() where !r.volumes.contains(where: { $0.name == m.name }) {
                    throw DecodingProblem(
                        .invalid("\"\(m.name.prefix(60))\" is not a volume of the Pod"),
                        at: FieldPath(stringLiteral: list).index(i).key("volumeMounts").index(j).key("name"))
                }
            }
        }
        let cpu = r.containers.compactMap(\.cpu).reduce(0, +)
        let memory = r.containers.compactMap(\.memory).reduce(0, +)
        if cpu > 0 { r.cpu = cpu }
        if memory > 0 { r.memory = memory }
        request = r
        imagePullSecrets = (spec.imagePullSecrets ?? []).map { "\(namespace)/\($0.name)" }
    }

    /// The cache annotations (what is absent is left to the account's defaults) and the network's.
    static func readAnnotations(_ annotations: [String: String], into r: inout InstanceRequest) throws(DecodingProblem) {
        let at = FieldPath("metadata.annotations")
        for annotation in CacheAnnotation.allCases {
            guard let value = annotations[annotation.rawValue] else {
                r.unsaid.insert(annotation)
                continue
            }
            do { try annotation.apply(value, to: &r.cache) } catch {
                throw DecodingProblem(.invalid(error.reason), at: at.key(annotation.rawValue))
            }
        }
        r.vpcID = annotations[vpcAnnotation]
        r.subnetID = annotations[subnetAnnotation]
        r.securityGroupIDs = (annotations[securityGroupAnnotation] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
    }

    /// What asks for the host, or for what imc does not build yet, is refused by name.
    static func checkWalls(_ spec: PodSpec) throws(DecodingProblem) {
        for (field, value) in [("hostNetwork", spec.hostNetwork), ("hostPID", spec.hostPID), ("hostIPC", spec.hostIPC)] where value == true
        {
            throw DecodingProblem(.invalid("true is refused: a Pod never shares the node's namespaces"), at: FieldPath("spec").key(field))
        }
        if let node = spec.nodeName {
            throw DecodingProblem(
                .invalid("\(node.prefix(60)) is refused: imc places every Pod on a node itself"), at: FieldPath("spec").key("nodeName"))
        }
        if let scheduler = spec.schedulerName, scheduler != "imc", scheduler != "default-scheduler" {
            throw DecodingProblem(
                .invalid("\(scheduler.prefix(60)) is refused: Pods here are placed by imc (default-scheduler)"),
                at: FieldPath("spec").key("schedulerName"))
        }
    }

    static func container(_ c: Container, pod: PodSecurityContext?, at: FieldPath) throws(DecodingProblem) -> ContainerSpec {
        guard !c.name.isEmpty else { throw DecodingProblem(.missing, at: at.key("name")) }
        guard !c.image.isEmpty else { throw DecodingProblem(.missing, at: at.key("image")) }
        var out = ContainerSpec(name: c.name, image: c.image, commands: c.command, args: c.args, workingDir: c.workingDir)
        out.env = try (c.env ?? []).enumerated().map { j, e throws(DecodingProblem) in
            let path = at.key("env").index(j)
            guard !e.name.isEmpty else { throw DecodingProblem(.missing, at: path.key("name")) }
            guard let from = e.valueFrom else { return EnvVar(name: e.name, value: e.value?.text ?? "") }
            if e.value != nil && e.value?.text != "" {
                throw DecodingProblem(.invalid("may not be specified when `value` is not empty"), at: path.key("valueFrom"))
            }
            return EnvVar(name: e.name, value: "", source: try Self.envSource(from, at: path.key("valueFrom")))
        }
        for (j, from) in (c.envFrom ?? []).enumerated() {
            let path = at.key("envFrom").index(j)
            let refs: [(ConfigObjectKind, ObjectReferenceByName?, String)] = [
                (.configMap, from.configMapRef, "configMapRef"), (.secret, from.secretRef, "secretRef"),
            ]
            let given = refs.filter { $0.1 != nil }
            guard given.count == 1, let (kind, ref, key) = given.first, let ref else {
                throw DecodingProblem(.invalid("must name exactly one of configMapRef or secretRef"), at: path)
            }
            guard let name = ref.name, !name.isEmpty else { throw DecodingProblem(.missing, at: path.key(key).key("name")) }
            if let prefix = from.prefix, !prefix.isEmpty, !Environment.isVariableName(prefix) {
                throw DecodingProblem(.invalid("\"\(prefix.prefix(40))\" is not a valid environment variable name"), at: path.key("prefix"))
            }
            out.envFrom =
                (out.envFrom ?? []) + [EnvFromSource(kind: kind, name: name, prefix: from.prefix, optional: ref.optional ?? false)]
        }
        for (j, port) in (c.ports ?? []).enumerated() {
            let p = at.key("ports").index(j)
            guard (1...65535).contains(port.containerPort) else {
                throw DecodingProblem(.invalid("must be a port from 1 to 65535, not \(port.containerPort)"), at: p.key("containerPort"))
            }
            if port.hostPort != nil || port.hostIP != nil {
                throw DecodingProblem(
                    .invalid("is refused: a Pod is reached at its own address, never the node's"),
                    at: p.key(port.hostPort != nil ? "hostPort" : "hostIP"))
            }
        }
        if let resources = c.resources {
            // What a container asks for is what it is held to (imc's limits are its requests).
            let (key, amounts) = resources.requests.map { ("requests", $0) } ?? ("limits", resources.limits ?? [:])
            for (resource, amount) in amounts.sorted(by: { $0.key < $1.key }) {
                let path = at.key("resources").key(key).key(resource)
                switch resource {
                case "cpu":
                    guard let n = Self.cpu(amount.text) else {
                        throw DecodingProblem(.invalid("\"\(amount.text.prefix(40))\" is not a quantity (1, 0.5, 500m)"), at: path)
                    }
                    out.cpu = n
                case "memory":
                    guard let n = Self.gibibytes(amount.text) else {
                        throw DecodingProblem(.invalid("\"\(amount.text.prefix(40))\" is not a quantity (1Gi, 512Mi)"), at: path)
                    }
                    out.memory = n
                default:
                    throw DecodingProblem(.invalid("is refused: imc holds a container to cpu and memory only"), at: path)
                }
            }
        }
        out.volumeMounts = try Self.mounts(c.volumeMounts, at: at)
        let probes = ContainerProbes(
            liveness: try c.livenessProbe.map { p throws(DecodingProblem) in try Self.probe(p, container: c, at: at.key("livenessProbe")) },
            readiness: try c.readinessProbe.map { p throws(DecodingProblem) in try Self.probe(p, container: c, at: at.key("readinessProbe"))
            },
            startup: try c.startupProbe.map { p throws(DecodingProblem) in try Self.probe(p, container: c, at: at.key("startupProbe")) })
        if let success = probes.liveness?.successThreshold, success != 1 {
            throw DecodingProblem(.invalid("must be 1"), at: at.key("livenessProbe").key("successThreshold"))
        }
        if let success = probes.startup?.successThreshold, success != 1 {
            throw DecodingProblem(.invalid("must be 1"), at: at.key("startupProbe").key("successThreshold"))
        }
        out.probes = probes.isEmpty ? nil : probes
        out.security = try Self.security(c.securityContext, pod: pod, at: at.key("securityContext"))
        return out
    }

    /// The Pod's volumes: emptyDir, configMap, secret, downwardAPI and projected; what would reach
    /// the node (`hostPath`), or what imc has not (`persistentVolumeClaim`, `nfs` without a
    /// userspace client), refused by name.
    static func volumes(_ volumes: [Volume], containers: [ContainerSpec]) throws(DecodingProblem) -> [VolumeSpec] {
        var out: [VolumeSpec] = []
        for (i, volume) in volumes.enumerated() {
            let at = FieldPath("spec.volumes").index(i)
            if volume.name.isEmpty || volume.name.count > 63
                || !volume.name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 })
            {
                throw DecodingProblem(.invalid("\"\(volume.name.prefix(60))\" must be a lowercase RFC 1123 label"), at: at.key("name"))
            }
            if out.contains(where: { $0.name == volume.name }) {
                throw DecodingProblem(.invalid("\"\(volume.name)\" is a duplicate volume name"), at: at.key("name"))
            }
            let sources = volume.sources
            guard sources.count == 1, let source = sources.first else {
                throw DecodingProblem(.invalid(sources.isEmpty ? "names no volume source" : "may name only one volume source"), at: at)
            }
            func mode(_ m: Int?, _ path: FieldPath) throws(DecodingProblem) -> Int? {
                guard let m else { return nil }
                guard (0...0o777).contains(m) else {
                    throw DecodingProblem(.invalid("must be a file mode from 0 to 0777, not \(m)"), at: path)
                }
                return m
            }
            func items(_ list: [KeyToPath]?, _ path: FieldPath) throws(DecodingProblem) -> [KeyPath]? {
                guard let list else { return nil }
                var out: [KeyPath] = []
                for (j, item) in list.enumerated() {
                    if let problem = VolumeFiles.pathProblem(item.path) {
                        throw DecodingProblem(.invalid(problem), at: path.index(j).key("path"))
                    }
                    guard !item.key.isEmpty else { throw DecodingProblem(.missing, at: path.index(j).key("key")) }
                    out.append(KeyPath(key: item.key, path: item.path, mode: try mode(item.mode, path.index(j).key("mode"))))
                }
                return out
            }
            func downward(_ list: [DownwardAPIVolumeFile]?, _ path: FieldPath) throws(DecodingProblem) -> [DownwardFile] {
                var out: [DownwardFile] = []
                for (j, item) in (list ?? []).enumerated() {
                    let p = path.index(j)
                    if let problem = VolumeFiles.pathProblem(item.path) { throw DecodingProblem(.invalid(problem), at: p.key("path")) }
                    let from = try Self.envSource(EnvVarSource(fieldRef: item.fieldRef, resourceFieldRef: item.resourceFieldRef), at: p)
                    if case .field(let f) = from, ["status.podIP", "status.podIPs", "spec.nodeName", "spec.serviceAccountName"].contains(f)
                    {
                        throw DecodingProblem(
                            .invalid("\"\(f)\" is given to environment variables only, as Kubernetes does"),
                            at: p.key("fieldRef").key("fieldPath"))
                    }
                    if case .resource(let c, _, _) = from {
                        guard let c, containers.contains(where: { $0.name == c }) else {
                            throw DecodingProblem(
                                .invalid("must name one of the Pod's containers"), at: p.key("resourceFieldRef").key("containerName"))
                        }
                    }
                    out.append(DownwardFile(path: item.path, source: from, mode: try mode(item.mode, p.key("mode"))))
                }
                return out
            }
            let made: VolumeSource
            switch source {
            case "emptyDir":
                let e = volume.emptyDir!
                let memory: Bool
                switch e.medium ?? "" {
                case "": memory = false
                case "Memory": memory = true
                default:
                    throw DecodingProblem(
                        .invalid("\"\(e.medium!.prefix(30))\" is not a medium: use \"\" or Memory"), at: at.key("emptyDir").key("medium"))
                }
                var limit: Int64?
                if let text = e.sizeLimit?.text {
                    guard let gib = Self.gibibytes(text) else {
                        throw DecodingProblem(
                            .invalid("\"\(text.prefix(40))\" is not a quantity (1Gi, 500Mi)"), at: at.key("emptyDir").key("sizeLimit"))
                    }
                    limit = Int64(gib * 1_073_741_824)
                }
                made = .emptyDir(memory: memory, sizeLimitBytes: limit)
            case "configMap", "secret":
                let isMap = source == "configMap"
                let name = isMap ? volume.configMap?.name : volume.secret?.secretName
                guard let name, !name.isEmpty else {
                    throw DecodingProblem(.missing, at: at.key(source).key(isMap ? "name" : "secretName"))
                }
                let defaultMode = try mode(
                    isMap ? volume.configMap?.defaultMode : volume.secret?.defaultMode, at.key(source).key("defaultMode"))
                let listed = try items(isMap ? volume.configMap?.items : volume.secret?.items, at.key(source).key("items"))
                let optional = (isMap ? volume.configMap?.optional : volume.secret?.optional) ?? false
                made = .files(
                    FileVolume(
                        kind: source, defaultMode: defaultMode ?? 0o644,
                        sources: [.object(isMap ? .configMap : .secret, name: name, items: listed, optional: optional)]))
            case "downwardAPI":
                let d = volume.downwardAPI!
                made = .files(
                    FileVolume(
                        kind: source, defaultMode: try mode(d.defaultMode, at.key(source).key("defaultMode")) ?? 0o644,
                        sources: [.downward(try downward(d.items, at.key(source).key("items")))]))
            case "projected":
                let p = volume.projected!
                var projections: [FileProjection] = []
                for (j, projection) in (p.sources ?? []).enumerated() {
                    let pj = at.key(source).key("sources").index(j)
                    if projection.serviceAccountToken != nil {
                        throw DecodingProblem(
                            .invalid("is refused: imc issues no service account tokens"), at: pj.key("serviceAccountToken"))
                    }
                    if projection.clusterTrustBundle != nil {
                        throw DecodingProblem(.invalid("is refused: imc has no cluster trust bundles"), at: pj.key("clusterTrustBundle"))
                    }
                    let given = [projection.configMap != nil, projection.secret != nil, projection.downwardAPI != nil].filter { $0 }.count
                    guard given == 1 else {
                        throw DecodingProblem(.invalid("must name exactly one of configMap, secret or downwardAPI"), at: pj)
                    }
                    if let d = projection.downwardAPI {
                        projections.append(.downward(try downward(d.items, pj.key("downwardAPI").key("items"))))
                    } else {
                        let isMap = projection.configMap != nil
                        let named = (projection.configMap ?? projection.secret)!
                        let key = isMap ? "configMap" : "secret"
                        guard let name = named.name, !name.isEmpty else { throw DecodingProblem(.missing, at: pj.key(key).key("name")) }
                        projections.append(
                            .object(
                                isMap ? .configMap : .secret, name: name, items: try items(named.items, pj.key(key).key("items")),
                                optional: named.optional ?? false))
                    }
                }
                made = .files(
                    FileVolume(
                        kind: source, defaultMode: try mode(p.defaultMode, at.key(source).key("defaultMode")) ?? 0o644, sources: projections
                    ))
            case "hostPath":
                throw DecodingProblem(.invalid("is refused: a Pod never sees the node's files"), at: at.key(source))
            case "nfs":
                throw DecodingProblem(
                    .invalid("is refused: this node's kernel has no NFS client and imc's userspace client is not built yet"),
                    at: at.key(source))
            default:
                throw DecodingProblem(
                    .invalid("is refused: imc has no persistent volumes; use emptyDir, configMap, secret, downwardAPI or projected"),
                    at: at.key(source))
            }
            out.append(VolumeSpec(name: volume.name, source: made))
        }
        return out
    }

    /// A container's `volumeMounts`: an absolute, clean `mountPath` (not `/`, not twice), a
    /// relative `subPath` with no `..`.
    static func mounts(_ list: [VolumeMount]?, at: FieldPath) throws(DecodingProblem) -> [VolumeMountSpec]? {
        guard let list, !list.isEmpty else { return nil }
        var out: [VolumeMountSpec] = []
        for (j, m) in list.enumerated() {
            let p = at.key("volumeMounts").index(j)
            let parts = m.mountPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard m.mountPath.hasPrefix("/"), m.mountPath != "/", !parts.contains(where: { $0 == ".." || $0 == "." }),
                !m.mountPath.contains("//"), !m.mountPath.hasSuffix("/"), m.mountPath.utf8.count <= 1024
            else {
                throw DecodingProblem(
                    .invalid("\"\(m.mountPath.prefix(80))\" must be an absolute, clean path other than /"), at: p.key("mountPath"))
            }
            for reserved in ["/proc", "/sys", "/dev"] where m.mountPath == reserved || m.mountPath.hasPrefix(reserved + "/") {
                throw DecodingProblem(
                    .invalid("\"\(m.mountPath.prefix(80))\" is refused: \(reserved) is the runtime's"), at: p.key("mountPath"))
            }
            if out.contains(where: { $0.mountPath == m.mountPath }) {
                throw DecodingProblem(.invalid("\"\(m.mountPath.prefix(80))\" must be unique"), at: p.key("mountPath"))
            }
            if let sub = m.subPath, !sub.isEmpty, let problem = VolumeFiles.pathProblem(sub) {
                throw DecodingProblem(.invalid(problem), at: p.key("subPath"))
            }
            if m.subPathExpr != nil { throw DecodingProblem(.invalid("is refused: use subPath"), at: p.key("subPathExpr")) }
            if let propagation = m.mountPropagation, propagation != "None" {
                throw DecodingProblem(
                    .invalid("\"\(propagation.prefix(30))\" is refused: a Pod's mounts never propagate to or from the node"),
                    at: p.key("mountPropagation"))
            }
            out.append(
                VolumeMountSpec(
                    name: m.name, mountPath: m.mountPath, readOnly: m.readOnly ?? false,
                    subPath: m.subPath?.isEmpty == true ? nil : m.subPath))
        }
        return out
    }

    /// A probe: exactly one of exec, httpGet or tcpSocket, with Kubernetes' defaults and bounds.
    static func probe(_ p: ProbeSpec, container: Container, at: FieldPath) throws(DecodingProblem) -> Probe {
        if p.grpc != nil {
            throw DecodingProblem(.invalid("is refused: gRPC probes are not built; use exec, httpGet or tcpSocket"), at: at.key("grpc"))
        }
        if p.terminationGracePeriodSeconds != nil {
            throw DecodingProblem(
                .invalid("is refused: the Pod's terminationGracePeriodSeconds is used"), at: at.key("terminationGracePeriodSeconds"))
        }
        func port(_ value: Scalar, _ path: FieldPath) throws(DecodingProblem) -> Int {
            if let n = Int(value.text) {
                guard (1...65535).contains(n) else { throw DecodingProblem(.invalid("must be a port from 1 to 65535, not \(n)"), at: path) }
                return n
            }
            guard let named = container.ports?.first(where: { $0.name == value.text }) else {
                throw DecodingProblem(
                    .invalid("\"\(value.text.prefix(40))\" is not a number or the name of one of the container's ports"), at: path)
            }
            return named.containerPort
        }
        var handlers: [Probe.Handler] = []
        if let e = p.exec {
            guard let command = e.command, !command.isEmpty else { throw DecodingProblem(.missing, at: at.key("exec").key("command")) }
            handlers.append(.exec(command))
        }
        if let h = p.httpGet {
            if h.host != nil {
                throw DecodingProblem(.invalid("is refused: a probe is sent to the Pod's own address"), at: at.key("httpGet").key("host"))
            }
            if let scheme = h.scheme, scheme != "HTTP" {
                throw DecodingProblem(
                    .invalid("\"\(scheme.prefix(20))\" is refused: only HTTP probes are built"), at: at.key("httpGet").key("scheme"))
            }
            let path = h.path ?? "/"
            guard path.hasPrefix("/"), !path.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " }) else {
                throw DecodingProblem(.invalid("must be an absolute request path"), at: at.key("httpGet").key("path"))
            }
            var headers: [String: String] = [:]
            for (j, header) in (h.httpHeaders ?? []).enumerated() {
                guard !header.name.isEmpty, header.name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 58 }),
                    !header.value.contains(where: { $0 == "\r" || $0 == "\n" })
                else { throw DecodingProblem(.invalid("is not a header"), at: at.key("httpGet").key("httpHeaders").index(j)) }
                headers[header.name] = header.value
            }
            handlers.append(.httpGet(path: path, port: try port(h.port, at.key("httpGet").key("port")), scheme: "HTTP", headers: headers))
        }
        if let t = p.tcpSocket {
            if t.host != nil {
                throw DecodingProblem(
                    .invalid("is refused: a probe connects to the Pod's own address"), at: at.key("tcpSocket").key("host"))
            }
            handlers.append(.tcpSocket(port: try port(t.port, at.key("tcpSocket").key("port"))))
        }
        guard handlers.count == 1 else {
            throw DecodingProblem(.invalid("must have exactly one of exec, httpGet or tcpSocket"), at: at)
        }
        var probe = Probe(handler: handlers[0])
        for (key, value, least, set) in [
            ("initialDelaySeconds", p.initialDelaySeconds, 0, \Probe.initialDelaySeconds),
            ("periodSeconds", p.periodSeconds, 1, \Probe.periodSeconds),
            ("timeoutSeconds", p.timeoutSeconds, 1, \Probe.timeoutSeconds),
            ("successThreshold", p.successThreshold, 1, \Probe.successThreshold),
            ("failureThreshold", p.failureThreshold, 1, \Probe.failureThreshold),
        ] {
            guard let value else { continue }
            guard value >= least, value <= 86400 else {
                throw DecodingProblem(.invalid("must be from \(least) to 86400, not \(value)"), at: at.key(key))
            }
            probe[keyPath: set] = value
        }
        return probe
    }

    /// A variable's `valueFrom`: exactly one source, each checked as the API server checks it.
    static func envSource(_ v: EnvVarSource, at: FieldPath) throws(DecodingProblem) -> EnvSource {
        var found: [EnvSource] = []
        if let f = v.fieldRef {
            if let version = f.apiVersion, version != "v1" {
                throw DecodingProblem(.invalid("\"\(version.prefix(20))\" is not v1"), at: at.key("fieldRef").key("apiVersion"))
            }
            guard Environment.isFieldPath(f.fieldPath) else {
                throw DecodingProblem(
                    .invalid(
                        "\"\(f.fieldPath.prefix(60))\" is not a supported value: \(Environment.fieldPaths.joined(separator: ", ")), metadata.labels['KEY'], metadata.annotations['KEY']"
                    ), at: at.key("fieldRef").key("fieldPath"))
            }
            found.append(.field(f.fieldPath))
        }
        if let r = v.resourceFieldRef {
            guard Environment.resources.contains(r.resource) else {
                throw DecodingProblem(
                    .invalid("\"\(r.resource.prefix(40))\" is not one of \(Environment.resources.joined(separator: ", "))"),
                    at: at.key("resourceFieldRef").key("resource"))
            }
            if let d = r.divisor?.text, !Environment.isDivisor(r.resource, d) {
                throw DecodingProblem(
                    .invalid("\"\(d.prefix(20))\" is not a divisor imc takes for \(r.resource)"),
                    at: at.key("resourceFieldRef").key("divisor"))
            }
            found.append(.resource(container: r.containerName, resource: r.resource, divisor: r.divisor?.text))
        }
        for (kind, ref, key) in [
            (ConfigObjectKind.configMap, v.configMapKeyRef, "configMapKeyRef"), (.secret, v.secretKeyRef, "secretKeyRef"),
        ] {
            guard let ref else { continue }
            guard let name = ref.name, !name.isEmpty else { throw DecodingProblem(.missing, at: at.key(key).key("name")) }
            guard !ref.key.isEmpty else { throw DecodingProblem(.missing, at: at.key(key).key("key")) }
            found.append(.key(kind, name: name, key: ref.key, optional: ref.optional ?? false))
        }
        guard found.count == 1 else {
            throw DecodingProblem(
                .invalid("must have exactly one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef"), at: at)
        }
        return found[0]
    }

    /// A container's `securityContext` over the Pod's (`runAsUser`, `runAsGroup`, `runAsNonRoot`);
    /// what asks for the host is refused.
    static func security(_ c: SecurityContext?, pod: PodSecurityContext?, at: FieldPath) throws(DecodingProblem) -> ContainerSecurity? {
        if c?.privileged == true {
            throw DecodingProblem(.invalid("true is refused: a container never gets the host's privileges"), at: at.key("privileged"))
        }
        if c?.allowPrivilegeEscalation == true {
            throw DecodingProblem(.invalid("true is refused: containers run with no_new_privs"), at: at.key("allowPrivilegeEscalation"))
        }
        for name in c?.capabilities?.add ?? [] where !Capability.dockerDefaults.contains(Capability.normalise(name)) {
            throw DecodingProblem(
                .invalid("\(name.prefix(40)) is refused: a container may have only Docker's default capabilities"),
                at: at.key("capabilities").key("add"))
        }
        let drop = (c?.capabilities?.drop ?? []).map(Capability.normalise)
        for name in drop where !Capability.isKnown(name) {
            throw DecodingProblem(.invalid("\(name.prefix(40)) is not a capability"), at: at.key("capabilities").key("drop"))
        }
        func id(_ key: String, _ value: Int64?) throws(DecodingProblem) -> UInt32? {
            guard let value else { return nil }
            guard (0...65535).contains(value) else {
                throw DecodingProblem(.invalid("must be an id from 0 to 65535, not \(value)"), at: at.key(key))
            }
            return UInt32(value)
        }
        let out = ContainerSecurity(
            runAsUser: try id("runAsUser", c?.runAsUser ?? pod?.runAsUser),
            runAsGroup: try id("runAsGroup", c?.runAsGroup ?? pod?.runAsGroup),
            runAsNonRoot: c?.runAsNonRoot ?? pod?.runAsNonRoot, readOnlyRootFilesystem: c?.readOnlyRootFilesystem,
            drop: drop.map { $0 == "ALL" ? $0 : "CAP_" + $0 })
        return out == ContainerSecurity() ? nil : out
    }

    /// Kubernetes CPU quantities: `1`, `0.5`, `500m`.
    static func cpu(_ s: String) -> Double? {
        if s.hasSuffix("m"), let n = Double(s.dropLast()), n > 0 { return n / 1000 }
        if let n = Double(s), n > 0 { return n }
        return nil
    }

    /// Kubernetes memory quantities in GiB: `1Gi`, `512Mi`, `1G`, bytes.
    static func gibibytes(_ s: String) -> Double? {
        let units: [(String, Double)] = [
            ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776), ("k", 1e3), ("M", 1e6), ("G", 1e9),
            ("T", 1e12),
        ]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            guard let n = Double(s.dropLast(suffix.count)), n > 0 else { return nil }
            return n * factor / 1_073_741_824
        }
        guard let n = Double(s), n > 0 else { return nil }
        return n / 1_073_741_824
    }
}
