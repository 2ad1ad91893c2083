import Foundation

/// The protobuf bodies kubectl's typed commands send (`kubectl create namespace`, `kubectl create
/// secret docker-registry`: `application/vnd.kubernetes.protobuf`), read into the same JSON the
/// other commands send. The envelope is `k8s\0` and a `runtime.Unknown` (its type meta, then the
/// object's own message); only Namespace and Secret are read, which is all those commands make.
enum KubernetesProtobuf {
    static let mediaType = "application/vnd.kubernetes.protobuf"

    /// Protobuf's wire format, read: each field's number and its varint or bytes.
    struct Reader {
        var bytes: ArraySlice<UInt8>

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while let byte = bytes.first {
                bytes = bytes.dropFirst()
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }

        /// The next field: its number and, for length-delimited ones, its bytes (varints are
        /// read and dropped, as are fixed-width ones).
        mutating func field() -> (number: Int, bytes: ArraySlice<UInt8>?)? {
            guard !bytes.isEmpty, let key = varint() else { return nil }
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: return varint().map { _ in (number, nil) }
            case 1:
                guard bytes.count >= 8 else { return nil }
                bytes = bytes.dropFirst(8)
                return (number, nil)
            case 2:
                guard let n = varint(), n <= UInt64(bytes.count) else { return nil }
                let value = bytes.prefix(Int(n))
                bytes = bytes.dropFirst(Int(n))
                return (number, value)
            case 5:
                guard bytes.count >= 4 else { return nil }
                bytes = bytes.dropFirst(4)
                return (number, nil)
            default: return nil
            }
        }

        /// Every length-delimited field, by number, in order.
        static func fields(_ bytes: ArraySlice<UInt8>) -> [(Int, ArraySlice<UInt8>)]? {
            var reader = Reader(bytes: bytes)
            var out: [(Int, ArraySlice<UInt8>)] = []
            while !reader.bytes.isEmpty {
                guard let (number, value) = reader.field() else { return nil }
                if let value { out.append((number, value)) }
            }
            return out
        }
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A `map<string, T>` entry: key (1) and value (2).
    static func entry(_ bytes: ArraySlice<UInt8>) -> (String, ArraySlice<UInt8>)? {
        guard let fields = Reader.fields(bytes) else { return nil }
        let key = fields.first { $0.0 == 1 }.map { string($0.1) } ?? ""
        let value = fields.first { $0.0 == 2 }?.1 ?? []
        return (key, value)
    }

    /// ObjectMeta: name (1), generateName (2), namespace (3), labels (11), annotations (12).
    static func objectMeta(_ bytes: ArraySlice<UInt8>) -> JSON? {
        guard let fields = Reader.fields(bytes) else { return nil }
        var meta: [String: JSON] = [:]
        var labels: [String: JSON] = [:]
        var annotations: [String: JSON] = [:]
        for (number, value) in fields {
            switch number {
            case 1: meta["name"] = .string(string(value))
            case 2: meta["generateName"] = .string(string(value))
            case 3: meta["namespace"] = .string(string(value))
            case 11: if let (k, v) = entry(value) { labels[k] = .string(string(v)) }
            case 12: if let (k, v) = entry(value) { annotations[k] = .string(string(v)) }
            default: break
            }
        }
        if !labels.isEmpty { meta["labels"] = .object(labels) }
        if !annotations.isEmpty { meta["annotations"] = .object(annotations) }
        return .object(meta)
    }

    /// The object in a protobuf body, as JSON; nil when it is not one this door reads.
    static func decode(_ body: [UInt8]) -> JSON? {
        guard body.count > 4, Array(body.prefix(4)) == [0x6b, 0x38, 0x73, 0x00] else { return nil }
        // runtime.Unknown: typeMeta (1: apiVersion 1, kind 2), raw (2).
        guard let unknown = Reader.fields(body[4...]) else { return nil }
        guard let typeMeta = unknown.first(where: { $0.0 == 1 }).flatMap({ Reader.fields($0.1) }),
            let raw = unknown.first(where: { $0.0 == 2 })?.1, let fields = Reader.fields(raw)
        else { return nil }
        let apiVersion = typeMeta.first { $0.0 == 1 }.map { string($0.1) } ?? ""
        let kind = typeMeta.first { $0.0 == 2 }.map { string($0.1) } ?? ""
        var object: [String: JSON] = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        switch kind {
        case "Namespace":
            object["metadata"] = fields.first { $0.0 == 1 }.flatMap { objectMeta($0.1) } ?? [:]
        case "Secret":
            // metadata (1), data (2: map<string, bytes>), type (3), stringData (4).
            var data: [String: JSON] = [:]
            var stringData: [String: JSON] = [:]
            for (number, value) in fields {
                switch number {
                case 1: object["metadata"] = objectMeta(value) ?? [:]
                case 2: if let (k, v) = entry(value) { data[k] = .string(Data(v).base64EncodedString()) }
                case 3: object["type"] = .string(string(value))
                case 4: if let (k, v) = entry(value) { stringData[k] = .string(string(v)) }
                default: break
                }
            }
            object["data"] = .object(data)
            if !stringData.isEmpty { object["stringData"] = .object(stringData) }
        default:
            return nil
        }
        return .object(object)
    }
}
