/// The OCI runtime specification's `config.json`, as Codable values (the fields imc writes;
/// names as the specification spells them). A misspelt field is a compile error here, not a
/// container that silently runs without it.
public struct OCISpec: Codable, Sendable, Equatable {
    public var ociVersion = "1.0.2"
    public var process: Process
    public var root: Root
    public var hostname: String?
    public var mounts: [Mount]
    public var linux: Linux
    /// For gVisor: which sandbox a container joins (`io.kubernetes.cri.container-type`,
    /// `io.kubernetes.cri.sandbox-id`, as containerd's CRI plugin writes them).
    public var annotations: [String: String]?

    public init(process: Process, root: Root, hostname: String?, mounts: [Mount], linux: Linux, annotations: [String: String]? = nil) {
        self.annotations = annotations
        self.process = process
        self.root = root
        self.hostname = hostname
        self.mounts = mounts
        self.linux = linux
    }

    public struct Process: Codable, Sendable, Equatable {
        public var terminal = false
        public var user: User
        public var args: [String]
        public var env: [String]
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]
        public var noNewPrivileges: Bool
        public var oomScoreAdj: Int?
    }

    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var additionalGids: [UInt32]?
    }

    public struct Capabilities: Codable, Sendable, Equatable {
        public var bounding: [String]
        public var effective: [String]
        public var permitted: [String]
        public var inheritable: [String]?
        public var ambient: [String]?
    }

    public struct Rlimit: Codable, Sendable, Equatable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
    }

    public struct Root: Codable, Sendable, Equatable {
        public var path: String
        public var readonly: Bool
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var destination: String
        public var type: String
        public var source: String
        public var options: [String]

        public init(destination: String, type: String, source: String, options: [String]) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }
    }

    public struct Linux: Codable, Sendable, Equatable {
        public var cgroupsPath: String?
        public var resources: Resources?
        public var namespaces: [Namespace]
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public var maskedPaths: [String]
        public var readonlyPaths: [String]
        public var seccomp: Seccomp?
    }

    public struct Namespace: Codable, Sendable, Equatable {
        public var type: String
        public var path: String?
    }

    public struct IDMapping: Codable, Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
    }

    public struct Resources: Codable, Sendable, Equatable {
        public var devices: [DeviceRule]
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
    }

    public struct DeviceRule: Codable, Sendable, Equatable {
        public var allow: Bool
        public var access: String
    }

    public struct Memory: Codable, Sendable, Equatable {
        public var limit: Int64?
        public var swap: Int64?
    }

    public struct CPU: Codable, Sendable, Equatable {
        public var quota: Int64?
        public var period: UInt64?
        public var shares: UInt64?
    }

    public struct Pids: Codable, Sendable, Equatable {
        public var limit: Int64
    }

    public struct Seccomp: Codable, Sendable, Equatable {
        public var defaultAction: String
        public var architectures: [String]?
        public var syscalls: [Syscall]
    }

    public struct Syscall: Codable, Sendable, Equatable {
        public var names: [String]
        public var action: String
        public var errnoRet: UInt32?
        public var args: [Arg]?
    }

    public struct Arg: Codable, Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
    }
}
