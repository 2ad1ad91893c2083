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
    /// An EIP made for the Pod, with these attributes (`{"InternetMaxBandwidthOut":2}`).
    public static let eipAnnotation = "eks.tke.cloud.tencent.com/eip-attributes"

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
        if let text = annotations[eipAnnotation] {
            let path = at.key(eipAnnotation)
            guard let attributes = try? JSONValue.parseJSON(Array(text.utf8)) else {
                throw DecodingProblem(.invalid("must be a JSON object like {\"InternetMaxBandwidthOut\":2}"), at: path)
            }
            switch EIPRequest.bandwidth(attributes: attributes) {
            case .success(let bandwidth): r.eip = .autoCreate(bandwidthMbps: bandwidth)
            case .failure(let p): throw DecodingProblem(.invalid("\(p.key.map { "\($0) " } ?? "")\(p.message)"), at: path)
            }
        }
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
