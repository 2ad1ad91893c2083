/// Linux capabilities by name, as both doors take them (`net_admin`, `CAP_NET_ADMIN` and
/// `NET_ADMIN` are one name): a container has at most Docker's defaults; it may drop any. The
/// doors check requests against these, and the runtime gives containers these (`RuntimeSpec`).
public enum Capability {
    /// Docker's default capabilities in Docker's order, the most a container has.
    public static let dockerDefaultsInOrder = [
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
        "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    ]
    /// The same, as a set: an `add` may name only these.
    public static let dockerDefaults = Set(dockerDefaultsInOrder)

    /// The rest of the kernel's capabilities (a `drop` of one is a no-op, not a mistake).
    static let others: Set<String> = [
        "AUDIT_CONTROL", "AUDIT_READ", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "DAC_READ_SEARCH", "IPC_LOCK", "IPC_OWNER",
        "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "NET_ADMIN", "NET_BROADCAST", "PERFMON", "SYS_ADMIN", "SYS_BOOT",
        "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG",
        "WAKE_ALARM",
    ]

    /// The name without `CAP_`, upper case.
    public static func normalise(_ s: String) -> String {
        let upper = s.uppercased()
        return upper.hasPrefix("CAP_") ? String(upper.dropFirst(4)) : upper
    }

    /// Whether `name` (normalised) is a capability of the kernel, or `ALL`.
    public static func isKnown(_ name: String) -> Bool { name == "ALL" || dockerDefaults.contains(name) || others.contains(name) }
}
