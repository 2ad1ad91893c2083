import Foundation
import IMCCache
import IMCInstance

/// A container instance as the Pod of `v1` it was made from (or, for one made through the Cloud
/// API, as a Pod in `default`): its containers as specs, its life as status and conditions.
enum PodObject {
    static let resource = Resource.pods

    static func namespace(_ instance: Instance) -> String { instance.kubernetes?.namespace ?? "default" }

    static func object(_ i: Instance) -> JSON {
        let meta = i.kubernetes ?? KubernetesMetadata(uid: ImageCacheObject.uid(i.id), namespace: "default")
        var annotations = meta.annotations
        annotations["eks.tke.cloud.tencent.com/eksci-id"] = i.id
        var metadata: JSON = [
            "name": .string(i.name), "namespace": .string(namespace(i)), "uid": .string(meta.uid),
            "resourceVersion": .string("\(i.revision ?? 0)"), "creationTimestamp": .string(timestamp(i.creationTime)),
            "annotations": .object(annotations.mapValues(JSON.string)),
        ]
        if !meta.labels.isEmpty { metadata["labels"] = .object(meta.labels.mapValues(JSON.string)) }
        if i.status == .terminating {
            metadata["deletionTimestamp"] = .string(timestamp(i.finishTime ?? i.creationTime))
            metadata["deletionGracePeriodSeconds"] = .int(Int64(i.terminationGracePeriodSeconds))
        }
        var spec: JSON = [
            "containers": .array(i.containers.map(container)), "restartPolicy": .string(i.restartPolicy.rawValue),
            "terminationGracePeriodSeconds": .int(Int64(i.terminationGracePeriodSeconds)), "nodeName": .string(i.node ?? "imc"),
            "runtimeClassName": .string(i.runtimeClass.rawValue), "schedulerName": "imc",
        ]
        if !i.initContainers.isEmpty { spec["initContainers"] = .array(i.initContainers.map(container)) }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status(i)]
    }

    static func container(_ c: ContainerSpec) -> JSON {
        var out: JSON = ["name": .string(c.name), "image": .string(c.image), "imagePullPolicy": "IfNotPresent"]
        if let command = c.commands { out["command"] = .array(command.map(JSON.string)) }
        if let args = c.args { out["args"] = .array(args.map(JSON.string)) }
        if let dir = c.workingDir { out["workingDir"] = .string(dir) }
        if !c.env.isEmpty { out["env"] = .array(c.env.map { ["name": .string($0.name), "value": .string($0.value)] }) }
        var amounts: [String: JSON] = [:]
        if let cpu = c.cpu { amounts["cpu"] = .string(quantity(cpu)) }
        if let memory = c.memory { amounts["memory"] = .string("\(Int(memory * 1024))Mi") }
        out["resources"] = amounts.isEmpty ? [:] : ["requests": .object(amounts), "limits": .object(amounts)]
        return out
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

    static func containerStatus(_ c: ContainerSpec, _ i: Instance) -> JSON {
        let s = i.states[c.name] ?? ContainerState(reason: "ContainerCreating")
        var state: JSON
        switch s.state {
        case .waiting:
            state = ["waiting": ["reason": .string(s.reason ?? "ContainerCreating")]]
            if let m = s.message { state["waiting"]?["message"] = .string(m) }
        case .running:
            state = ["running": ["startedAt": .string(timestamp(s.startTime ?? i.creationTime))]]
        case .terminated:
            var t: JSON = [
                "exitCode": .int(Int64(s.exitCode ?? 0)), "reason": .string(s.reason ?? ((s.exitCode ?? 0) == 0 ? "Completed" : "Error")),
                "finishedAt": .string(timestamp(s.finishTime ?? i.creationTime)),
            ]
            if let start = s.startTime { t["startedAt"] = .string(timestamp(start)) }
            if let m = s.message { t["message"] = .string(m) }
            state = ["terminated": t]
        }
        return [
            "name": .string(c.name), "image": .string(c.image), "imageID": "", "ready": .bool(s.state == .running && i.status == .running),
            "started": .bool(s.state == .running), "restartCount": .int(Int64(s.restartCount)), "state": state,
        ]
    }

    static func status(_ i: Instance) -> JSON {
        let ready = i.status == .running && i.containers.allSatisfy { i.states[$0.name]?.state == .running }
        let initialized = i.initContainers.allSatisfy { i.states[$0.name]?.state == .terminated }
        let at = timestamp(i.creationTime)
        func condition(_ type: String, _ value: Bool) -> JSON {
            ["type": .string(type), "status": value ? "True" : "False", "lastProbeTime": .null, "lastTransitionTime": .string(at)]
        }
        var status: JSON = [
            "phase": .string(phase(i)), "hostIP": "127.0.0.1", "qosClass": "Guaranteed",
            "conditions": [
                condition("PodScheduled", true), condition("Initialized", initialized), condition("ContainersReady", ready),
                condition("Ready", ready),
            ],
            "containerStatuses": .array(i.containers.map { containerStatus($0, i) }),
        ]
        if !i.initContainers.isEmpty { status["initContainerStatuses"] = .array(i.initContainers.map { containerStatus($0, i) }) }
        if let ip = i.privateIP {
            status["podIP"] = .string(ip)
            status["podIPs"] = [["ip": .string(ip)]]
        }
        if let started = i.states.values.compactMap(\.startTime).min() { status["startTime"] = .string(timestamp(started)) }
        if let m = i.message { status["message"] = .string(m) }
        return status
    }

    /// `kubectl get pods`: NAME READY STATUS RESTARTS AGE (wide: IP NODE NOMINATED NODE
    /// READINESS GATES, and imc's IMAGE CACHE).
    static let columns: [JSON] = [
        ImageCacheObject.column("Name", "string", "name", "The Pod's name.", priority: 0),
        ImageCacheObject.column("Ready", "string", "", "Containers running out of all.", priority: 0),
        ImageCacheObject.column("Status", "string", "", "The Pod's state, or its container's reason.", priority: 0),
        ImageCacheObject.column("Restarts", "string", "", "Restarts of its containers.", priority: 0),
        ImageCacheObject.column("Age", "string", "", "Time since the Pod was created.", priority: 0),
        ImageCacheObject.column("IP", "string", "", "The Pod's address (on its VPC).", priority: 1),
        ImageCacheObject.column("Node", "string", "", "The node that runs it.", priority: 1),
        ImageCacheObject.column("Nominated Node", "string", "", "Nominated node.", priority: 1),
        ImageCacheObject.column("Readiness Gates", "string", "", "Readiness gates.", priority: 1),
        ImageCacheObject.column("Image Cache", "string", "", "The image cache its disk came from.", priority: 1),
    ]

    static func row(_ i: Instance, now: Date) -> [JSON] {
        let running = i.containers.filter { i.states[$0.name]?.state == .running }.count
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
            .string(i.name), .string("\(running)/\(i.containers.count)"), .string(shown), .string("\(restarts)"),
            .string(humanDuration(now.timeIntervalSince(i.creationTime))), .string(i.privateIP ?? "<none>"), "imc", "<none>", "<none>",
            .string(i.cacheID ?? "<none>"),
        ]
    }
}
