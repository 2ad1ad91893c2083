import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCModel
import IMCStore

/// Events of caches and Pods, as `kubectl describe` and `kubectl get events` read them.
extension KubernetesAPI {
    func events(_ call: Call, namespace: String?) async throws -> Response {
        let revision = try await repository.revisions().current
        let selector = try Selector(call)
        var items: [JSON] = []
        // Events of cluster-scoped objects live in `default`, as the API server keeps them.
        if namespace == nil || namespace == "default" {
            let kind = selector.fields["involvedObject.kind"]
            if kind == nil || kind == "ImageCache" {
                var caches: [ImageCache]
                if let name = selector.fields["involvedObject.name"] {
                    caches = try await find(name, call.account).map { [$0] } ?? []
                } else {
                    caches = try await all(call.account)
                }
                for cache in caches {
                    items += Self.events(of: cache).filter { selector.matches($0) }
                }
            }
        }
        let kind = selector.fields["involvedObject.kind"]
        if kind == nil || kind == "Pod" {
            let pods = try await pods(call.account, namespace: namespace).filter { pod in
                selector.fields["involvedObject.name"].map { $0 == pod.name } ?? true
            }
            for pod in pods { items += Self.events(of: pod).filter { selector.matches($0) } }
        }
        return Self.respond(List.of(items, kind: "EventList", apiVersion: "v1", revision: revision))
    }

    static func events(of cache: ImageCache) -> [JSON] {
        events(
            cache.events, of: ImageCacheObject.object(cache), id: cache.id, namespace: "default", revision: cache.revision)
    }

    /// `events` of an object (`object`, its store id `id`) as core/v1 Events: what `kubectl
    /// describe` lists. Events of a cluster-scoped object live in `default`, as the API server
    /// keeps them.
    static func events(_ events: [CacheEvent], of object: JSON, id: String, namespace: String, revision: Int64?) -> [JSON] {
        let name = object["metadata"]?["name"]?.string ?? id
        var involved: JSON = [
            "apiVersion": object["apiVersion"] ?? "v1", "kind": object["kind"] ?? "", "name": .string(name),
            "uid": object["metadata"]?["uid"] ?? "",
        ]
        if let ns = object["metadata"]?["namespace"] { involved["namespace"] = ns }
        return events.enumerated().map { i, event in
            [
                "apiVersion": "v1", "kind": "Event",
                "metadata": [
                    "name": .string("\(name).\(id).\(i)"), "namespace": .string(namespace),
                    "uid": .string(ImageCacheObject.uid("\(id)/event/\(i)")), "resourceVersion": .string("\(revision ?? 0)"),
                    "creationTimestamp": .string(timestamp(event.firstTimestamp)),
                ],
                "involvedObject": involved,
                "reason": .string(event.reason), "message": .string(event.message), "type": .string(event.type.rawValue),
                "firstTimestamp": .string(timestamp(event.firstTimestamp)), "lastTimestamp": .string(timestamp(event.lastTimestamp)),
                "count": .int(Int64(event.count)), "source": ["component": "imc", "host": "imc"], "reportingComponent": "imc",
            ]
        }
    }
}
