import Foundation

/// A kind of object the Kubernetes door serves, as discovery tells it.
public struct Resource: Sendable {
    /// "" for the core group.
    public let group: String
    public let version: String
    /// The plural, as in paths (`imagecaches`).
    public let name: String
    public let singular: String
    public let kind: String
    public let namespaced: Bool
    public let shortNames: [String]
    public let verbs: [String]
    /// Subresources served (`status`, `log`), each with its verbs.
    public let subresources: [(name: String, kind: String, verbs: [String])]
    public let categories: [String]

    /// `imagecaches.eks.cloud.tencent.com`, `pods`.
    public var qualifiedName: String { group.isEmpty ? name : "\(name).\(group)" }
    /// `eks.cloud.tencent.com/v1`, `v1`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// The path of the collection: `/apis/g/v/plural` or `/api/v1/namespaces/ns/plural`.
    public func path(namespace: String? = nil) -> String {
        let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { return "\(base)/namespaces/\(namespace)/\(name)" }
        return "\(base)/\(name)"
    }

    static let all = ["create", "delete", "get", "list", "patch", "update", "watch"]

    /// Named by its definition (`ImageCacheSchema`).
    public static let imageCaches = Resource(
        definition: ImageCacheSchema.shipped, verbs: all, subresources: [("status", "ImageCache", ["get"])])
    public static let events = Resource(
        group: "", version: "v1", name: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"],
        verbs: ["get", "list"], subresources: [], categories: [])
    public static let pods = Resource(
        group: "", version: "v1", name: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"],
        verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
        subresources: [
            ("log", "Pod", ["get"]), ("status", "Pod", ["get"]), ("exec", "PodExecOptions", ["create", "get"]),
            ("attach", "PodAttachOptions", ["create", "get"]), ("portforward", "PodPortForwardOptions", ["create", "get"]),
        ], categories: ["all"])
    public static let secrets = Resource(
        group: "", version: "v1", name: "secrets", singular: "secret", kind: "Secret", namespaced: true, shortNames: [],
        verbs: ["create", "delete", "get", "list"], subresources: [], categories: [])
    public static let configMaps = Resource(
        group: "", version: "v1", name: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"],
        verbs: ["create", "delete", "get", "list", "patch", "update"], subresources: [], categories: [])
    public static let namespaces = Resource(
        group: "", version: "v1", name: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, shortNames: ["ns"],
        verbs: ["create", "delete", "get", "list"], subresources: [], categories: [])
    public static let customResourceDefinitions = Resource(
        group: "apiextensions.k8s.io", version: "v1", name: "customresourcedefinitions", singular: "customresourcedefinition",
        kind: "CustomResourceDefinition", namespaced: false, shortNames: ["crd", "crds"], verbs: ["get", "list"], subresources: [],
        categories: ["api-extensions"])

    /// The resources of each group version served.
    static let byGroupVersion: [String: [Resource]] = [
        "v1": [namespaces, events, pods, secrets, configMaps],
        "eks.cloud.tencent.com/v1": [imageCaches],
        "apiextensions.k8s.io/v1": [customResourceDefinitions],
    ]

    /// The `APIResource` entries of discovery.
    var discovery: [JSON] {
        var entry: JSON = [
            "name": .string(name), "singularName": .string(singular), "namespaced": .bool(namespaced), "kind": .string(kind),
            "verbs": .array(verbs.map(JSON.string)),
        ]
        if !shortNames.isEmpty { entry["shortNames"] = .array(shortNames.map(JSON.string)) }
        if !categories.isEmpty { entry["categories"] = .array(categories.map(JSON.string)) }
        return [entry]
            + subresources.map {
                [
                    "name": .string("\(name)/\($0.name)"), "singularName": "", "namespaced": .bool(namespaced), "kind": .string($0.kind),
                    "verbs": .array($0.verbs.map(JSON.string)),
                ]
            }
    }
}
