import Foundation
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel
import Testing

@testable import IMCKubernetes

/// An instance as the Pod the door serves: typed (`IMCKubernetesModels.Pod`), written by the
/// door's JSON writer, with what kubectl reads where it reads it.
struct PodObjectTests {
    static func instance() -> Instance {
        var i = Instance(
            id: "eksci-abc", account: "1", region: "ap-guangzhou", name: "web", creationTime: Date(timeIntervalSince1970: 1_700_000_000))
        i.node = "node-b"
        i.status = .running
        i.privateIP = "10.0.0.7"
        var app = ContainerSpec(name: "app", image: "nginx:1", commands: ["nginx"], env: [.init(name: "A", value: "1")])
        app.cpu = 0.5
        app.memory = 1
        i.containers = [app, ContainerSpec(name: "side", image: "busybox")]
        var running = ContainerState(state: .running)
        running.startTime = Date(timeIntervalSince1970: 1_700_000_010)
        running.restartCount = 2
        i.states = ["app": running, "side": ContainerState(reason: "CrashLoopBackOff")]
        return i
    }

    @Test func anInstanceIsThePodKubectlReads() throws {
        let pod = Pods.json(Self.instance())
        #expect(pod["kind"] == "Pod" && pod["metadata"]?["namespace"] == "default")
        #expect(pod["metadata"]?["annotations"]?["eks.tke.cloud.tencent.com/eksci-id"] == "eksci-abc")
        #expect(pod["spec"]?["nodeName"] == "node-b" && pod["spec"]?["schedulerName"] == "imc")
        #expect(pod["spec"]?["containers"]?[0]?["resources"]?["limits"]?["cpu"] == "500m")
        #expect(pod["spec"]?["containers"]?[0]?["resources"]?["requests"]?["memory"] == "1024Mi")
        #expect(pod["spec"]?["containers"]?[1]?["resources"] == [:], "a container asking for nothing says resources: {}")
        #expect(pod["spec"]?["containers"]?[0]?["env"]?[0]?["value"] == "1")
        let status = try #require(pod["status"])
        #expect(status["phase"] == "Running" && status["podIP"] == "10.0.0.7" && status["podIPs"]?[0]?["ip"] == "10.0.0.7")
        #expect(status["startTime"] == "2023-11-14T22:13:30Z")
        let ready = try #require(status["conditions"]?.array?.first { $0["type"] == "Ready" })
        #expect(ready["status"] == "False" && ready["lastProbeTime"] == .null, "side waits: not Ready; lastProbeTime is written null")
        #expect(status["containerStatuses"]?[0]?["state"]?["running"]?["startedAt"] == "2023-11-14T22:13:30Z")
        #expect(status["containerStatuses"]?[0]?["restartCount"] == 2)
        #expect(status["containerStatuses"]?[1]?["state"]?["waiting"]?["reason"] == "CrashLoopBackOff")
        #expect(status["containerStatuses"]?[1]?["state"]?["running"] == nil)
    }

    @Test func theTableRowSaysWhatKubectlGetPrints() {
        let row = Pods.row(Self.instance(), now: Date(timeIntervalSince1970: 1_700_000_300))
        #expect(row == ["web", "1/2", "CrashLoopBackOff", "2", "5m", "10.0.0.7", "node-b", "<none>", "<none>", "<none>"])
        #expect(Pods.columns.count == row.count)
    }

    @Test func whatAClientSendsAsStatusIsNotRead() throws {
        let sent: JSON = [
            "metadata": ["name": "p"], "spec": ["containers": [["name": "a", "image": "x"]]],
            "status": ["phase": "Succeeded", "anything": 1],
        ]
        let pod = try StrictDecoder().decode(Pod.self, from: sent)
        #expect(pod.status?.phase == nil)
    }
}

/// What a change of a Pod may and may not touch (`kubectl label`, `annotate`, `patch`, `edit`,
/// `replace`): labels and annotations, yes; the spec, the name, or an annotation read at creation,
/// refused by its field.
struct PodMetadataChangeTests {
    static func pod() -> Instance {
        var i = PodObjectTests.instance()
        i.revision = 7
        i.kubernetes = KubernetesMetadata(
            uid: "u-1", labels: ["app": "web"], annotations: ["eks.tke.cloud.tencent.com/use-image-cache": "auto"], namespace: "team")
        return i
    }

    @Test(arguments: [
        (#"{"metadata":{"labels":{"tier":"front"}}}"#, ["app": "web", "tier": "front"]),
        (#"{"metadata":{"labels":{"app":null}}}"#, [:]),
        (#"{"metadata":{"labels":{"app":"api"},"resourceVersion":"7"}}"#, ["app": "api"]),
    ])
    func aMergePatchOfLabelsIsTaken(patch: String, labels: [String: String]) throws {
        let change = try KubernetesAPI.changed(Self.pod(), by: .merge(try JSONValue.parseJSON(Array(patch.utf8))))
        #expect(change.labels == labels)
        #expect(change.annotations == ["eks.tke.cloud.tencent.com/use-image-cache": "auto"], "the server's eksci-id is not stored")
    }

    @Test(arguments: [
        (#"{"spec":{"restartPolicy":"Never"}}"#, 422, "spec"),
        (#"{"metadata":{"name":"other"}}"#, 422, "metadata.name"),
        (#"{"metadata":{"annotations":{"eks.tke.cloud.tencent.com/use-image-cache":"off"}}}"#, 422, "use-image-cache"),
        (#"{"metadata":{"annotations":{"eks.tke.cloud.tencent.com/eksci-id":"eksci-other"}}}"#, 422, "eksci-id"),
        (#"{"metadata":{"labels":{"bad key":"x"}}}"#, 422, "bad key"),
        (#"{"metadata":{"labels":{"k":"-no-"}}}"#, 422, "-no-"),
        (#"{"metadata":{"labels":{"k":"v"},"resourceVersion":"6"}}"#, 409, "modified"),
        (#"{"metadata":{"finalizers":["x"]}}"#, 422, "finalizers"),
    ])
    func aChangeOfAnythingElseIsRefusedByItsField(patch: String, code: Int, named: String) throws {
        #expect {
            _ = try KubernetesAPI.changed(Self.pod(), by: .merge(try JSONValue.parseJSON(Array(patch.utf8))))
        } throws: { error in
            guard let status = error as? KubernetesStatus else { return false }
            return status.code == code && "\(status.message)".contains(named)
        }
    }

    @Test func aJSONPatchAndAReplaceOfTheServedObjectWork() throws {
        let pod = Self.pod()
        let patched = try KubernetesAPI.changed(
            pod,
            by: .jsonPatch(
                try JSONValue.parseJSON(Array(#"[{"op":"add","path":"/metadata/annotations/owner","value":"ops"}]"#.utf8)).array!))
        #expect(patched.annotations["owner"] == "ops")
        var served = Pods.json(pod)
        served["metadata"]?["labels"] = ["app": "web", "v": "2"]
        #expect(try KubernetesAPI.changed(pod, by: .replace(served)).labels == ["app": "web", "v": "2"])
    }
}
