import Foundation
import IMCKubernetesProtobuf

/// The protobuf bodies kubectl's typed commands send (`kubectl create namespace`, `kubectl create
/// secret docker-registry`: `application/vnd.kubernetes.protobuf`), read into the same JSON the
/// other commands send. The envelope is `k8s\0` and a `runtime.Unknown` (its type meta, then the
/// object's own message); only Namespace, Secret and ConfigMap are read, which is all those commands make.
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
        case "ConfigMap":
            // ConfigMap {metadata = 1; map<string,string> data = 2; map<string,bytes> binaryData = 3;
            // bool immutable = 4}, read field by field (its message is not among the generated ones).
            guard let fields = ProtobufFields.read(Array(unknown.raw)) else { return nil }
            var data: [String: JSON] = [:]
            var binary: [String: JSON] = [:]
            for field in fields {
                switch (field.number, field.value) {
                case (1, .bytes(let bytes)):
                    guard let meta = try? KubeObjectMeta(serializedBytes: bytes) else { return nil }
                    object["metadata"] = objectMeta(meta)
                case (2, .bytes(let entry)), (3, .bytes(let entry)):
                    guard let pair = ProtobufFields.read(entry) else { return nil }
                    var key = ""
                    var value: [UInt8] = []
                    for f in pair {
                        if case .bytes(let b) = f.value { if f.number == 1 { key = String(decoding: b, as: UTF8.self) } else { value = b } }
                    }
                    if field.number == 2 {
                        data[key] = .string(String(decoding: value, as: UTF8.self))
                    } else {
                        binary[key] = .string(Data(value).base64EncodedString())
                    }
                case (4, .varint(let v)): object["immutable"] = .bool(v != 0)
                default: return nil
                }
            }
            if !data.isEmpty { object["data"] = .object(data) }
            if !binary.isEmpty { object["binaryData"] = .object(binary) }
        default:
            return nil
        }
        return .object(object)
    }
}

/// A message's fields in protobuf's wire format: varints and length-delimited bytes (what a
/// ConfigMap holds); nil for anything else or a body that ends inside a field.
enum ProtobufFields {
    enum Value {
        case varint(UInt64)
        case bytes([UInt8])
    }

    static func read(_ bytes: [UInt8]) -> [(number: Int, value: Value)]? {
        var out: [(number: Int, value: Value)] = []
        var i = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]
                i += 1
                result |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        while i < bytes.count {
            guard let key = varint(), key >> 3 > 0, key >> 3 < 1 << 29 else { return nil }
            switch key & 7 {
            case 0:
                guard let v = varint() else { return nil }
                out.append((Int(key >> 3), .varint(v)))
            case 2:
                guard let n = varint(), n <= UInt64(bytes.count - i) else { return nil }
                out.append((Int(key >> 3), .bytes(Array(bytes[i..<(i + Int(n))]))))
                i += Int(n)
            default: return nil
            }
        }
        return out
    }
}
