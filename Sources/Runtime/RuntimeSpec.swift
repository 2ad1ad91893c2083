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

/// The walls around one container: its own user namespace (an id range of its own), a cgroup
/// namespace, the seccomp filter, its limits, and what its security context asks for.
public struct Isolation: Sendable, Equatable {
    /// The user namespace's range; nil runs the container in the host's user namespace (only the
    /// runtime's own tests do).
    public var ids: IDRange?
    /// The user namespace to join (the instance's, bound to a file): the Pod's network namespace
    /// belongs to it, so its containers may mount their own sysfs. Nil makes a new one.
    public var userNamespacePath: String?
    /// Refuse the calls Docker's default profile refuses.
    public var seccomp = true
    /// Bytes of memory; an OOM kills the container.
    public var memoryBytes: Int64?
    /// CPUs (1.5 = one and a half cores), as a CFS quota over a 100 ms period.
    public var cpus: Double?
    /// The most processes and threads.
    public var pids: Int64?
    /// Open files (soft and hard); within the host's own hard limit.
    public var openFiles: UInt64 = 1024
    /// The root filesystem is read-only (`readOnlyRootFilesystem`).
    public var readOnlyRoot = false
    /// Capabilities removed from Docker's default set (`capabilities.drop`; `ALL` drops every one).
    public var drop: [String] = []
    /// For gVisor: the sandbox (the Pod) the container joins; nil for the sandbox itself.
    public var sandbox: GVisorSandbox?
    /// A host file shown read-only as the container's /etc/resolv.conf (instances on a network).
    public var resolvConf: String?
    /// The Pod's volumes, where this container sees them.
    public var mounts: [BindMount] = []

    /// A host directory (or file) bound into the container: `nosuid,nodev`, read-only when asked.
    public struct BindMount: Sendable, Equatable {
        public var destination: String
        public var source: String
        public var readOnly: Bool
        public init(destination: String, source: String, readOnly: Bool) {
            self.destination = destination
            self.source = source
            self.readOnly = readOnly
        }
    }

    public init(ids: IDRange? = nil) { self.ids = ids }
}

/// A container's place in a gVisor Pod: the Pod's first container is the sandbox (a kernel in
/// user space of its own), the others join it and share its loopback, as Kubernetes' containers
/// share a Pod's network.
public enum GVisorSandbox: Sendable, Equatable {
    case sandbox
    case container(sandboxID: String)

    var annotations: [String: String] {
        switch self {
        case .sandbox: ["io.kubernetes.cri.container-type": "sandbox"]
        case .container(let id): ["io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": id]
        }
    }
}

/// The OCI runtime configuration (`config.json`) of a container, in the shape `runc spec` and
/// Docker's defaults give: its own PID, IPC, UTS, mount, network, user and cgroup namespaces,
/// Docker's default capabilities, no new privileges, Docker's seccomp rules, masked and read-only
/// kernel paths as containerd masks them (and the block devices, whose loop entries would name
/// other tenants' disks), bounded rlimits, memory, CPU and process limits.
public enum RuntimeSpec {
    public static let defaultCapabilities = Capability.dockerDefaultsInOrder.map { "CAP_" + $0 }

    /// containerd's masked paths, and the block devices' (`/sys/block/loop*/loop/backing_file`
    /// names a disk image of the host).
    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
        "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/block", "/sys/class/block",
        "/sys/dev/block", "/sys/devices/virtual/block",
    ]

    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The CFS period the CPU quota is counted in.
    public static let cpuPeriod: UInt64 = 100_000

    /// `networkNamespace`: the path of a network namespace to join (the Pod's, shared by its
    /// containers); nil gives the container one of its own.
    public static func make(
        process: ProcessSpec, rootfs: String, hostname: String, cgroupsPath: String, networkNamespace: String? = nil,
        isolation: Isolation = Isolation()
    ) -> OCISpec {
        let dropAll = isolation.drop.contains("ALL")
        let caps = defaultCapabilities.filter { !dropAll && !isolation.drop.contains($0) }
        var namespaces: [OCISpec.Namespace] = ["pid", "network", "ipc", "uts", "mount"].map { type in
            .init(type: type, path: type == "network" ? networkNamespace : nil)
        }
        var mappings: [OCISpec.IDMapping]?
        if let ids = isolation.ids {
            namespaces += [.init(type: "user", path: isolation.userNamespacePath), .init(type: "cgroup")]
            mappings = [.init(containerID: 0, hostID: ids.base, size: ids.count)]
        }
        var resources = OCISpec.Resources(devices: [.init(allow: false, access: "rwm")])
        if let bytes = isolation.memoryBytes { resources.memory = .init(limit: bytes) }
        if let cpus = isolation.cpus { resources.cpu = .init(quota: Int64((cpus * Double(cpuPeriod)).rounded()), period: cpuPeriod) }
        if let pids = isolation.pids { resources.pids = .init(limit: pids) }
        return OCISpec(
            process: .init(
                user: .init(uid: process.uid, gid: process.gid, additionalGids: process.additionalGids),
                args: process.args, env: process.env, cwd: process.cwd,
                capabilities: .init(bounding: caps, effective: caps, permitted: caps),
                rlimits: [.init(type: "RLIMIT_NOFILE", hard: isolation.openFiles, soft: isolation.openFiles)], noNewPrivileges: true,
                oomScoreAdj: 0),
            root: .init(path: rootfs, readonly: isolation.readOnlyRoot),
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
            ]
                + (isolation.resolvConf.map {
                    [
                        .init(
                            destination: "/etc/resolv.conf", type: "bind", source: $0,
                            options: ["rbind", "ro", "nosuid", "nodev", "noexec"])
                    ]
                } ?? [])
                + isolation.mounts.map {
                    .init(
                        destination: $0.destination, type: "bind", source: $0.source,
                        options: ["rbind", $0.readOnly ? "ro" : "rw", "nosuid", "nodev"])
                },
            linux: .init(
                cgroupsPath: cgroupsPath, resources: resources, namespaces: namespaces, uidMappings: mappings, gidMappings: mappings,
                maskedPaths: maskedPaths, readonlyPaths: readonlyPaths, seccomp: isolation.seccomp ? SeccompProfile.spec() : nil),
            annotations: isolation.sandbox?.annotations)
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
