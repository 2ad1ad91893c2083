/// A container's `SecurityContext`: the real service's `Capabilities` (`Add`, `Drop`), and
/// imc's extensions with Kubernetes' meanings (`RunAsUser`, `RunAsGroup`, `RunAsNonRoot`,
/// `ReadOnlyRootFilesystem`, `Privileged`, `AllowPrivilegeEscalation`). What asks for the host
/// is refused, naming the field: a tenant's container never gets more than Docker's default
/// capabilities, never privileges, never a way to gain them.
public struct SecurityContextRequest: Sendable, Equatable {
    public var runAsUser: UInt32?
    public var runAsGroup: UInt32?
    public var runAsNonRoot: Bool?
    public var readOnlyRootFilesystem: Bool?
    public var drop: [String] = []

    /// Docker's default capabilities, the most a container has; `Add` may name only these.
    public static let defaultCapabilities: Set<String> = [
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
        "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    ]

    public init() {}

    /// Parses `value` found at `path` (`Containers[0].SecurityContext`).
    public init(_ value: JSONValue, path: String) throws(APIError) {
        guard case .object(let fields) = value else {
            if case .null = value { return }
            throw .invalidParameterValue("\(path) must be an object")
        }
        let known: Set<String> = [
            "Capabilities", "RunAsUser", "RunAsGroup", "RunAsNonRoot", "ReadOnlyRootFilesystem", "Privileged", "AllowPrivilegeEscalation",
        ]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw .unknownParameter("\(path).\(unknown) is not a SecurityContext field")
        }
        func bool(_ name: String) throws(APIError) -> Bool? {
            switch fields[name] {
            case nil, .null?: return nil
            case .bool(let b)?: return b
            default: throw .invalidParameterValue("\(path).\(name) must be true or false")
            }
        }
        func id(_ name: String) throws(APIError) -> UInt32? {
            switch fields[name] {
            case nil, .null?: return nil
            case .number(let n)? where n >= 0 && n <= 65535 && n == n.rounded(): return UInt32(n)
            case let v?: throw .invalidParameterValue("\(path).\(name) must be an id from 0 to 65535, not \(v.text.prefix(40))")
            }
        }
        if try bool("Privileged") == true {
            throw .invalidParameterValue("\(path).Privileged true is refused: a container never gets the host's privileges")
        }
        if try bool("AllowPrivilegeEscalation") == true {
            throw .invalidParameterValue(
                "\(path).AllowPrivilegeEscalation true is refused: containers run with no_new_privs (setuid programs gain nothing)")
        }
        runAsUser = try id("RunAsUser")
        runAsGroup = try id("RunAsGroup")
        runAsNonRoot = try bool("RunAsNonRoot")
        readOnlyRootFilesystem = try bool("ReadOnlyRootFilesystem")
        switch fields["Capabilities"] {
        case nil, .null?: break
        case .object(let caps)?:
            if let unknown = caps.keys.sorted().first(where: { $0 != "Add" && $0 != "Drop" }) {
                throw .unknownParameter("\(path).Capabilities.\(unknown) is not a field; use Add or Drop")
            }
            func names(_ key: String) throws(APIError) -> [String] {
                switch caps[key] {
                case nil, .null?: return []
                case .array(let items)?:
                    var out: [String] = []
                    for item in items {
                        guard case .string(let s) = item else {
                            throw .invalidParameterValue("\(path).Capabilities.\(key) must list names")
                        }
                        out.append(Self.normalise(s))
                    }
                    return out
                default: throw .invalidParameterValue("\(path).Capabilities.\(key) must be a list of capability names")
                }
            }
            for name in try names("Add") where !Self.defaultCapabilities.contains(name) {
                throw .invalidParameterValue(
                    "\(path).Capabilities.Add \(name) is refused: a container may have only Docker's default capabilities")
            }
            drop = try names("Drop")
            for name in drop where name != "ALL" && !Self.defaultCapabilities.contains(name) && !Self.known(name) {
                throw .invalidParameterValue("\(path).Capabilities.Drop \(name) is not a capability")
            }
        default: throw .invalidParameterValue("\(path).Capabilities must be an object with Add and Drop")
        }
    }

    /// `net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are one name.
    static func normalise(_ s: String) -> String {
        let upper = s.uppercased()
        return upper.hasPrefix("CAP_") ? String(upper.dropFirst(4)) : upper
    }

    static func known(_ name: String) -> Bool {
        let all: Set<String> = [
            "AUDIT_CONTROL", "AUDIT_READ", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "DAC_READ_SEARCH", "IPC_LOCK", "IPC_OWNER",
            "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "NET_ADMIN", "NET_BROADCAST", "PERFMON", "SYS_ADMIN", "SYS_BOOT",
            "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG",
            "WAKE_ALARM",
        ]
        return all.contains(name)
    }
}

extension JSONValue {
    /// A short text of the value, for messages.
    var text: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? "\(Int64(n))" : "\(n)"
        case .string(let s): "\"\(s)\""
        case .array: "a list"
        case .object: "an object"
        }
    }
}
