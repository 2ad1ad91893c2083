import Foundation
import IMCCache
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel

/// A container instance as the Pod of `v1` it was made from (or, for one made through the Cloud
/// API, as a Pod in `default`): its containers as specs, its life as status and conditions.
enum Pods {
    static let resource = Resource.pods

    static func namespace(_ instance: Instance) -> String { instance.kubernetes?.namespace ?? "default" }

    static func object(_ i: Instance) -> Pod {
        let meta = i.kubernetes ?? KubernetesMetadata(uid: ImageCaches.uid(i.id), namespace: "default")
        var annotations = meta.annotations
        annotations["eks.tke.cloud.tencent.com/eksci-id"] = i.id
        var metadata = ObjectMeta(
            name: i.name, namespace: namespace(i), labels: meta.labels.isEmpty ? nil : meta.labels, annotations: annotations)
        metadata.uid = meta.uid
        metadata.resourceVersion = "\(i.revision ?? 0)"
        metadata.creationTimestamp = timestamp(i.creationTime)
        if i.status == .terminating {
            metadata.deletionTimestamp = timestamp(i.finishTime ?? i.creationTime)
            metadata.deletionGracePeriodSeconds = i.terminationGracePeriodSeconds
        }
        var spec = PodSpec(containers: i.containers.map(container))
        if !i.initContainers.isEmpty { spec.initContainers = i.initContainers.map(container) }
        spec.restartPolicy = PodSpec.RestartPolicy(rawValue: i.restartPolicy.rawValue)
        spec.terminationGracePeriodSeconds = i.terminationGracePeriodSeconds
        spec.nodeName = nodeName(i)
        spec.runtimeClassName = i.runtimeClass.rawValue
        if !i.volumes.isEmpty { spec.volumes = i.volumes.map(volume) }
        spec.schedulerName = "imc"
        return Pod(metadata: metadata, spec: spec, status: status(i))
    }

    /// The object as the door's JSON (for selectors, patches and watches).
    static func json(_ i: Instance) -> JSON { (try? JSONValueEncoder().encode(object(i))) ?? [:] }

    /// The node that runs it: `imc` for a service that runs its instances itself.
    static func nodeName(_ i: Instance) -> String { i.node ?? "imc" }

    static func container(_ c: ContainerSpec) -> Container {
        var out = Container(name: c.name, image: c.image)
        out.imagePullPolicy = .IfNotPresent
        out.command = c.commands
        out.args = c.args
        out.workingDir = c.workingDir
        if !c.env.isEmpty { out.env = c.env.map(envVar) }
        out.livenessProbe = c.probes?.liveness.map(probe)
        out.readinessProbe = c.probes?.readiness.map(probe)
        out.startupProbe = c.probes?.startup.map(probe)
        out.volumeMounts = c.volumeMounts?.map { m in
            var mount = VolumeMount(name: m.name, mountPath: m.mountPath)
            mount.readOnly = m.readOnly ? true : nil
            mount.subPath = m.subPath
            return mount
        }
        out.envFrom = c.envFrom?.map { from in
            let ref = ObjectReferenceByName(name: from.name, optional: from.optional ? true : nil)
            return from.kind == .configMap
                ? EnvFromSource(prefix: from.prefix, configMapRef: ref) : EnvFromSource(prefix: from.prefix, secretRef: ref)
        }
        var amounts: [String: Scalar] = [:]
        if let cpu = c.cpu { amounts["cpu"] = Scalar(quantity(cpu)) }
        if let memory = c.memory { amounts["memory"] = Scalar("\(Int(memory * 1024))Mi") }
        out.resources = amounts.isEmpty ? ResourceRequirements() : ResourceRequirements(requests: amounts, limits: amounts)
        return out
    }

    /// A probe as the Pod said it (with Kubernetes' defaults filled in, as the API server does).
    static func probe(_ p: Probe) -> ProbeSpec {
        var out = ProbeSpec()
        switch p.handler {
        case .exec(let command): out.exec = .init(command: command)
        case .httpGet(let path, let port, let scheme, let headers):
            var h = ProbeSpec.HTTPGetAction(path: path, port: Scalar("\(port)"))
            h.scheme = scheme
            h.httpHeaders = headers.isEmpty ? nil : headers.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }
            out.httpGet = h
        case .tcpSocket(let port): out.tcpSocket = .init(port: Scalar("\(port)"))
        }
        out.initialDelaySeconds = p.initialDelaySeconds == 0 ? nil : p.initialDelaySeconds
        out.periodSeconds = p.periodSeconds
        out.timeoutSeconds = p.timeoutSeconds
        out.successThreshold = p.successThreshold
        out.failureThreshold = p.failureThreshold
        return out
    }

    /// A volume as the Pod said it.
    static func volume(_ v: VolumeSpec) -> Volume {
        var out = Volume(name: v.name)
        func items(_ list: [KeyPath]?) -> [KeyToPath]? { list?.map { KeyToPath(key: $0.key, path: $0.path, mode: $0.mode) } }
        func downward(_ list: [DownwardFile]) -> [DownwardAPIVolumeFile] {
            list.map { f in
                var file = DownwardAPIVolumeFile(path: f.path)
                let from = envVar(IMCInstance.EnvVar(name: "", value: "", source: f.source)).valueFrom
                file.fieldRef = from?.fieldRef
                file.resourceFieldRef = from?.resourceFieldRef
                file.mode = f.mode
                return file
            }
        }
        switch v.source {
        case .emptyDir(let memory, let limit):
            out.emptyDir = EmptyDirVolumeSource(medium: memory ? "Memory" : nil, sizeLimit: limit.map { Scalar("\($0)") })
        case .nfs(let server, let path, let readOnly):
            out.nfs = NFSVolumeSource(server: server, path: path, readOnly: readOnly ? true : nil)
        case .files(let f):
            let mode = f.defaultMode == 0o644 ? nil : f.defaultMode
            switch (f.kind, f.sources.first) {
            case ("configMap", .object(_, let name, let list, let optional)?):
                var c = ConfigMapVolumeSource(name: name)
                c.items = items(list)
                c.defaultMode = mode
                c.optional = optional ? true : nil
                out.configMap = c
            case ("secret", .object(_, let name, let list, let optional)?):
                var c = SecretVolumeSource(secretName: name)
                c.items = items(list)
                c.defaultMode = mode
                c.optional = optional ? true : nil
                out.secret = c
            case ("downwardAPI", .downward(let list)?):
                var d = DownwardAPIVolumeSource()
                d.items = downward(list)
                d.defaultMode = mode
                out.downwardAPI = d
            default:
                var p = ProjectedVolumeSource()
                p.defaultMode = mode
                p.sources = f.sources.map { source in
                    var projection = ProjectedVolumeSource.Projection()
                    switch source {
                    case .object(let kind, let name, let list, let optional):
                        let named = ProjectedVolumeSource.Projection.Named(name: name, items: items(list), optional: optional ? true : nil)
                        if kind == .configMap { projection.configMap = named } else { projection.secret = named }
                    case .downward(let list): projection.downwardAPI = .init(items: downward(list))
                    }
                    return projection
                }
                out.projected = p
            }
        }
        return out
    }

    /// A variable as the Pod said it: a value, or where its value comes from.
    static func envVar(_ e: IMCInstance.EnvVar) -> IMCKubernetesModels.EnvVar {
        guard let source = e.source else { return EnvVar(name: e.name, value: Scalar(e.value)) }
        var from = EnvVarSource()
        switch source {
        case .field(let path): from.fieldRef = ObjectFieldSelector(fieldPath: path)
        case .resource(let container, let resource, let divisor):
            var r = ResourceFieldSelector(resource: resource)
            r.containerName = container
            r.divisor = divisor.map { Scalar($0) }
            from.resourceFieldRef = r
        case .key(let kind, let name, let key, let optional):
            let selector = KeySelector(name: name, key: key, optional: optional ? true : nil)
            if kind == .configMap { from.configMapKeyRef = selector } else { from.secretKeyRef = selector }
        }
        return EnvVar(name: e.name, value: nil, valueFrom: from)
    }

    static func quantity(_ cpu: Double) -> String { cpu == cpu.rounded() ? "\(Int(cpu))" : "\(Int(cpu * 1000))m" }

    static func phase(_ i: Instance) -> String {
        switch i.status {
        case .pending: "Pending"
        case .running, .terminating: "Running"
        case .succeeded: "Succeeded"
        case .failed: "Failed"
        }
    }

    static func containerStatus(_ c: ContainerSpec, _ i: Instance) -> ContainerStatus {
        let s = i.states[c.name] ?? ContainerState(reason: "ContainerCreating")
        let state: ContainerStateValue
        switch s.state {
        case .waiting:
            state = .waiting(reason: s.reason ?? "ContainerCreating", message: s.message)
        case .running:
            state = .running(startedAt: timestamp(s.startTime ?? i.creationTime))
        case .terminated:
            state = .terminated(
                .init(
                    exitCode: s.exitCode ?? 0, reason: s.reason ?? ((s.exitCode ?? 0) == 0 ? "Completed" : "Error"), message: s.message,
                    startedAt: s.startTime.map(timestamp), finishedAt: timestamp(s.finishTime ?? i.creationTime)))
        }
        return ContainerStatus(
            name: c.name, image: c.image, ready: isReady(c, i), started: s.state == .running,
            restartCount: s.restartCount, state: state)
    }

    /// Running, and (with a readiness or startup probe) its probe passes.
    static func isReady(_ c: ContainerSpec, _ i: Instance) -> Bool {
        guard let s = i.states[c.name] else { return false }
        return i.status == .running && s.state == .running && (s.ready ?? true)
    }

    static func status(_ i: Instance) -> PodStatus {
        let ready = i.status == .running && i.containers.allSatisfy { isReady($0, i) }
        let initialized = i.initContainers.allSatisfy { i.states[$0.name]?.state == .terminated }
        let at = timestamp(i.creationTime)
        var status = PodStatus(phase: phase(i))
        status.hostIP = "127.0.0.1"
        status.qosClass = "Guaranteed"
        status.conditions = [
            PodCondition(type: "PodScheduled", true, lastTransitionTime: at),
            PodCondition(type: "Initialized", initialized, lastTransitionTime: at),
            PodCondition(type: "ContainersReady", ready, lastTransitionTime: at),
            PodCondition(type: "Ready", ready, lastTransitionTime: at),
        ]
        status.containerStatuses = i.containers.map { containerStatus($0, i) }
        if !i.initContainers.isEmpty { status.initContainerStatuses = i.initContainers.map { containerStatus($0, i) } }
        if let ip = i.privateIP {
            status.podIP = ip
            status.podIPs = [PodIP(ip: ip)]
        }
        status.startTime = i.states.values.compactMap(\.startTime).min().map(timestamp)
        status.message = i.message
        return status
    }

    /// `kubectl get pods`: NAME READY STATUS RESTARTS AGE (wide: IP NODE NOMINATED NODE
    /// READINESS GATES, and imc's IMAGE CACHE).
    static let columns: [TableColumnDefinition] = [
        TableColumnDefinition("Name", "The Pod's name.", format: "name"),
        TableColumnDefinition("Ready", "Containers running out of all."),
        TableColumnDefinition("Status", "The Pod's state, or its container's reason."),
        TableColumnDefinition("Restarts", "Restarts of its containers."),
        TableColumnDefinition("Age", "Time since the Pod was created."),
        TableColumnDefinition("IP", "The Pod's address (on its VPC).", priority: 1),
        TableColumnDefinition("Node", "The node that runs it.", priority: 1),
        TableColumnDefinition("Nominated Node", "Nominated node.", priority: 1),
        TableColumnDefinition("Readiness Gates", "Readiness gates.", priority: 1),
        TableColumnDefinition("Image Cache", "The image cache its disk came from.", priority: 1),
    ]

    static func row(_ i: Instance, now: Date) -> [TableCell] {
        let running = i.containers.filter { isReady($0, i) }.count
        let restarts = i.containers.map { i.states[$0.name]?.restartCount ?? 0 }.reduce(0, +)
        var shown = phase(i)
        if i.status == .terminating {
            shown = "Terminating"
        } else if let reason = i.containers.compactMap({ c -> String? in
            let s = i.states[c.name]
            return s?.state == .running ? nil : s?.reason
        }).first, i.status != .succeeded {
            shown = reason
        } else if i.status == .succeeded {
            shown = "Completed"
        } else if i.status == .failed {
            shown = "Error"
        }
        return [
            .text(i.name), .text("\(running)/\(i.containers.count)"), .text(shown), .text("\(restarts)"),
            .text(humanDuration(now.timeIntervalSince(i.creationTime))), .text(i.privateIP ?? "<none>"), .text(nodeName(i)), "<none>",
            "<none>", .text(i.cacheID ?? "<none>"),
        ]
    }
}
