import Foundation
import IMCOS

/// An instance's own cgroup, the parent of its containers' (`imc/<instance>`): the instance's
/// memory, CPU and process limits are set on it, so that all its containers together stay within
/// them, and its OOM-kill counter tells whether a container that was killed was killed for
/// memory. Works on cgroup v1 (one hierarchy per controller) and v2 (the unified one).
public struct InstanceCgroup: Sendable {
    /// The cgroup's path below each hierarchy's root, `/imc/<instance>`.
    public let path: String
    let root: String

    public init(instance: String, root: String = "/sys/fs/cgroup") {
        path = "/imc/\(instance)"
        self.root = root
    }

    /// Whether the host runs the unified hierarchy (cgroup v2) only.
    var unified: Bool { FileManager.default.fileExists(atPath: root + "/cgroup.controllers") }

    /// A container's cgroup path, below the instance's.
    public func container(_ name: String) -> String { "\(path)/\(name)" }

    func directory(_ controller: String) -> String { unified ? root + path : "\(root)/\(controller)\(path)" }

    /// Creates the cgroup with the instance's limits.
    public func create(memoryBytes: Int64?, cpus: Double?, pids: Int64?) throws(RuntimeError) {
        do {
            if unified {
                try FileManager.default.createDirectory(atPath: root + path, withIntermediateDirectories: true)
                // Controllers must be enabled on every parent for the leaf to have them.
                var parent = root
                for part in path.split(separator: "/").dropLast() {
                    try? "+memory +cpu +pids".write(toFile: parent + "/cgroup.subtree_control", atomically: false, encoding: .utf8)
                    parent += "/\(part)"
                }
                try? "+memory +cpu +pids".write(toFile: parent + "/cgroup.subtree_control", atomically: false, encoding: .utf8)
                if let memoryBytes { try write("memory.max", "\(memoryBytes)", controller: "memory") }
                if let cpus {
                    try write(
                        "cpu.max", "\(Int64((cpus * Double(RuntimeSpec.cpuPeriod)).rounded())) \(RuntimeSpec.cpuPeriod)", controller: "cpu")
                }
                if let pids { try write("pids.max", "\(pids)", controller: "pids") }
            } else {
                for controller in ["memory", "cpu", "pids"] {
                    try FileManager.default.createDirectory(atPath: directory(controller), withIntermediateDirectories: true)
                }
                if let memoryBytes { try write("memory.limit_in_bytes", "\(memoryBytes)", controller: "memory") }
                if let cpus {
                    try write("cpu.cfs_period_us", "\(RuntimeSpec.cpuPeriod)", controller: "cpu")
                    try write("cpu.cfs_quota_us", "\(Int64((cpus * Double(RuntimeSpec.cpuPeriod)).rounded()))", controller: "cpu")
                }
                if let pids { try write("pids.max", "\(pids)", controller: "pids") }
            }
        } catch let e as RuntimeError {
            throw e
        } catch {
            throw RuntimeError(.io, "cannot create cgroup \(path): \(error.localizedDescription)")
        }
    }

    /// Writes a control file whole; the error names the file, the value and the kernel's reason
    /// (a cgroup file refuses a value with its own errno, which Foundation's writer hides).
    func write(_ file: String, _ value: String, controller: String) throws(RuntimeError) {
        let target = directory(controller) + "/" + file
        let fd = open(target, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError(.io, "cannot open \(file) of cgroup \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = -1
        var reason: Int32 = 0
        // A write interrupted by a signal is tried again; a control file takes its value whole.
        for _ in 0..<3 {
            written = value.utf8CString.withUnsafeBufferPointer { Foundation.write(fd, $0.baseAddress, value.utf8.count) }
            reason = errno
            if written >= 0 || (reason != EINTR && reason != EAGAIN) { break }
        }
        guard written == value.utf8.count else {
            throw RuntimeError(.io, "cannot set \(file) of cgroup \(path) to \(value): \(String(cString: strerror(reason)))")
        }
    }

    /// A count that grows when the kernel kills for memory in this cgroup or below it: on cgroup
    /// v2 its `oom_kill` events (hierarchical); on v1, where an OOM kill is counted only in the
    /// victim's own cgroup (a container's, which the runtime removes as the container ends), the
    /// times this cgroup's limit failed a charge (`memory.failcnt`). A process that ended by
    /// SIGKILL while this grew was killed for memory.
    public func oomKills() -> Int {
        if unified {
            guard let text = try? String(contentsOfFile: root + path + "/memory.events", encoding: .utf8) else { return 0 }
            for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
                return Int(line.split(separator: " ").last ?? "") ?? 0
            }
            return 0
        }
        return Int(read("memory.failcnt", controller: "memory") ?? "") ?? 0
    }

    /// A limit as it is set now (for tests and the operator), by its v1 or v2 file name.
    public func read(_ file: String, controller: String) -> String? {
        (try? String(contentsOfFile: directory(controller) + "/" + file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The file listing a container's processes (host pids).
    public func procsFile(container name: String) -> String { directory("pids") + "/\(name)/cgroup.procs" }

    /// The instances that have a cgroup on this host (to remove what a crash left).
    public static func existing(root: String = "/sys/fs/cgroup") -> [String] {
        let unified = FileManager.default.fileExists(atPath: root + "/cgroup.controllers")
        let dir = unified ? root + "/imc" : root + "/memory/imc"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Removes the cgroup (its containers' are gone by then; what remains is removed too), in
    /// every hierarchy: the runtime makes the containers' cgroups in each one it finds.
    /// One pass of removing the cgroup even when a process is still in it (a container killed
    /// a moment ago that has not exited yet, or one the runtime lost): it is removed where empty,
    /// and whatever is left in it is sent SIGKILL. Returns whether it is gone; the caller waits
    /// a moment and calls again until it is.
    public func removeOrKill() -> Bool {
        remove()
        let left = leftoverDirectories()
        for dir in left {
            let procs = (try? String(contentsOfFile: dir + "/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in procs.split(separator: "\n").compactMap({ pid_t($0) }) where pid > 1 { kill(pid, SIGKILL) }
        }
        return left.isEmpty
    }

    /// The cgroup's directories (the instance's and its children's) still present.
    func leftoverDirectories() -> [String] {
        let fm = FileManager.default
        let hierarchies =
            unified ? [root] : ((try? fm.contentsOfDirectory(atPath: root)) ?? []).map { "\(root)/\($0)" }
        var out: [String] = []
        for hierarchy in hierarchies {
            let dir = hierarchy + path
            guard fm.fileExists(atPath: dir) else { continue }
            for child in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: dir + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    out.append(dir + "/" + child)
                }
            }
            out.append(dir)
        }
        return out
    }

    public func remove() {
        let fm = FileManager.default
        let hierarchies =
            unified ? [root] : ((try? fm.contentsOfDirectory(atPath: root)) ?? []).map { "\(root)/\($0)" }
        for hierarchy in hierarchies {
            let dir = hierarchy + path
            guard fm.fileExists(atPath: dir) else { continue }
            // Children first (a container's cgroup the runtime left), then the instance's own.
            for child in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: dir + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue { rmdir(dir + "/" + child) }
            }
            rmdir(dir)
        }
    }
}
