import Foundation
import IMCModel
import IMCOS

/// What a container runs, resolved from its image's config and the request by Kubernetes' rules.
public struct ProcessSpec: Sendable, Equatable {
    public var args: [String]
    public var env: [String]
    public var cwd: String
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]

    public init(args: [String], env: [String], cwd: String, uid: UInt32 = 0, gid: UInt32 = 0, additionalGids: [UInt32] = []) {
        self.args = args
        self.env = env
        self.cwd = cwd
        self.uid = uid
        self.gid = gid
        self.additionalGids = additionalGids
    }

    /// Kubernetes' rules: `command` replaces the image's Entrypoint and, when given alone, drops
    /// its Cmd too; `args` replaces Cmd. Request variables override the image's by name. The
    /// working directory is the request's, else the image's, else `/`.
    public static func resolve(
        image: ImageConfig.Config?, command: [String]?, args: [String]?, env: [(String, String)], workingDir: String?
    ) throws(RuntimeError) -> ProcessSpec {
        let entrypoint = command ?? image?.Entrypoint ?? []
        let cmd: [String] = args ?? (command == nil ? image?.Cmd ?? [] : [])
        let argv = entrypoint + cmd
        guard let first = argv.first, !first.isEmpty else {
            throw RuntimeError(.badSpec, "the container has nothing to run: neither the request nor the image gives a command")
        }
        var variables: [(String, String)] = []
        for entry in image?.Env ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            variables.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : ""))
        }
        for (name, value) in env {
            guard !name.isEmpty, !name.contains("="), !name.contains("\0"), !value.contains("\0") else {
                throw RuntimeError(.badSpec, "environment variable \"\(name.prefix(60))\" is not a valid name")
            }
            if let i = variables.firstIndex(where: { $0.0 == name }) { variables[i].1 = value } else { variables.append((name, value)) }
        }
        if !variables.contains(where: { $0.0 == "PATH" }) {
            variables.insert(("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), at: 0)
        }
        let cwd =
            (workingDir?.isEmpty == false ? workingDir : nil) ?? (image?.WorkingDir?.isEmpty == false ? image?.WorkingDir : nil) ?? "/"
        guard cwd.hasPrefix("/") else { throw RuntimeError(.badSpec, "working directory \"\(cwd.prefix(100))\" is not an absolute path") }
        return ProcessSpec(args: argv, env: variables.map { "\($0.0)=\($0.1)" }, cwd: cwd)
    }
}

/// The OCI runtime configuration (`config.json`) of a container, in the shape `runc spec` and
/// Docker's defaults give: its own PID, IPC, UTS, mount, network and cgroup namespaces, Docker's
/// default capabilities, no new privileges, masked and read-only kernel paths, bounded rlimits.
public enum RuntimeSpec {
    public static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    /// `networkNamespace`: the path of a network namespace to join (the Pod's, shared by its
    /// containers); nil gives the container one of its own.
    public static func make(
        process: ProcessSpec, rootfs: String, hostname: String, cgroupsPath: String, networkNamespace: String? = nil,
        openFiles: UInt64 = 1024
    ) -> OCISpec {
        let caps = defaultCapabilities
        return OCISpec(
            process: .init(
                user: .init(uid: process.uid, gid: process.gid, additionalGids: process.additionalGids),
                args: process.args, env: process.env, cwd: process.cwd,
                capabilities: .init(bounding: caps, effective: caps, permitted: caps),
                rlimits: [.init(type: "RLIMIT_NOFILE", hard: openFiles, soft: openFiles)], noNewPrivileges: true),
            root: .init(path: rootfs, readonly: false),
            hostname: hostname,
            mounts: [
                .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
                .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                .init(
                    destination: "/dev/pts", type: "devpts", source: "devpts",
                    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
                .init(
                    destination: "/dev/shm", type: "tmpfs", source: "shm",
                    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
                .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            ],
            linux: .init(
                cgroupsPath: cgroupsPath,
                resources: .init(devices: [.init(allow: false, access: "rwm")]),
                namespaces: ["pid", "network", "ipc", "uts", "mount"].map { type in
                    .init(type: type, path: type == "network" ? networkNamespace : nil)
                },
                maskedPaths: [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                ],
                readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]))
    }

    /// Writes `config.json` into `bundle`.
    public static func write(_ spec: OCISpec, bundle: String) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(Array(try encoder.encode(spec)), to: bundle + "/config.json", sync: false)
        } catch { throw RuntimeError(.io, "cannot write \(bundle)/config.json: \(error)", cause: error as? OSError) }
    }
}

/// A failure to prepare or run a container; the message says what and why.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// What was asked cannot run (no command, a bad variable, an unknown user).
        case badSpec
        /// A mount, a file or a directory could not be made.
        case io
        /// The runtime (runc) failed or the container did not start.
        case runtime
    }
    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
    public var description: String { message }
}
