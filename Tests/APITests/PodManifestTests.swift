import Foundation
import IMCAPI
import IMCClient
import Testing

struct PodManifestTests {
    let pod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
          namespace: shop
          annotations:
            eks.tke.cloud.tencent.com/use-image-cache: auto
            eks.tke.cloud.tencent.com/image-cache-disk-type: CLOUD_SSD
            eks.tke.cloud.tencent.com/image-cache-disk-size: "40"
            eks.tke.cloud.tencent.com/image-cache-disk-retain-minute: "10"
            eks.tke.cloud.tencent.com/image-cache-match: partial
            eks.tke.cloud.tencent.com/image-cache-min-matched-images: "1"
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 5
          imagePullSecrets: [{name: regcred}]
          initContainers:
          - {name: init, image: busybox, command: [/bin/true]}
          containers:
          - name: app
            image: nginx:1.25
            command: [/bin/sh, -c]
            args: ["echo $A"]
            workingDir: /srv
            env: [{name: A, value: "1"}, {name: B, value: 2}]
            resources: {requests: {cpu: 500m, memory: 512Mi}}
          - name: side
            image: redis
            resources: {limits: {cpu: "1", memory: 1Gi}}
        """

    @Test func aPodWithTheAnnotationsBecomesTheRequest() throws {
        let m = try PodManifest.parse(pod, source: "pod.yaml")
        let p = m.request
        #expect(m.name == "web" && m.imagePullSecrets == ["shop/regcred"])
        #expect(p.EksCiName == "web")
        #expect(p.AutoMatchImageCache == true && p.ImageCacheId == nil)
        #expect(p.ImageCacheDiskType == "CLOUD_SSD")
        #expect(p.ImageCacheDiskSize == 40 && p.ImageCacheDiskRetainMinutes == 10)
        #expect(p.ImageCacheMatch == "partial" && p.ImageCacheMinMatchedImages == 1)
        #expect(p.RestartPolicy == "OnFailure" && p.TerminationGracePeriodSeconds == 5)
        let containers = p.Containers
        #expect(containers.map(\.Name) == ["app", "side"])
        #expect(containers[0].Commands == ["/bin/sh", "-c"] && containers[0].Args == ["echo $A"])
        #expect(containers[0].WorkingDir == "/srv")
        #expect(containers[0].EnvironmentVars?.last == EnvironmentVar(Name: "B", Value: "2"))
        #expect(containers[0].Cpu == 0.5 && containers[0].Memory == 0.5)
        #expect(p.Cpu == 1.5 && p.Memory == 1.5, "the pod's totals are its containers' sums")
        #expect(p.InitContainers?.first?.Commands == ["/bin/true"])
    }

    @Test func aManualCacheIdIsPassedAsItIs() throws {
        let m = try PodManifest.parse(
            pod.replacingOccurrences(of: "use-image-cache: auto", with: "use-image-cache: imc-abcd1234"), source: "pod.yaml")
        #expect(m.request.ImageCacheId == "imc-abcd1234" && m.request.AutoMatchImageCache == nil)
        let off = try PodManifest.parse(
            pod.replacingOccurrences(of: "use-image-cache: auto", with: "use-image-cache: \"off\""), source: "p")
        #expect(off.request.AutoMatchImageCache == false && off.request.ImageCacheId == nil, "off opts out of the account's default")
    }

    /// What kubectl run and a Pod read back from the server carry beside the spec is taken.
    @Test func theFieldsClientsAddAreTaken() throws {
        let m = try PodManifest.parse(
            pod.replacingOccurrences(of: "  name: web\n", with: "  name: web\n  creationTimestamp: null\n  labels: {run: web}\n")
                .replacingOccurrences(of: "  restartPolicy: OnFailure\n", with: "  restartPolicy: OnFailure\n  dnsPolicy: ClusterFirst\n")
                .replacingOccurrences(
                    of: "    workingDir: /srv\n",
                    with: "    workingDir: /srv\n    imagePullPolicy: IfNotPresent\n    ports: [{containerPort: 80}]\n")
                + "\nstatus: {}\n", source: "pod.yaml")
        #expect(m.request.Containers[0].WorkingDir == "/srv")
    }

    @Test(arguments: [
        (
            "use-image-cache: auto", "use-image-cache: sometimes",
            "metadata.annotations.eks.tke.cloud.tencent.com/use-image-cache must be auto, off, or an image cache id"
        ),
        ("image-cache-disk-type: CLOUD_SSD", "image-cache-disk-type: FLOPPY", "image-cache-disk-type must be one of"),
        ("image-cache-disk-size: \"40\"", "image-cache-disk-size: big", "image-cache-disk-size must be a number of GiB, not \"big\""),
        ("image-cache-disk-retain-minute: \"10\"", "image-cache-disk-retain-minute: \"-3\"", "retain-minute must be a number of minutes"),
        ("image-cache-match: partial", "image-cache-match: fuzzy", "image-cache-match must be perfect or partial, not \"fuzzy\""),
        ("min-matched-images: \"1\"", "min-matched-images: \"0\"", "min-matched-images must be a number of images from 1 to 100"),
        ("restartPolicy: OnFailure", "restartPolicy: Sometimes", "spec.restartPolicy"),
        ("cpu: 500m", "cpu: lots", "spec.containers[0].resources.requests.cpu \"lots\" is not a quantity"),
        ("memory: 512Mi", "memory: -1Gi", "spec.containers[0].resources.requests.memory \"-1Gi\""),
        ("kind: Pod", "kind: Deployment", "kind Pod"),
        ("  - name: side\n    image: redis", "  - name: side", "spec.containers[1].image is required"),
        (
            "workingDir: /srv", "workingDir: /srv\n    lifecycle: {preStop: {exec: {command: [true]}}}",
            "spec.containers[0].lifecycle is not a field"
        ),
        (
            "workingDir: /srv", "workingDir: /srv\n    ports: [{containerPort: 80, hostPort: 80}]",
            "spec.containers[0].ports[0].hostPort is refused"
        ),
        (
            "{name: A, value: \"1\"}", "{name: A, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}",
            "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath \"status.hostIP\" is not a supported value"
        ),
        (
            "{name: A, value: \"1\"}", "{name: A, valueFrom: {secretKeyRef: {name: s, key: k}, fieldRef: {fieldPath: metadata.name}}}",
            "spec.containers[0].env[0].valueFrom must have exactly one of"
        ),
        (
            "{name: A, value: \"1\"}", "{name: A, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}",
            "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource \"limits.gpu\" is not one of"
        ),
        ("workingDir: /srv", "workingDir: /srv\n    envFrom: [{prefix: P_}]", "spec.containers[0].envFrom[0] must name exactly one of"),
        ("cpu: 500m", "cpu: 500m, nvidia.com/gpu: 1", "spec.containers[0].resources.requests.nvidia.com/gpu is refused"),
        (
            "restartPolicy: OnFailure", "restartPolicy: OnFailure\n  volumes: [{name: v, hostPath: {path: /}}]",
            "spec.volumes[0].hostPath is refused"
        ),
        ("restartPolicy: OnFailure", "restartPolicy: OnFailure\n  nodeSelector: {disk: ssd}", "spec.nodeSelector is not a field"),
        ("restartPolicy: OnFailure", "restartPolicy: [OnFailure]", "spec.restartPolicy must be"),
        ("name: web\n", "name: web\n  labels: {tier: 1}\n", "metadata.labels.tier must be a string, not 1"),
    ])
    func mistakesAreNamed(find: String, replace: String, message: String) {
        #expect {
            try PodManifest.parse(pod.replacingOccurrences(of: find, with: replace), source: "pod.yaml")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".hasPrefix("pod.yaml")
        }
    }
}
