import IMCCache
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel

/// The parts of a Pod that make it a workload: its volumes and mounts, its probes, and where its
/// variables' values come from, each read strictly (a refusal names its path).
extension PodRequest {
    /// The Pod's volumes: emptyDir, configMap, secret, downwardAPI, projected and nfs; what would
    /// reach the node (`hostPath`), or what imc has not (`persistentVolumeClaim`), refused by name.
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
                let n = volume.nfs!
                if let problem = VolumeSource.nfsProblem(server: n.server, path: n.path) {
                    throw DecodingProblem(.invalid(problem.message), at: at.key(source).key(problem.field))
                }
                made = .nfs(server: n.server, path: n.path, readOnly: n.readOnly ?? false)
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
            if let problem = VolumeMountSpec.mountPathProblem(m.mountPath, taken: out) {
                throw DecodingProblem(.invalid(problem), at: p.key("mountPath"))
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
        if let (index, problem) = probe.setTiming([
            p.initialDelaySeconds, p.periodSeconds, p.timeoutSeconds, p.successThreshold, p.failureThreshold,
        ]) {
            throw DecodingProblem(.invalid(problem), at: at.key(Probe.timingFields[index].name))
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
}
