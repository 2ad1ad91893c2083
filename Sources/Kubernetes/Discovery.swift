import Foundation

/// What a client reads before anything else: the version, the groups and their resources, and
/// the served groups (the ImageCache CustomResourceDefinition is `ImageCacheSchema`'s).
enum Discovery {
    /// The Kubernetes version whose API this door speaks.
    static let version: JSON = [
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-imc", "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "", "compiler": "imc", "platform": "linux/amd64",
    ]

    static func coreVersions(_ authority: String) -> JSON {
        [
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(authority)]],
        ]
    }

    static let servedGroups = ["eks.cloud.tencent.com", "apiextensions.k8s.io"]

    static func group(_ name: String) -> JSON? {
        guard servedGroups.contains(name) else { return nil }
        let version: JSON = ["groupVersion": .string("\(name)/v1"), "version": "v1"]
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name), "versions": [version], "preferredVersion": version]
    }

    static var groups: JSON {
        var list = servedGroups.compactMap(group)
        for i in list.indices {
            list[i]["kind"] = nil
            list[i]["apiVersion"] = nil
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(list)]
    }

    static func resourceList(_ groupVersion: String) -> JSON {
        [
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(groupVersion),
            "resources": .array((Resource.byGroupVersion[groupVersion] ?? []).flatMap(\.discovery)),
        ]
    }

    /// Whether `parts` name a collection or an object of a served resource (a method it does
    /// not allow is then 405, not 404).
    static func knownPath(_ parts: [String]) -> Bool {
        Resource.byGroupVersion.values.joined().contains { resource in
            let base = resource.path().split(separator: "/").map(String.init)
            return parts.starts(with: base) || parts.contains(resource.name)
        }
    }
}
