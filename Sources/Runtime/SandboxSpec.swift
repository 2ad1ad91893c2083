import Foundation
import IMCOS

/// A program of imc's own (the build job) run walled off by the same runtime as containers: its
/// own user namespace (root inside is an unprivileged id range outside), mount, PID, IPC, UTS and
/// cgroup namespaces, the seccomp filter, only the capabilities that writing layers needs, a
/// read-only root that holds nothing but the system's libraries, the program, and the
/// directories it is given. It shares the host's network (it must reach registries); what it
/// may connect to is the address policy's to say.
public struct SandboxSpec: Sendable {
    /// The program on the host, bound read-only at `/imc`.
    public var program: String
    public var arguments: [String]
    /// Directories of the host bound read-only at the same path (the program's libraries).
    public var libraries: [String] = []
    /// Host paths bound at a path inside: (host, inside, writable).
    public var binds: [(host: String, inside: String, writable: Bool)] = []
    public var ids: IDRange
    public var memoryBytes: Int64 = 4 << 30
    public var cpus: Double = 2
    public var pids: Int64 = 1024

    public init(program: String, arguments: [String], ids: IDRange) {
        self.program = program
        self.arguments = arguments
        self.ids = ids
    }

    /// What unpacking layers needs (ownership, modes, device nodes that cannot be opened:
    /// the disk is `nodev`, file capabilities), all within the sandbox's user namespace.
    public static let capabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_MKNOD", "CAP_SETFCAP"]

    /// The host's files a program needs to resolve names and verify TLS.
    static let systemFiles = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf"]
    static let systemDirectories = ["/usr", "/etc/ssl", "/etc/ca-certificates"]

    /// Writes the bundle: an empty root with a mount point for everything bound, the symlinks of
    /// a merged /usr, and `config.json`.
    public func write(bundle: String, cgroupsPath: String) throws(RuntimeError) {
        let rootfs = bundle + "/rootfs"
        let fm = FileManager.default
        var mounts: [OCISpec.Mount] = [
            .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=65536k"]),
        ]
        var points: [(String, Bool)] = [("/proc", true), ("/dev", true), ("/tmp", true), ("/imc", false)]
        mounts.append(.init(destination: "/imc", type: "bind", source: program, options: ["bind", "ro", "nosuid", "nodev"]))
        for dir in Self.systemDirectories + libraries where fm.fileExists(atPath: dir) {
            mounts.append(.init(destination: dir, type: "bind", source: dir, options: ["rbind", "ro", "nosuid", "nodev"]))
            points.append((dir, true))
        }
        for file in Self.systemFiles where fm.fileExists(atPath: file) {
            mounts.append(.init(destination: file, type: "bind", source: file, options: ["bind", "ro", "nosuid", "nodev", "noexec"]))
            points.append((file, false))
        }
        for b in binds {
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: b.host, isDirectory: &isDirectory)
            mounts.append(
                .init(
                    destination: b.inside, type: "bind", source: b.host,
                    options: ["bind", b.writable ? "rw" : "ro", "nosuid", "nodev", "noexec"]))
            points.append((b.inside, isDirectory.boolValue))
        }
        do {
            try fm.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
            for (point, directory) in points {
                let path = rootfs + point
                if directory {
                    try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
                } else {
                    try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    if !fm.fileExists(atPath: path) { fm.createFile(atPath: path, contents: nil) }
                }
            }
            // A merged /usr: /lib, /lib64, /bin and /sbin are links into it.
            for link in ["lib", "lib64", "bin", "sbin"] where !fm.fileExists(atPath: "\(rootfs)/\(link)") {
                try fm.createSymbolicLink(atPath: "\(rootfs)/\(link)", withDestinationPath: "usr/\(link)")
            }
        } catch { throw RuntimeError(.io, "cannot prepare the sandbox's root in \(bundle): \(error)") }
        let caps = Self.capabilities
        let mapping = [OCISpec.IDMapping(containerID: 0, hostID: ids.base, size: ids.count)]
        var resources = OCISpec.Resources(devices: [.init(allow: false, access: "rwm")])
        resources.memory = .init(limit: memoryBytes)
        resources.cpu = .init(quota: Int64((cpus * Double(RuntimeSpec.cpuPeriod)).rounded()), period: RuntimeSpec.cpuPeriod)
        resources.pids = .init(limit: pids)
        let spec = OCISpec(
            process: .init(
                user: .init(uid: 0, gid: 0, additionalGids: nil), args: ["/imc"] + arguments,
                env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp"], cwd: "/",
                capabilities: .init(bounding: caps, effective: caps, permitted: caps),
                rlimits: [.init(type: "RLIMIT_NOFILE", hard: 4096, soft: 4096)], noNewPrivileges: true, oomScoreAdj: 500),
            root: .init(path: rootfs, readonly: true),
            hostname: "imc-build",
            mounts: mounts,
            linux: .init(
                cgroupsPath: cgroupsPath, resources: resources,
                namespaces: ["pid", "ipc", "uts", "mount", "user", "cgroup"].map { .init(type: $0) }, uidMappings: mapping,
                gidMappings: mapping, maskedPaths: RuntimeSpec.maskedPaths, readonlyPaths: RuntimeSpec.readonlyPaths,
                seccomp: SeccompProfile.spec()))
        try RuntimeSpec.write(spec, bundle: bundle)
    }
}
