import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCPods
import Testing

/// A Pod to the service's request, as a table: each row a Pod's spec (JSON) and what the
/// request must then hold, or the field a refusal must name.
struct PodRequestTests {
    static func read(_ spec: String, annotations: String = "{}") throws(DecodingProblem) -> PodRequest {
        let text = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":\#(annotations)},"spec":\#(spec)}"#
        return try PodRequest(try StrictDecoder().decode(Pod.self, json: Array(text.utf8)), namespace: "team")
    }

    static let one = #""containers":[{"name":"a","image":"busybox"}]"#

    struct Row: Sendable, CustomTestStringConvertible {
        var spec: String
        var holds: @Sendable (InstanceRequest) -> Bool
        init(_ spec: String, _ holds: @escaping @Sendable (InstanceRequest) -> Bool) {
            self.spec = spec
            self.holds = holds
        }
        var testDescription: String { spec }
    }

    static let rows: [Row] = [
        Row("{\(one)}", { r in r.containers.map(\.name) == ["a"] && r.restartPolicy == nil && r.cpu == nil }),
        Row(#"{"restartPolicy":"Never",\#(one)}"#, { $0.restartPolicy == .never }),
        Row(#"{"terminationGracePeriodSeconds":3,\#(one)}"#, { $0.terminationGracePeriodSeconds == 3 }),
        Row(#"{"runtimeClassName":"gvisor",\#(one)}"#, { $0.runtimeClass == .gvisor }),
        Row(
            #"{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"250m","memory":"256Mi"}}},{"name":"b","image":"y","resources":{"limits":{"cpu":1}}}]}"#,
            { $0.containers[0].cpu == 0.25 && $0.containers[0].memory == 0.25 && $0.cpu == 1.25 && $0.memory == 0.25 }
        ),
        Row(
            #"{"containers":[{"name":"a","image":"x","command":["sh"],"args":["-c","x"],"workingDir":"/w","env":[{"name":"N","value":7},{"name":"E"}]}]}"#,
            {
                $0.containers[0].commands == ["sh"] && $0.containers[0].args == ["-c", "x"] && $0.containers[0].workingDir == "/w"
                    && $0.containers[0].env == [EnvVar(name: "N", value: "7"), EnvVar(name: "E", value: "")]
            }
        ),
        Row(
            #"{"securityContext":{"runAsUser":1000,"runAsNonRoot":true},"containers":[{"name":"a","image":"x","securityContext":{"runAsGroup":5,"capabilities":{"add":["chown"],"drop":["NET_RAW","ALL"]}}}]}"#,
            {
                $0.containers[0].security
                    == ContainerSecurity(runAsUser: 1000, runAsGroup: 5, runAsNonRoot: true, drop: ["CAP_NET_RAW", "ALL"])
            }
        ),
        Row(#"{"initContainers":[{"name":"i","image":"x"}],\#(one)}"#, { $0.initContainers.map(\.name) == ["i"] }),
        Row(#"{"dnsPolicy":"ClusterFirst","hostNetwork":false,\#(one)}"#, { $0.dns == nil }),
    ]

    @Test(arguments: rows)
    func aPodBecomesTheRequest(row: Row) throws {
        #expect(row.holds(try Self.read(row.spec).request), "\(row.spec)")
    }

    @Test func annotationsSayTheCacheAndTheNetworkAndTheRestIsLeftToTheAccount() throws {
        let read = try Self.read(
            #"{"imagePullSecrets":[{"name":"reg"}],\#(Self.one)}"#,
            annotations:
                #"{"eks.tke.cloud.tencent.com/use-image-cache":"auto","eks.tke.cloud.tencent.com/image-cache-disk-size":"40","eks.tke.cloud.tencent.com/vpc-id":"vpc-1","eks.tke.cloud.tencent.com/security-group-id":"sg-a, sg-b"}"#
        )
        let r = read.request
        #expect(r.cache.use == "auto" && r.cache.diskSizeGiB == 40)
        #expect(r.unsaid == [.diskType, .retainMinute, .match, .minMatchedImages, .autoCreate])
        #expect(r.vpcID == "vpc-1" && r.subnetID == nil && r.securityGroupIDs == ["sg-a", "sg-b"])
        #expect(read.imagePullSecrets == ["team/reg"])
        let off = try Self.read("{\(Self.one)}", annotations: #"{"eks.tke.cloud.tencent.com/use-image-cache":"off"}"#).request
        #expect(off.cache.use == nil && !off.unsaid.contains(.useImageCache), "off is said: no cache, whatever the account's defaults")
    }

    @Test(arguments: [
        (#"{"containers":[]}"#, "spec.containers must list at least one container"),
        (#"{"containers":[{"name":"a"}]}"#, "spec.containers[0].image is required"),
        (#"{"containers":[{"name":"a","image":"x","stdin":true}]}"#, "spec.containers[0].stdin is not a field"),
        (#"{"restartPolicy":"Sometimes",\#(one)}"#, #"spec.restartPolicy "Sometimes" is not one of Always, OnFailure, Never"#),
        (#"{"terminationGracePeriodSeconds":-1,\#(one)}"#, "spec.terminationGracePeriodSeconds must be a number of seconds"),
        (#"{"runtimeClassName":"kata",\#(one)}"#, "spec.runtimeClassName must be runc or gvisor, not kata"),
        (#"{"hostPID":true,\#(one)}"#, "spec.hostPID true is refused"),
        (#"{"dnsPolicy":"None",\#(one)}"#, "spec.dnsPolicy None is refused"),
        (#"{"nodeName":"node-b",\#(one)}"#, "spec.nodeName node-b is refused: imc places every Pod on a node itself"),
        (#"{"schedulerName":"volcano",\#(one)}"#, "spec.schedulerName volcano is refused"),
        (#"{"volumes":[{"name":"v","hostPath":{"path":"/"}}],\#(one)}"#, "spec.volumes[0].hostPath is refused"),
        (#"{"volumes":[{"name":"v"}],\#(one)}"#, "spec.volumes[0] names no volume source"),
        (#"{"volumes":[{"name":"v","emptyDir":{},"secret":{"secretName":"s"}}],\#(one)}"#, "spec.volumes[0] may name only one"),
        (#"{"volumes":[{"name":"v","emptyDir":{}},{"name":"v","emptyDir":{}}],\#(one)}"#, "spec.volumes[1].name \"v\" is a duplicate"),
        (#"{"volumes":[{"name":"v","emptyDir":{"medium":"HugePages"}}],\#(one)}"#, "spec.volumes[0].emptyDir.medium"),
        (#"{"volumes":[{"name":"v","emptyDir":{"sizeLimit":"lots"}}],\#(one)}"#, "spec.volumes[0].emptyDir.sizeLimit \"lots\""),
        (
            #"{"volumes":[{"name":"v","configMap":{"name":"c","defaultMode":4096}}],\#(one)}"#,
            "spec.volumes[0].configMap.defaultMode must be"
        ),
        (
            #"{"volumes":[{"name":"v","secret":{"secretName":"s","items":[{"key":"k","path":"../../etc/x"}]}}],\#(one)}"#,
            "spec.volumes[0].secret.items[0].path must not contain '..'"
        ),
        (
            #"{"volumes":[{"name":"v","projected":{"sources":[{"serviceAccountToken":{"path":"t"}}]}}],\#(one)}"#,
            "spec.volumes[0].projected.sources[0].serviceAccountToken is refused"
        ),
        (
            #"{"volumes":[{"name":"v","downwardAPI":{"items":[{"path":"ip","fieldRef":{"fieldPath":"status.podIP"}}]}}],\#(one)}"#,
            "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath \"status.podIP\" is given to environment variables only"
        ),
        (
            #"{"volumes":[{"name":"v","persistentVolumeClaim":{"claimName":"c"}}],\#(one)}"#,
            "spec.volumes[0].persistentVolumeClaim is refused"
        ),
        (
            #"{"containers":[{"name":"a","image":"x","volumeMounts":[{"name":"none","mountPath":"/m"}]}]}"#,
            "spec.containers[0].volumeMounts[0].name \"none\" is not a volume of the Pod"
        ),
        (
            #"{"volumes":[{"name":"v","emptyDir":{}}],"containers":[{"name":"a","image":"x","volumeMounts":[{"name":"v","mountPath":"data"}]}]}"#,
            "spec.containers[0].volumeMounts[0].mountPath \"data\" must be an absolute"
        ),
        (
            #"{"volumes":[{"name":"v","emptyDir":{}}],"containers":[{"name":"a","image":"x","volumeMounts":[{"name":"v","mountPath":"/m","mountPropagation":"Bidirectional"}]}]}"#,
            "mountPropagation \"Bidirectional\" is refused"
        ),
        (#"{"securityContext":{"runAsUser":70000},\#(one)}"#, "spec.containers[0].securityContext.runAsUser must be an id from 0 to 65535"),
        (
            #"{"containers":[{"name":"a","image":"x","securityContext":{"privileged":true}}]}"#,
            "spec.containers[0].securityContext.privileged true is refused"
        ),
        (
            #"{"containers":[{"name":"a","image":"x","securityContext":{"capabilities":{"add":["SYS_ADMIN"]}}}]}"#,
            "spec.containers[0].securityContext.capabilities.add SYS_ADMIN is refused"
        ),
        (
            #"{"containers":[{"name":"a","image":"x","securityContext":{"capabilities":{"drop":["FLY"]}}}]}"#,
            "spec.containers[0].securityContext.capabilities.drop FLY is not a capability"
        ),
        (#"{"containers":[{"name":"a","image":"x","ports":[{"containerPort":0}]}]}"#, "spec.containers[0].ports[0].containerPort must be"),
        (
            #"{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"-1"}}}]}"#,
            "resources.requests.cpu \"-1\" is not a quantity"
        ),
        (
            #"{"containers":[{"name":"a","image":"x","resources":{"requests":{"ephemeral-storage":"1Gi"}}}]}"#,
            "ephemeral-storage is refused"
        ),
        (
            #"{"containers":[{"name":"a","image":"x","env":[{"name":"E","value":true}]}]}"#,
            "spec.containers[0].env[0].value must be a string or a number"
        ),
    ])
    func aPodIsRefusedNamingItsField(spec: String, message: String) {
        #expect {
            _ = try Self.read(spec)
        } throws: { error in
            (error as? DecodingProblem)?.message.contains(message) == true
        }
    }

    @Test func anAnnotationsValueIsRefusedByItsName() {
        #expect {
            _ = try Self.read("{\(Self.one)}", annotations: #"{"eks.tke.cloud.tencent.com/image-cache-match":"fuzzy"}"#)
        } throws: { error in
            (error as? DecodingProblem)?.message
                == #"metadata.annotations.eks.tke.cloud.tencent.com/image-cache-match must be perfect or partial, not "fuzzy""#
        }
    }
}
