import Foundation
import HTTPTypes
import Hummingbird
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel

/// A Pod's labels and annotations changed in place (`kubectl label`, `kubectl annotate`,
/// `kubectl edit`, `kubectl patch` of metadata, `kubectl replace`), as the API server allows: the
/// spec of a Pod does not change (imc refuses what the API server would, and more: a Pod's
/// containers are not replaced in place), nor its name, namespace or uid. The image-cache and
/// network annotations (`eks.tke.cloud.tencent.com/...`) were read when the Pod was made; a
/// change to them would be taken and not acted on, so it is refused naming the annotation.
extension KubernetesAPI {
    static let createTimeAnnotationPrefix = "eks.tke.cloud.tencent.com/"

    func changePod(_ call: Call, name: String, namespace: String?) async throws -> Response {
        guard let instances, let namespace, let found = try await findPod(name, namespace: namespace, call.account) else {
            throw KubernetesStatus.notFound(Resource.pods, name)
        }
        let type = call.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let change: PodChange
        switch (call.method, type) {
        case (.put, _): change = .replace(try await call.object())
        case (.patch, "application/merge-patch+json"), (.patch, "application/strategic-merge-patch+json"):
            change = .merge(try await call.object())
        case (.patch, "application/json-patch+json"):
            guard let operations = JSON.parse(try await call.body())?.array else {
                throw KubernetesStatus.badRequest("a JSON patch is a list of operations")
            }
            change = .jsonPatch(operations)
        case (.patch, "application/apply-patch+yaml"), (.patch, "application/apply-patch+json"):
            change = .apply(try await call.object())
        default: throw KubernetesStatus.unsupportedMedia(type)
        }
        let dryRun = call.query["dryRun"] == "All"
        if dryRun {
            return Self.respond(Pods.object(try Self.changed(found, by: change).applied(to: found)))
        }
        let id = found.id
        let updated = try await instances.repository.updateMetadata(id: id, account: call.account) { current in
            try Self.changed(current, by: change).applied(to: current).kubernetes ?? KubernetesMetadata(uid: "")
        }
        guard let updated else { throw KubernetesStatus.notFound(Resource.pods, name) }
        return Self.respond(Pods.object(updated))
    }

    /// What a client sends to change a Pod.
    enum PodChange: Sendable {
        case replace(JSON)
        case merge(JSON)
        case jsonPatch([JSON])
        case apply(JSON)
    }

    /// The labels and annotations a change leaves the Pod with.
    struct PodMetadataChange {
        var labels: [String: String]
        var annotations: [String: String]

        func applied(to pod: Instance) -> Instance {
            var out = pod
            var k = pod.kubernetes ?? KubernetesMetadata(uid: pod.id, namespace: "default")
            k.labels = labels
            k.annotations = annotations
            out.kubernetes = k
            return out
        }
    }

    /// The Pod as `change` would leave it, checked: a change of anything but labels and
    /// annotations, or of an annotation read at creation, is refused by its field.
    static func changed(_ pod: Instance, by change: PodChange) throws -> PodMetadataChange {
        let current = Pods.json(pod)
        let desired: JSON
        switch change {
        case .replace(let object): desired = object
        case .merge(let patch): desired = current.merging(patch: patch)
        case .jsonPatch(let operations): desired = try JSONPatch.apply(operations, to: current)
        case .apply(let applied):
            // Server-side apply: the labels and annotations it names are set; its spec, if it
            // names one, must be the Pod's.
            var merged = current
            var metadata = merged["metadata"] ?? [:]
            for key in ["labels", "annotations"] {
                if let given = applied["metadata"]?[key]?.object {
                    metadata[key] = .object((metadata[key]?.object ?? [:]).merging(given) { $1 })
                }
            }
            merged["metadata"] = metadata
            if let spec = applied["spec"] { merged["spec"] = current["spec"]?.merging(patch: spec) }
            desired = merged
        }
        let name = pod.name
        guard desired.object != nil, let metadata = desired["metadata"], metadata.object != nil else {
            throw KubernetesStatus.badRequest("the Pod sent is not an object with metadata")
        }
        if let version = metadata["resourceVersion"]?.string, !version.isEmpty, version != "\(pod.revision ?? 0)" {
            throw KubernetesStatus.conflict(
                Resource.pods, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        // The spec stays as it is (imc's Pods are not changed in place).
        if desired["spec"] != current["spec"] {
            throw KubernetesStatus.invalid(
                Resource.pods, name,
                causes: [("spec", "Forbidden: a Pod's spec cannot be changed where it runs; delete the Pod and create it again")])
        }
        // So do its name, namespace, uid and the other fields the server writes.
        for key in ["name", "namespace", "uid", "creationTimestamp", "generateName", "deletionTimestamp"] {
            if let given = metadata[key], given != .null, given != current["metadata"]?[key] {
                throw KubernetesStatus.invalid(Resource.pods, name, causes: [("metadata.\(key)", "Invalid value: field is immutable")])
            }
        }
        for key in metadata.object?.keys.sorted() ?? []
        where ![
            "name", "namespace", "uid", "creationTimestamp", "generateName", "deletionTimestamp", "labels", "annotations",
            "resourceVersion", "managedFields", "generation", "deletionGracePeriodSeconds",
        ].contains(key)
            && metadata[key] != current["metadata"]?[key] && metadata[key] != .null
        {
            throw KubernetesStatus.invalid(
                Resource.pods, name, causes: [("metadata.\(key)", "Forbidden: imc does not keep \(key) on a Pod")])
        }
        func map(_ key: String) throws -> [String: String] {
            guard let value = metadata[key], value != .null else { return [:] }
            guard let strings = value.stringMap else {
                throw KubernetesStatus.invalid(Resource.pods, name, causes: [("metadata.\(key)", "Invalid value: a map of strings")])
            }
            return strings
        }
        let labels = try map("labels")
        let annotations = try map("annotations")
        var causes: [(field: String, message: String)] = []
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            if let problem = MetadataRules.qualifiedNameProblem(key) { causes.append(("metadata.labels", problem)) }
            if let problem = MetadataRules.labelValueProblem(value) { causes.append(("metadata.labels", problem)) }
        }
        for key in annotations.keys.sorted() {
            if let problem = MetadataRules.qualifiedNameProblem(key) { causes.append(("metadata.annotations", problem)) }
        }
        if annotations.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) > 256 * 1024 {
            causes.append(("metadata.annotations", "Too long: must have at most 262144 bytes"))
        }
        // What was read at creation, and what the server writes (the instance's id): the Pod
        // as served carries both, and both stay as they are.
        let before = current["metadata"]?["annotations"]?.stringMap ?? [:]
        for key in Set(before.keys).union(annotations.keys).sorted()
        where key.hasPrefix(createTimeAnnotationPrefix) && before[key] != annotations[key] {
            causes.append(
                (
                    "metadata.annotations[\(key)]",
                    "Forbidden: read when the Pod was made (its cache, disk or network); it cannot be changed on a Pod that exists"
                ))
        }
        guard causes.isEmpty else { throw KubernetesStatus.invalid(Resource.pods, name, causes: causes) }
        let written = Set(before.keys).subtracting((pod.kubernetes?.annotations ?? [:]).keys)
        return PodMetadataChange(labels: labels, annotations: annotations.filter { !written.contains($0.key) })
    }
}

/// Kubernetes' rules for label keys and values and annotation keys (apimachinery's
/// `IsQualifiedName` and `IsValidLabelValue`).
enum MetadataRules {
    static func isNameChar(_ c: UInt8) -> Bool {
        (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 45 || c == 95 || c == 46
    }
    static func isAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) }

    /// `[prefix/]name`: the name 1-63 characters of alphanumerics, `-`, `_`, `.`, beginning and
    /// ending with an alphanumeric; the prefix a DNS subdomain.
    static func qualifiedNameProblem(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let shown = "Invalid value: \"\(key.prefix(80))\": "
        guard parts.count <= 2, let name = parts.last.map(Array.init) else {
            return shown
                + "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'"
        }
        let n = Array(String(name).utf8)
        guard !n.isEmpty, n.count <= 63, n.allSatisfy(isNameChar), isAlnum(n.first!), isAlnum(n.last!) else {
            return shown
                + "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)"
        }
        if parts.count == 2 {
            let prefix = Array(parts[0].utf8)
            let ok =
                !prefix.isEmpty && prefix.count <= 253
                && prefix.split(separator: 46, omittingEmptySubsequences: false).allSatisfy { label in
                    !label.isEmpty && label.count <= 63
                        && label.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
                        && label.first != 45 && label.last != 45
                }
            if !ok { return shown + "prefix part must be a lowercase RFC 1123 subdomain" }
        }
        return nil
    }

    /// Empty, or 1-63 characters of alphanumerics, `-`, `_`, `.`, beginning and ending with an
    /// alphanumeric.
    static func labelValueProblem(_ value: String) -> String? {
        let v = Array(value.utf8)
        if v.isEmpty { return nil }
        guard v.count <= 63, v.allSatisfy(isNameChar), isAlnum(v.first!), isAlnum(v.last!) else {
            return
                "Invalid value: \"\(value.prefix(80))\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)"
        }
        return nil
    }
}
