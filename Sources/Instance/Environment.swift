import Foundation
import IMCModel

/// Where an environment variable's value comes from when it is not written in the spec (a Pod's
/// `env[].valueFrom`), resolved when the container is started.
public enum EnvSource: Codable, Sendable, Equatable {
    /// `fieldRef`: a field of the Pod (`metadata.name`, `metadata.labels['app']`, `status.podIP`).
    case field(String)
    /// `resourceFieldRef`: what a container is held to (`limits.cpu`, `requests.memory`), in units
    /// of `divisor`.
    case resource(container: String?, resource: String, divisor: String?)
    /// `configMapKeyRef` / `secretKeyRef`: one key of an object of the Pod's namespace.
    case key(ConfigObjectKind, name: String, key: String, optional: Bool)
}

/// The objects a Pod's environment (and volumes) are read from.
public enum ConfigObjectKind: String, Codable, Sendable, Equatable, Hashable {
    case configMap = "ConfigMap"
    case secret = "Secret"

    /// As the kubelet names it in its errors (`configmap "x" not found`).
    public var word: String { self == .configMap ? "configmap" : "secret" }
}

/// `envFrom`: every key of a ConfigMap or Secret, as variables (with `prefix` before each name).
public struct EnvFromSource: Codable, Sendable, Equatable {
    public var kind: ConfigObjectKind
    public var name: String
    public var prefix: String?
    public var optional: Bool
    public init(kind: ConfigObjectKind, name: String, prefix: String? = nil, optional: Bool = false) {
        self.kind = kind
        self.name = name
        self.prefix = prefix
        self.optional = optional
    }
}

/// Why a container's environment could not be made: the kubelet's `CreateContainerConfigError`.
/// The container waits, and its start is tried again, until the object is there.
public struct ContainerConfigError: Error, Sendable, Equatable {
    public var container: String
    public var message: String
    public init(container: String, message: String) {
        self.container = container
        self.message = message
    }
}

/// A container's environment, resolved: the Pod's fields, the container's resources, and the keys
/// of the namespace's ConfigMaps and Secrets, as the kubelet makes it (`envFrom` first, then
/// `env`, a later name replacing an earlier one; `$(VAR)` is not expanded).
public enum Environment {
    /// The data of the objects a container's environment names, by kind and name (nil: there is
    /// no such object): each key's bytes (a Secret's or a ConfigMap's binaryData need not be text;
    /// a file gets them exactly, a variable as UTF-8 text).
    public typealias Objects = [ConfigObjectKind: [String: [String: [UInt8]]]]

    /// The objects `spec` reads.
    public static func objects(of spec: ContainerSpec) -> Set<ObjectName> {
        var out = Set<ObjectName>()
        for from in spec.envFrom ?? [] { out.insert(ObjectName(kind: from.kind, name: from.name)) }
        for e in spec.env { if case .key(let kind, let name, _, _) = e.source { out.insert(ObjectName(kind: kind, name: name)) } }
        return out
    }

    public struct ObjectName: Hashable, Sendable {
        public var kind: ConfigObjectKind
        public var name: String
        public init(kind: ConfigObjectKind, name: String) {
            self.kind = kind
            self.name = name
        }
    }

    /// The variables of `spec` in `instance`, with `objects` read from its namespace.
    public static func resolve(_ spec: ContainerSpec, of instance: Instance, objects: Objects) throws(ContainerConfigError)
        -> [(String, String)]
    {
        var names: [String] = []
        var values: [String: String] = [:]
        func set(_ name: String, _ value: String) {
            if values[name] == nil { names.append(name) }
            values[name] = value
        }
        func fail(_ message: String) -> ContainerConfigError { ContainerConfigError(container: spec.name, message: message) }
        for from in spec.envFrom ?? [] {
            guard let data = objects[from.kind]?[from.name] else {
                if from.optional { continue }
                throw fail("\(from.kind.word) \"\(from.name)\" not found")
            }
            // Keys that are not variable names are skipped, as the kubelet skips them.
            for (key, value) in data.sorted(by: { $0.key < $1.key }) {
                let name = (from.prefix ?? "") + key
                if isVariableName(name) { set(name, String(decoding: value, as: UTF8.self)) }
            }
        }
        for e in spec.env {
            guard let source = e.source else {
                set(e.name, e.value)
                continue
            }
            switch source {
            case .field(let path):
                set(
                    e.name, try field(path, of: instance).mapError { ContainerConfigError(container: spec.name, message: $0.message) }.get()
                )
            case .resource(let container, let resource, let divisor):
                let target = (instance.initContainers + instance.containers).first { $0.name == (container ?? spec.name) } ?? spec
                guard let value = Self.resource(resource, of: target, in: instance, divisor: divisor) else {
                    throw fail("resourceFieldRef \(resource) of container \(container ?? spec.name) cannot be given")
                }
                set(e.name, value)
            case .key(let kind, let name, let key, let optional):
                guard let data = objects[kind]?[name] else {
                    if optional { continue }
                    throw fail("\(kind.word) \"\(name)\" not found")
                }
                guard let value = data[key] else {
                    if optional { continue }
                    throw fail("couldn't find key \(key) in \(kind.rawValue) \(instance.kubernetes?.namespace ?? "default")/\(name)")
                }
                set(e.name, String(decoding: value, as: UTF8.self))
            }
        }
        return names.map { ($0, values[$0]!) }
    }

    /// The field paths a `fieldRef` may name (the kubelet's, less those of a host imc does not
    /// show: `status.hostIP`).
    public static let fieldPaths = [
        "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations", "status.podIP",
        "status.podIPs", "spec.nodeName", "spec.serviceAccountName",
    ]

    /// Whether `path` is a field a `fieldRef` may name (`metadata.labels['app']` included).
    public static func isFieldPath(_ path: String) -> Bool {
        if fieldPaths.contains(path) { return true }
        for prefix in ["metadata.labels['", "metadata.annotations['"] where path.hasPrefix(prefix) && path.hasSuffix("']") {
            return path.count > prefix.count + 2
        }
        return false
    }

    static func field(_ path: String, of i: Instance) -> Result<String, ContainerConfigError> {
        let k = i.kubernetes
        func subscripted(_ prefix: String, _ map: [String: String]) -> String? {
            guard path.hasPrefix(prefix + "['"), path.hasSuffix("']") else { return nil }
            return map[String(path.dropFirst(prefix.count + 2).dropLast(2))] ?? ""
        }
        func lines(_ map: [String: String]) -> String {
            map.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: "\n")
        }
        switch path {
        case "metadata.name": return .success(i.name)
        case "metadata.namespace": return .success(k?.namespace ?? "default")
        case "metadata.uid": return .success(k?.uid ?? i.id)
        case "metadata.labels": return .success(lines(k?.labels ?? [:]))
        case "metadata.annotations": return .success(lines(k?.annotations ?? [:]))
        case "status.podIP", "status.podIPs": return .success(i.privateIP ?? "")
        case "spec.nodeName": return .success(i.node ?? "imc")
        case "spec.serviceAccountName": return .success("default")
        default:
            if let v = subscripted("metadata.labels", k?.labels ?? [:]) ?? subscripted("metadata.annotations", k?.annotations ?? [:]) {
                return .success(v)
            }
            return .failure(ContainerConfigError(container: "", message: "fieldRef \(path) is not a field imc gives"))
        }
    }

    /// `limits.cpu`/`requests.cpu` in cores (rounded up, or in `divisor` units such as `1m`),
    /// `limits.memory`/`requests.memory` in bytes (or `divisor` units such as `1Mi`).
    static func resource(_ resource: String, of c: ContainerSpec, in i: Instance, divisor: String?) -> String? {
        switch resource {
        case "limits.cpu", "requests.cpu":
            let cores = c.cpu ?? i.cpu
            let unit: Double
            switch divisor ?? "1" {
            case "1": unit = 1
            case "1m": unit = 0.001
            default: return nil
            }
            return String(Int((cores / unit).rounded(.up)))
        case "limits.memory", "requests.memory":
            let bytes = (c.memory ?? i.memory) * 1_073_741_824
            let units: [String: Double] = [
                "1": 1, "1k": 1e3, "1M": 1e6, "1G": 1e9, "1Ki": 1024, "1Mi": 1_048_576, "1Gi": 1_073_741_824,
            ]
            guard let unit = units[divisor ?? "1"] else { return nil }
            return String(Int((bytes / unit).rounded(.up)))
        case "limits.ephemeral-storage", "requests.ephemeral-storage":
            guard let size = i.diskSizeGiB else { return nil }
            return String(Int64(size) * 1_073_741_824)
        default: return nil
        }
    }

    /// The divisors `resourceFieldRef` takes here.
    public static func isDivisor(_ resource: String, _ divisor: String) -> Bool {
        resource.hasSuffix(".cpu") ? ["1", "1m"].contains(divisor) : ["1", "1k", "1M", "1G", "1Ki", "1Mi", "1Gi"].contains(divisor)
    }

    public static let resources = [
        "limits.cpu", "requests.cpu", "limits.memory", "requests.memory", "limits.ephemeral-storage", "requests.ephemeral-storage",
    ]

    /// A C identifier-ish name the kubelet takes (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
    public static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return name.utf8.allSatisfy {
            ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 || $0 == 46
        }
    }
}
