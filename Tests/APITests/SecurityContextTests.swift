import Foundation
import IMCAPI
import IMCClient
import IMCDocuments
import Testing

/// What a container may ask for: the host never, its own user, a read-only root and fewer
/// capabilities always; every refusal names the field.
struct SecurityContextTests {
    /// The field as a request carries it: through the strict decoder, then what is allowed.
    func parse(_ json: String) throws(APIError) -> SecurityContextRequest {
        let path: FieldPath = "Containers[0].SecurityContext"
        let wire: SecurityContext
        do { wire = try StrictDecoder().decode(SecurityContext.self, from: try JSONValue.parseJSON(Array(json.utf8)), at: path) } catch {
            guard let problem = error as? DecodingProblem else { throw APIError.invalidParameter("\(error)") }
            throw APIError(problem)
        }
        return try SecurityContextRequest(wire, path: path)
    }

    @Test func theRealFieldsAndImcsExtensionsAreRead() throws {
        let s = try parse(
            #"{"Capabilities": {"Add": ["NET_BIND_SERVICE"], "Drop": ["ALL"]}, "RunAsUser": 1000, "RunAsGroup": 2000, "RunAsNonRoot": true, "ReadOnlyRootFilesystem": true, "Privileged": false}"#
        )
        #expect(s.runAsUser == 1000 && s.runAsGroup == 2000 && s.runAsNonRoot == true && s.readOnlyRootFilesystem == true)
        #expect(s.drop == ["ALL"])
    }

    @Test(arguments: [
        (#"{"Privileged": true}"#, "Containers[0].SecurityContext.Privileged"),
        (#"{"AllowPrivilegeEscalation": true}"#, "Containers[0].SecurityContext.AllowPrivilegeEscalation"),
        (#"{"Capabilities": {"Add": ["SYS_ADMIN"]}}"#, "Containers[0].SecurityContext.Capabilities.Add SYS_ADMIN"),
        (#"{"Capabilities": {"Add": ["cap_net_admin"]}}"#, "Containers[0].SecurityContext.Capabilities.Add NET_ADMIN"),
        (#"{"RunAsUser": -1}"#, "Containers[0].SecurityContext.RunAsUser"),
        (#"{"RunAsUser": 70000}"#, "Containers[0].SecurityContext.RunAsUser"),
        (#"{"HostNetwork": true}"#, "Containers[0].SecurityContext.HostNetwork"),
    ])
    func whatAsksForTheHostIsRefusedNamingTheField(json: String, named: String) {
        #expect {
            _ = try parse(json)
        } throws: { error in
            guard let e = error as? APIError else { return false }
            return e.message.contains(named) && ["InvalidParameterValue", "UnknownParameter"].contains(e.code)
        }
    }

    func pod(_ spec: String) -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
        \(spec)
        """
    }

    @Test(arguments: [
        ("  hostNetwork: true\n  containers: [{name: a, image: busybox}]", "spec.hostNetwork"),
        ("  hostPID: true\n  containers: [{name: a, image: busybox}]", "spec.hostPID"),
        ("  hostIPC: true\n  containers: [{name: a, image: busybox}]", "spec.hostIPC"),
        ("  volumes: [{name: v, hostPath: {path: /}}]\n  containers: [{name: a, image: busybox}]", "spec.volumes[0].hostPath"),
        ("  containers: [{name: a, image: busybox, securityContext: {privileged: true}}]", "spec.containers[0].securityContext.privileged"),
        (
            "  containers: [{name: a, image: busybox, securityContext: {allowPrivilegeEscalation: true}}]",
            "spec.containers[0].securityContext.allowPrivilegeEscalation"
        ),
        (
            "  containers: [{name: a, image: busybox, securityContext: {capabilities: {add: [SYS_PTRACE]}}}]",
            "spec.containers[0].securityContext.capabilities.add SYS_PTRACE"
        ),
        ("  runtimeClassName: kata\n  containers: [{name: a, image: busybox}]", "spec.runtimeClassName"),
    ])
    func aPodThatAsksForTheHostIsRefusedNamingTheField(spec: String, named: String) {
        #expect {
            _ = try PodManifest.parse(pod(spec), source: "pod.yaml")
        } throws: { error in
            "\(error)".contains(named)
        }
    }

    @Test func aPodsSecurityContextAndRuntimeClassAreCarriedToTheRequest() throws {
        let m = try PodManifest.parse(
            pod(
                """
                  runtimeClassName: gvisor
                  securityContext: {runAsUser: 1000, runAsNonRoot: true}
                  containers:
                  - name: a
                    image: busybox
                    securityContext: {runAsGroup: 3000, readOnlyRootFilesystem: true, capabilities: {drop: [ALL], add: [CHOWN]}}
                """), source: "pod.yaml")
        #expect(m.request.RuntimeClassName == "gvisor")
        let context = try #require(m.request.Containers[0].SecurityContext)
        let s = try SecurityContextRequest(context, path: "c")
        #expect(s.runAsUser == 1000 && s.runAsGroup == 3000 && s.runAsNonRoot == true && s.readOnlyRootFilesystem == true)
        #expect(s.drop == ["ALL"])
    }

    /// Pod Security's restricted profile, or a Pod that wants no raw sockets: `NET_RAW` dropped
    /// by its Kubernetes name (what the instance runs without is tested in `VPCTests`).
    @Test func aPodDropsNetRawByItsKubernetesName() throws {
        let m = try PodManifest.parse(
            pod("  containers:\n  - {name: a, image: busybox, securityContext: {capabilities: {drop: [NET_RAW]}}}"), source: "pod.yaml")
        let s = try SecurityContextRequest(try #require(m.request.Containers[0].SecurityContext), path: "c")
        #expect(s.drop == ["NET_RAW"])
    }
}
