import Foundation
import IMCAPI
import IMCDocuments
import IMCModel
import Yams

/// A Kubernetes Pod manifest with the image-cache annotations of API.md section 4, turned into
/// a CreateEKSContainerInstances request (with imc's image-cache extensions). What
/// `imc run -f pod.yaml` reads.
public struct PodManifest: Sendable {
    public static let useImageCache = "eks.tke.cloud.tencent.com/use-image-cache"
    public static let diskType = "eks.tke.cloud.tencent.com/image-cache-disk-type"
    public static let diskSize = "eks.tke.cloud.tencent.com/image-cache-disk-size"
    public static let retainMinute = "eks.tke.cloud.tencent.com/image-cache-disk-retain-minute"
    public static let match = "eks.tke.cloud.tencent.com/image-cache-match"
    public static let minMatchedImages = "eks.tke.cloud.tencent.com/image-cache-min-matched-images"
    public static let autoCreate = "eks.tke.cloud.tencent.com/image-cache-auto-create"
    static let diskTypes = ["CLOUD_BASIC", "CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_HSSD", "CLOUD_TSSD"]

    public var name: String
    /// `namespace/name` of the pod's `imagePullSecrets` (the namespace is the pod's).
    public var imagePullSecrets: [String]
    /// The request, without credentials (the caller adds the secrets').
    public var request: CreateEKSContainerInstancesRequest

    /// Parses one Pod; every error names the field and the value.
    public static func parse(_ text: String, source: String) throws -> PodManifest {
        let document: Any?
        do { document = try Yams.load(yaml: text) } catch { throw ManifestError("\(source): not valid YAML: \(error)") }
        guard let root = document as? [String: Any] else { throw ManifestError("\(source): expected a mapping") }
        guard root["apiVersion"] as? String == "v1", root["kind"] as? String == "Pod" else {
            throw ManifestError(
                "\(source): expected apiVersion v1 and kind Pod, not \(root["apiVersion"] ?? "nothing") \(root["kind"] ?? "nothing")")
        }
        let metadata = root["metadata"] as? [String: Any] ?? [:]
        guard let name = metadata["name"] as? String, !name.isEmpty else { throw ManifestError("\(source): metadata.name is required") }
        let namespace = metadata["namespace"] as? String ?? "default"
        guard let spec = root["spec"] as? [String: Any] else { throw ManifestError("\(source): spec is required") }
        var p = CreateEKSContainerInstancesRequest(Containers: [])
        p.EksCiName = name

        var annotations: [String: String] = [:]
        for (k, v) in metadata["annotations"] as? [String: Any] ?? [:] { annotations[k] = "\(v)" }
        if let use = annotations[useImageCache] {
            if use == "auto" {
                p.AutoMatchImageCache = true
            } else if ["off", "false", "none"].contains(use) {
                p.AutoMatchImageCache = false  // no cache, whatever the account's defaults say
            } else if use.hasPrefix("imc-") {
                p.ImageCacheId = use
            } else {
                throw ManifestError(
                    "\(source): annotation \(useImageCache) must be auto, off or an image cache id (imc-...), not \"\(use)\"")
            }
        }
        if let type = annotations[diskType] {
            guard diskTypes.contains(type) else {
                throw ManifestError(
                    "\(source): annotation \(diskType) must be one of \(diskTypes.joined(separator: ", ")), not \"\(type)\"")
            }
            p.ImageCacheDiskType = type
        }
        if let size = annotations[diskSize] {
            guard let n = Int(size), n > 0 else {
                throw ManifestError("\(source): annotation \(diskSize) must be a number of GiB, not \"\(size)\"")
            }
            p.ImageCacheDiskSize = n
        }
        if let match = annotations[Self.match] {
            guard ["perfect", "partial"].contains(match) else {
                throw ManifestError("\(source): annotation \(Self.match) must be perfect or partial, not \"\(match)\"")
            }
            p.ImageCacheMatch = match
        }
        if let count = annotations[minMatchedImages] {
            guard let n = Int(count), (1...100).contains(n) else {
                throw ManifestError("\(source): annotation \(minMatchedImages) must be a number of images from 1 to 100, not \"\(count)\"")
            }
            p.ImageCacheMinMatchedImages = n
        }
        if let auto = annotations[autoCreate] {
            guard ["true", "false"].contains(auto) else {
                throw ManifestError("\(source): annotation \(autoCreate) must be true or false, not \"\(auto)\"")
            }
            p.AutoCreateImageCache = auto == "true"
        }
        if let minutes = annotations[retainMinute] {
            guard let n = Int(minutes), n >= 0 else {
                throw ManifestError("\(source): annotation \(retainMinute) must be a number of minutes, not \"\(minutes)\"")
            }
            p.ImageCacheDiskRetainMinutes = n
        }

        if let policy = spec["restartPolicy"] {
            guard let s = policy as? String, ["Always", "OnFailure", "Never"].contains(s) else {
                throw ManifestError("\(source): spec.restartPolicy must be Always, OnFailure or Never, not \(policy)")
            }
            p.RestartPolicy = s
        }
        if let grace = spec["terminationGracePeriodSeconds"] {
            guard let n = grace as? Int, n >= 0 else {
                throw ManifestError("\(source): spec.terminationGracePeriodSeconds must be a number of seconds, not \(grace)")
            }
            p.TerminationGracePeriodSeconds = n
        }
        // What asks for the host is refused; a tenant's Pod gets its own namespaces and nothing of the node's.
        for field in ["hostNetwork", "hostPID", "hostIPC"] where (spec[field] as? Bool) == true {
            throw ManifestError("\(source): spec.\(field) true is refused: a Pod never shares the node's namespaces")
        }
        for (i, volume) in (spec["volumes"] as? [[String: Any]] ?? []).enumerated() where volume["hostPath"] != nil {
            throw ManifestError("\(source): spec.volumes[\(i)].hostPath is refused: a Pod never sees the node's files")
        }
        if let runtime = spec["runtimeClassName"] {
            guard let name = runtime as? String, ["runc", "gvisor"].contains(name) else {
                throw ManifestError("\(source): spec.runtimeClassName must be runc or gvisor, not \(runtime)")
            }
            p.RuntimeClassName = name
        }
        let podSecurity = spec["securityContext"] as? [String: Any] ?? [:]
        var cpu = 0.0
        var memory = 0.0
        func containers(_ key: String) throws -> [Container] {
            guard let list = spec[key] else { return [] }
            guard let items = list as? [[String: Any]] else { throw ManifestError("\(source): spec.\(key) must be a list of containers") }
            return try items.enumerated().map { i, c in
                let at = "\(source): spec.\(key)[\(i)]"
                guard let name = c["name"] as? String else { throw ManifestError("\(at).name is required") }
                guard let image = c["image"] as? String else { throw ManifestError("\(at).image is required") }
                var out = Container(Name: name, Image: image)
                func strings(_ field: String) throws -> [String]? {
                    guard let v = c[field] else { return nil }
                    guard let list = v as? [Any] else { throw ManifestError("\(at).\(field) must be a list of strings") }
                    return list.map { "\($0)" }
                }
                out.Commands = try strings("command")
                out.Args = try strings("args")
                if let w = c["workingDir"] { out.WorkingDir = "\(w)" }
                if let env = c["env"] {
                    guard let list = env as? [[String: Any]] else { throw ManifestError("\(at).env must be a list of name/value") }
                    out.EnvironmentVars = try list.enumerated().map { j, e in
                        guard let n = e["name"] as? String else { throw ManifestError("\(at).env[\(j)].name is required") }
                        return EnvironmentVar(Name: n, Value: e["value"].map { "\($0)" } ?? "")
                    }
                }
                if let context = try Self.securityContext(c["securityContext"], pod: podSecurity, at: "\(at).securityContext") {
                    out.SecurityContext = context
                }
                let resources = c["resources"] as? [String: Any] ?? [:]
                let amounts = (resources["requests"] as? [String: Any]) ?? (resources["limits"] as? [String: Any]) ?? [:]
                if let v = amounts["cpu"] {
                    guard let n = Self.cpu("\(v)") else {
                        throw ManifestError("\(at).resources cpu \"\(v)\" is not a quantity (1, 0.5, 500m)")
                    }
                    out.Cpu = n
                    if key == "containers" { cpu += n }
                }
                if let v = amounts["memory"] {
                    guard let n = Self.gibibytes("\(v)") else {
                        throw ManifestError("\(at).resources memory \"\(v)\" is not a quantity (1Gi, 512Mi)")
                    }
                    out.Memory = n
                    if key == "containers" { memory += n }
                }
                return out
            }
        }
        let main = try containers("containers")
        guard !main.isEmpty else { throw ManifestError("\(source): spec.containers must list at least one container") }
        p.Containers = main
        let inits = try containers("initContainers")
        if !inits.isEmpty { p.InitContainers = inits }
        if cpu > 0 { p.Cpu = cpu }
        if memory > 0 { p.Memory = memory }
        let secrets = (spec["imagePullSecrets"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }.map { "\(namespace)/\($0)" }
        return PodManifest(name: name, imagePullSecrets: secrets, request: p)
    }

    /// A container's `securityContext` (over the Pod's `runAsUser`, `runAsGroup`, `runAsNonRoot`)
    /// as the API's `SecurityContext`; what asks for the host is refused, naming the field.
    static func securityContext(_ value: Any?, pod: [String: Any], at: String) throws -> SecurityContext? {
        let c = value as? [String: Any] ?? [:]
        if value != nil && value as? [String: Any] == nil { throw ManifestError("\(at) must be a mapping") }
        if (c["privileged"] as? Bool) == true {
            throw ManifestError("\(at).privileged true is refused: a container never gets the host's privileges")
        }
        if (c["allowPrivilegeEscalation"] as? Bool) == true {
            throw ManifestError("\(at).allowPrivilegeEscalation true is refused: containers run with no_new_privs")
        }
        var out = SecurityContext()
        let caps = c["capabilities"] as? [String: Any] ?? [:]
        let add = (caps["add"] as? [Any] ?? []).map { "\($0)" }
        for name in add
        where !SecurityContextRequest.defaultCapabilities.contains(name.uppercased().replacingOccurrences(of: "CAP_", with: "")) {
            throw ManifestError("\(at).capabilities.add \(name) is refused: a container may have only Docker's default capabilities")
        }
        let drop = (caps["drop"] as? [Any] ?? []).map { "\($0)" }
        if !add.isEmpty || !drop.isEmpty { out.Capabilities = SecurityContext.CapabilityChanges(Add: add, Drop: drop) }
        for (kube, field) in [("runAsUser", \SecurityContext.RunAsUser), ("runAsGroup", \SecurityContext.RunAsGroup)] {
            guard let v = c[kube] ?? pod[kube] else { continue }
            guard let n = v as? Int, (0...65535).contains(n) else {
                throw ManifestError("\(at).\(kube) must be an id from 0 to 65535, not \(v)")
            }
            out[keyPath: field] = Int64(n)
        }
        for (kube, field) in [
            ("runAsNonRoot", \SecurityContext.RunAsNonRoot), ("readOnlyRootFilesystem", \SecurityContext.ReadOnlyRootFilesystem),
        ] {
            guard let v = c[kube] ?? (kube == "runAsNonRoot" ? pod[kube] : nil) else { continue }
            guard let b = v as? Bool else { throw ManifestError("\(at).\(kube) must be true or false, not \(v)") }
            out[keyPath: field] = b
        }
        return out == SecurityContext() ? nil : out
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
