import Foundation
import IMCKubernetesProtobuf

/// The protobuf bodies kubectl's typed commands send (`kubectl create namespace`, `kubectl create
/// secret docker-registry`: `application/vnd.kubernetes.protobuf`), read into the same JSON the
/// other commands send. The envelope is `k8s\0` and a `runtime.Unknown` (its type meta, then the
/// object's own message); only Namespace and Secret are read, which is all those commands make.
/// The messages are swift-protobuf's, generated from `protos/` (`IMCKubernetesProtobuf`).
enum KubernetesProtobuf {
    static let mediaType = "application/vnd.kubernetes.protobuf"

    /// The metadata as a JSON client sends it: empty fields absent (Go writes them all, empty).
    static func objectMeta(_ meta: KubeObjectMeta) -> JSON {
        var out: [String: JSON] = [:]
        for (key, value) in [("name", meta.name), ("generateName", meta.generateName), ("namespace", meta.namespace)] where !value.isEmpty {
            out[key] = .string(value)
        }
        if !meta.labels.isEmpty { out["labels"] = .object(meta.labels.mapValues(JSON.string)) }
        if !meta.annotations.isEmpty { out["annotations"] = .object(meta.annotations.mapValues(JSON.string)) }
        return .object(out)
    }

    /// The object in a protobuf body, as JSON; nil when it is not one this door reads (or not
    /// protobuf at all).
    static func decode(_ body: [UInt8]) -> JSON? {
        guard body.count > 4, Array(body.prefix(4)) == [0x6b, 0x38, 0x73, 0x00],
            let unknown = try? KubeUnknown(serializedBytes: Array(body.dropFirst(4)))
        else { return nil }
        let kind = unknown.typeMeta.kind
        var object: [String: JSON] = ["apiVersion": .string(unknown.typeMeta.apiVersion), "kind": .string(kind)]
        switch kind {
        case "Namespace":
            guard let namespace = try? KubeNamespace(serializedBytes: unknown.raw) else { return nil }
            object["metadata"] = objectMeta(namespace.metadata)
        case "Secret":
            guard let secret = try? KubeSecret(serializedBytes: unknown.raw) else { return nil }
            object["metadata"] = objectMeta(secret.metadata)
            object["data"] = .object(secret.data.mapValues { .string($0.base64EncodedString()) })
            if secret.hasType { object["type"] = .string(secret.type) }
            if !secret.stringData.isEmpty { object["stringData"] = .object(secret.stringData.mapValues(JSON.string)) }
        default:
            return nil
        }
        return .object(object)
    }
}
