import Foundation
import IMCModel

/// A Pod's volume: a directory its containers mount.
public struct VolumeSpec: Codable, Sendable, Equatable {
    public var name: String
    public var source: VolumeSource
    public init(name: String, source: VolumeSource) {
        self.name = name
        self.source = source
    }

    /// Whether `name` is a DNS label, as a volume's name must be.
    public static func isName(_ name: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        return (1...63).contains(name.count) && name.allSatisfy(allowed.contains) && name.first != "-" && name.last != "-"
    }
}

public enum VolumeSource: Codable, Sendable, Equatable {
    /// A directory on the instance's disk, or (`memory`) a tmpfs counted in the memory of the
    /// container that writes it; `sizeLimitBytes` is the tmpfs's size, or on the disk the most it
    /// may hold before the Pod is evicted.
    case emptyDir(memory: Bool, sizeLimitBytes: Int64?)
    /// Files imc writes from ConfigMaps, Secrets and the Pod's own fields, read-only, replaced
    /// whole (an atomic symlink swap) when what they come from changes.
    case files(FileVolume)
    /// An NFS export (`server`: a host name or an address; `path`: the export's absolute path),
    /// mounted on the node by imc's userspace client, one process per volume.
    case nfs(server: String, path: String, readOnly: Bool)

    /// Whether `server` and `path` can name an NFS export: a host name or an IPv4 address (no
    /// port, no user), and an absolute, clean path.
    public static func nfsProblem(server: String, path: String) -> (field: String, message: String)? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        if server.isEmpty || server.utf8.count > 253 || !server.allSatisfy(allowed.contains) || server.hasPrefix("-") {
            return ("server", "\"\(server.prefix(60))\" is not a host name or an IPv4 address")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if !path.hasPrefix("/") || path.utf8.count > 1024 || parts.contains(where: { $0 == ".." || $0 == "." })
            || path.contains("//") || path.utf8.contains(0)
        {
            return ("path", "\"\(path.prefix(80))\" must be an absolute, clean path")
        }
        return nil
    }
}

/// A configMap, secret, downwardAPI or projected volume.
public struct FileVolume: Codable, Sendable, Equatable {
    /// How the Pod asked for it (`configMap`, `secret`, `downwardAPI`, `projected`), to show it.
    public var kind: String
    public var defaultMode: Int
    public var sources: [FileProjection]
    public init(kind: String, defaultMode: Int, sources: [FileProjection]) {
        self.kind = kind
        self.defaultMode = defaultMode
        self.sources = sources
    }
}

public enum FileProjection: Codable, Sendable, Equatable {
    /// A ConfigMap's or Secret's keys (all, or `items`), each a file.
    case object(ConfigObjectKind, name: String, items: [KeyPath]?, optional: Bool)
    /// Fields of the Pod and resources of its containers, each a file.
    case downward([DownwardFile])
}

public struct KeyPath: Codable, Sendable, Equatable {
    public var key: String
    public var path: String
    public var mode: Int?
    public init(key: String, path: String, mode: Int? = nil) {
        self.key = key
        self.path = path
        self.mode = mode
    }
}

public struct DownwardFile: Codable, Sendable, Equatable {
    public var path: String
    /// `.field` or `.resource` (the container named).
    public var source: EnvSource
    public var mode: Int?
    public init(path: String, source: EnvSource, mode: Int? = nil) {
        self.path = path
        self.source = source
        self.mode = mode
    }
}

/// Where a container sees a volume.
extension VolumeMountSpec {
    /// Why a mount path is refused (nil: taken): it must be absolute and clean, not `/`, not
    /// under the runtime's `/proc`, `/sys` or `/dev`, and not one `taken` already.
    public static func mountPathProblem(_ path: String, taken: [VolumeMountSpec]) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), path != "/", !parts.contains(where: { $0 == ".." || $0 == "." }), !path.contains("//"),
            !path.hasSuffix("/"), path.utf8.count <= 1024, !path.utf8.contains(0)
        else { return "\"\(path.prefix(80))\" must be an absolute, clean path other than /" }
        for reserved in ["/proc", "/sys", "/dev"] where path == reserved || path.hasPrefix(reserved + "/") {
            return "\"\(path.prefix(80))\" is refused: \(reserved) is the runtime's"
        }
        if taken.contains(where: { $0.mountPath == path }) { return "\"\(path.prefix(80))\" must be unique" }
        return nil
    }
}

public struct VolumeMountSpec: Codable, Sendable, Equatable {
    public var name: String
    public var mountPath: String
    public var readOnly: Bool
    /// A path inside the volume, mounted instead of its root (resolved inside the volume: no
    /// `..` or symlink leads out of it).
    public var subPath: String?
    public init(name: String, mountPath: String, readOnly: Bool = false, subPath: String? = nil) {
        self.name = name
        self.mountPath = mountPath
        self.readOnly = readOnly
        self.subPath = subPath
    }
}

/// The files of a file volume, made from the Pod and the objects it names.
public enum VolumeFiles {
    public struct File: Sendable, Equatable {
        public var path: String
        public var data: [UInt8]
        public var mode: Int
        public init(path: String, data: [UInt8], mode: Int) {
            self.path = path
            self.data = data
            self.mode = mode
        }
    }

    /// The objects `volume` reads.
    public static func objects(of volume: FileVolume) -> Set<Environment.ObjectName> {
        var out = Set<Environment.ObjectName>()
        for source in volume.sources { if case .object(let kind, let name, _, _) = source { out.insert(.init(kind: kind, name: name)) } }
        return out
    }

    /// The files, by path; a missing object or key that is not optional is the kubelet's error
    /// (the Pod waits: `FailedMount`).
    public static func render(_ volume: FileVolume, name: String, of instance: Instance, objects: Environment.Objects)
        throws(ContainerConfigError) -> [File]
    {
        var files: [String: File] = [:]
        func fail(_ message: String) -> ContainerConfigError {
            ContainerConfigError(container: "", message: "MountVolume.SetUp failed for volume \"\(name)\": \(message)")
        }
        for source in volume.sources {
            switch source {
            case .object(let kind, let objectName, let items, let optional):
                guard let data = objects[kind]?[objectName] else {
                    if optional { continue }
                    throw fail("\(kind.word) \"\(objectName)\" not found")
                }
                if let items {
                    for item in items {
                        guard let value = data[item.key] else {
                            if optional { continue }
                            throw fail("configuration key \"\(item.key)\" not found in \(kind.rawValue) \(objectName)")
                        }
                        files[item.path] = File(path: item.path, data: value, mode: item.mode ?? volume.defaultMode)
                    }
                } else {
                    for (key, value) in data { files[key] = File(path: key, data: value, mode: volume.defaultMode) }
                }
            case .downward(let items):
                for item in items {
                    var spec = instance.containers.first ?? ContainerSpec(name: "", image: "")
                    if case .resource(let container, _, _) = item.source, let c = container,
                        let named = (instance.initContainers + instance.containers).first(where: { $0.name == c })
                    {
                        spec = named
                    }
                    spec.env = [EnvVar(name: "V", value: "", source: item.source)]
                    spec.envFrom = nil
                    let value: String
                    do { value = try Environment.resolve(spec, of: instance, objects: [:]).first?.1 ?? "" } catch {
                        throw fail(error.message)
                    }
                    files[item.path] = File(path: item.path, data: Array(value.utf8), mode: item.mode ?? volume.defaultMode)
                }
            }
        }
        return files.values.sorted { $0.path < $1.path }
    }

    /// Why `path` cannot be a file's path in a volume (absolute, `..`, empty), or nil.
    public static func pathProblem(_ path: String) -> String? {
        if path.isEmpty { return "must not be empty" }
        if path.hasPrefix("/") { return "must be a relative path" }
        if path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0.isEmpty }) {
            return "must not contain '..' or empty parts"
        }
        if path.hasPrefix("..") { return "must not start with '..'" }
        return nil
    }
}
