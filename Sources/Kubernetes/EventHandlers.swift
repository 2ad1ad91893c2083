import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCKubernetesModels
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
                var caches: [CacheDocument]
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

    static func events(of document: CacheDocument) -> [JSON] {
        events(
            document.cache.events, of: ImageCaches.json(document), id: document.cache.id, namespace: "default",
            revision: document.cache.revision)
    }

    /// `events` of an object (`object`, its store id `id`) as core/v1 Events: what `kubectl
    /// describe` lists. Events of a cluster-scoped object live in `default`, as the API server
    /// keeps them.
    static func events(_ events: [CacheEvent], of object: JSON, id: String, namespace: String, revision: Int64?) -> [JSON] {
        let name = object["metadata"]?["name"]?.string ?? id
        let involved = ObjectReference(
            apiVersion: object["apiVersion"]?.string ?? "v1", kind: object["kind"]?.string ?? "", name: name,
            namespace: object["metadata"]?["namespace"]?.string, uid: object["metadata"]?["uid"]?.string ?? "")
        let encoder = JSONValueEncoder()
        return events.enumerated().map { i, event in
            var metadata = ObjectMeta(name: "\(name).\(id).\(i)", namespace: namespace)
            metadata.uid = ImageCaches.uid("\(id)/event/\(i)")
            metadata.resourceVersion = "\(revision ?? 0)"
            metadata.creationTimestamp = timestamp(event.firstTimestamp)
            let typed = Event(
                metadata: metadata, involvedObject: involved, reason: event.reason, message: event.message, type: event.type.rawValue,
                firstTimestamp: timestamp(event.firstTimestamp), lastTimestamp: timestamp(event.lastTimestamp), count: event.count,
                component: "imc")
            return (try? encoder.encode(typed)) ?? [:]
        }
    }
}
