import Foundation
import IMCAPI
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel
import IMCPods

/// A Kubernetes Pod manifest with the image-cache annotations of API.md section 4, turned into
/// a CreateEKSContainerInstances request (with imc's image-cache extensions). What
/// `imc run -f pod.yaml` reads: the Pod is decoded strictly and read by `PodRequest`, as the
/// Kubernetes door reads it, so a Pod means the same through both.
public struct PodManifest: Sendable {
    public var name: String
    /// `namespace/name` of the pod's `imagePullSecrets` (the namespace is the pod's).
    public var imagePullSecrets: [String]
    /// The request, without credentials (the caller adds the secrets').
    public var request: CreateEKSContainerInstancesRequest

    /// Parses one Pod; every error names the field and the value.
    public static func parse(_ text: String, source: String) throws -> PodManifest {
        let document: JSONValue?
        do { document = try JSONValue.parseYAML(text) } catch {
            throw ManifestError(.malformed, "\(source): not valid YAML: \(error.message)")
        }
        guard case .object(let root)? = document else { throw ManifestError(.malformed, "\(source): expected a mapping") }
        guard root["apiVersion"] == .string("v1"), root["kind"] == .string("Pod") else {
            throw ManifestError(
                "\(source): expected apiVersion v1 and kind Pod, not \(root["apiVersion"]?.shown ?? "nothing") \(root["kind"]?.shown ?? "nothing")"
            )
        }
        do throws(DecodingProblem) {
            let pod = try StrictDecoder().decode(Pod.self, from: .object(root))
            let read = try PodRequest(pod, namespace: pod.metadata.namespace ?? "default")
            return PodManifest(name: read.request.name ?? "", imagePullSecrets: read.imagePullSecrets, request: Self.wire(read.request))
        } catch {
            throw ManifestError("\(source): \(error.message)")
        }
    }

    /// The Cloud API's request for `r`; what `r` left unsaid stays absent, for the account's defaults.
    static func wire(_ r: InstanceRequest) -> CreateEKSContainerInstancesRequest {
        var p = CreateEKSContainerInstancesRequest(Containers: r.containers.map(container))
        p.InitContainers = r.initContainers.isEmpty ? nil : r.initContainers.map(container)
        p.EksCiName = r.name
        p.Cpu = r.cpu
        p.Memory = r.memory
        p.RestartPolicy = r.restartPolicy?.rawValue
        p.TerminationGracePeriodSeconds = r.terminationGracePeriodSeconds
        p.RuntimeClassName = r.runtimeClass?.rawValue
        p.VpcId = r.vpcID
        p.SubnetId = r.subnetID
        p.SecurityGroupIds = r.securityGroupIDs.isEmpty ? nil : r.securityGroupIDs
        let said = Set(CacheAnnotation.allCases).subtracting(r.unsaid)
        if said.contains(.useImageCache) {
            switch r.cache.use {
            case "auto": p.AutoMatchImageCache = true
            case let id?: p.ImageCacheId = id
            case nil: p.AutoMatchImageCache = false  // no cache, whatever the account's defaults say
            }
        }
        if said.contains(.diskType) { p.ImageCacheDiskType = r.cache.diskType.rawValue }
        if said.contains(.diskSize) { p.ImageCacheDiskSize = r.cache.diskSizeGiB }
        if said.contains(.retainMinute) { p.ImageCacheDiskRetainMinutes = r.cache.retainMinutes }
        if said.contains(.match) { p.ImageCacheMatch = r.cache.partialMatch == true ? "partial" : "perfect" }
        if said.contains(.minMatchedImages) { p.ImageCacheMinMatchedImages = r.cache.minMatchedImages }
        if said.contains(.autoCreate) { p.AutoCreateImageCache = r.cache.autoCreate }
        return p
    }

    static func container(_ c: ContainerSpec) -> IMCAPI.Container {
        var out = IMCAPI.Container(
            Name: c.name, Image: c.image, Commands: c.commands, Args: c.args,
            EnvironmentVars: c.env.isEmpty ? nil : c.env.map { EnvironmentVar(Name: $0.name, Value: $0.value) })
        out.WorkingDir = c.workingDir
        out.Cpu = c.cpu
        out.Memory = c.memory
        if let s = c.security {
            var context = SecurityContext()
            context.RunAsUser = s.runAsUser.map(Int64.init)
            context.RunAsGroup = s.runAsGroup.map(Int64.init)
            context.RunAsNonRoot = s.runAsNonRoot
            context.ReadOnlyRootFilesystem = s.readOnlyRootFilesystem
            if !s.drop.isEmpty { context.Capabilities = SecurityContext.CapabilityChanges(Add: [], Drop: s.drop) }
            out.SecurityContext = context
        }
        return out
    }
}
