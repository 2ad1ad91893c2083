import Foundation
import IMCOS
import Synchronization

/// An OCI runtime, driven the way containerd's shim does without the shim: `run` stays in the
/// foreground as the container's parent (it forwards signals to the container and exits with
/// its status), its output goes to the container's log, and its `--pid-file` appears once the
/// container's own process runs. State lives under a root of imc's own. Debian's `runc` by
/// default; gVisor's `runsc` takes the same commands (`Runc.gvisor`). Each container gets a
/// session keyring of its own (no `--no-new-keyring`).
public struct Runc: Sendable {
    public let binary: String
    public let root: String
    /// Flags before the command (runsc's platform).
    public let globalArguments: [String]
    /// A command `run` is started through (its arguments follow), or nothing.
    public let launcher: [String]

    public init(binary: String = "/usr/sbin/runc", root: String, globalArguments: [String] = [], launcher: [String] = []) {
        self.binary = binary
        self.root = root
        self.globalArguments = globalArguments
        self.launcher = launcher
    }

    /// gVisor's `runsc`: each Pod in a sandbox of its own (a kernel in user space, run with the
    /// ptrace platform, which works where KVM does not). Without `network`, the Pod's network is
    /// its own loopback; with it, gVisor's own network stack (netstack) takes the interfaces of
    /// the Pod's namespace and sends through its `eth0` with a packet socket, so that the port's
    /// binding holds whatever the sandbox sends. Raw sockets are the container's to have as its
    /// capabilities say (`--net-raw`: runsc otherwise takes `CAP_NET_RAW` away whatever the spec
    /// says), as under runc.
    ///
    /// Debian's runsc (2022-12-19) refuses its network in what it takes for the host's network
    /// namespace, which it tells by `/proc/sys/net/core/rmem_default` existing, and kernels since
    /// 6.x show that file in every namespace; with `network`, runsc is started in a mount
    /// namespace of its own where /proc/sys/net is an empty, read-only directory.
    public static func gvisor(root: String, binary: String = "/usr/bin/runsc", network: Bool = false) -> Runc {
        Runc(
            binary: binary, root: root,
            globalArguments: ["--platform=ptrace", network ? "--network=sandbox" : "--network=none", "--net-raw"],
            launcher: network ? hiddenNetworkSysctls : [])
    }

    /// Runs its arguments in a mount namespace of their own (host mounts and unmounts still reach
    /// it) in which /proc/sys/net is hidden under an empty, read-only directory.
    static let hiddenNetworkSysctls = [
        "/usr/bin/unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c",
        "mount -t tmpfs -o ro,size=4k,mode=0555 imc-hidden /proc/sys/net && exec \"$0\" \"$@\"",
    ]

    var base: [String] { [binary, "--root", root] + globalArguments }

    /// Starts the bundle's container with its output appended to the file `log` (the runtime's
    /// own tests).
    public func start(id: String, bundle: String, log: String) async throws(RuntimeError) -> RunningContainer {
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw RuntimeError(.io, OSError.system("cannot open \(log)").message) }
        return try await start(id: id, bundle: bundle, output: fd, log: log)
    }

    /// Starts the bundle's container with its output going to `writer` (rotated, capped).
    public func start(id: String, bundle: String, writer: LogWriter) async throws(RuntimeError) -> RunningContainer {
        let fd: Int32
        do { fd = try writer.pipe() } catch { throw RuntimeError(.io, error.message, cause: error) }
        return try await start(id: id, bundle: bundle, output: fd, log: writer.path)
    }

    /// Starts the bundle's container and returns once its process is running (its pid known).
    /// If the runtime ends first, the error carries the end of the log, where it wrote why.
    func start(id: String, bundle: String, output: Int32, log: String) async throws(RuntimeError) -> RunningContainer {
        let pidFile = bundle + "/container.pid"
        unlink(pidFile)
        let child: ChildProcess
        do {
            child = try await ChildProcess.start(launcher + base + ["run", "--bundle", bundle, "--pid-file", pidFile, id], output: output)
        } catch { throw RuntimeError(.runtime, error.message, cause: error) }
        let container = RunningContainer(id: id, process: child)
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let p = Int32(text.trimmingCharacters(in: .whitespaces)) {
                container.containerPID = p
                return container
            }
            if let status = child.exitStatus {
                throw RuntimeError(.runtime, "runc ended (status \(status)) before the container ran: \(Self.tail(of: log))")
            }
            if ContinuousClock.now > deadline {
                child.signal(SIGKILL)
                throw RuntimeError(.runtime, "the container did not start within 120 s")
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Runs the bundle's container in the foreground with its output going to `output` (closed
    /// here once the child has it); returns once `runc run` is started. Its end is the
    /// container's end.
    public func run(id: String, bundle: String, output: Int32) async throws(RuntimeError) -> ChildProcess {
        do { return try await ChildProcess.start(launcher + base + ["run", "--bundle", bundle, id], output: output) } catch {
            throw RuntimeError(.runtime, error.message, cause: error)
        }
    }

    /// Sends `signal` to the container's processes (all of them with `all`).
    public func kill(id: String, signal: String, all: Bool = false) async {
        _ = try? await Command.run(base + ["kill"] + (all ? ["--all"] : []) + [id, signal])
    }

    /// Removes the container's state (killing what is left of it).
    public func delete(id: String) async {
        _ = try? await Command.run(base + ["delete", "--force", id])
    }

    /// Whether runc holds state for a container of this id.
    public func exists(id: String) -> Bool { FileManager.default.fileExists(atPath: "\(root)/\(id)") }

    /// Runs `args` in the running container `id` (its namespaces, cgroup, user and seccomp
    /// filter: `runc exec`), its output to `output`; the exit code, or nil when it ran past
    /// `timeout` (it is then killed).
    public func exec(id: String, args: [String], timeout: Duration, output: String) async -> Int32? {
        unlink(output)
        let clock = ContinuousClock()
        let began = clock.now
        guard let child = try? await ChildProcess.start(base + ["exec", id] + args, outputFile: output) else { return 127 }
        let timer = Task {
            try await Task.sleep(for: timeout)
            child.signal(SIGKILL)
        }
        let code = await child.exit()
        timer.cancel()
        return clock.now - began >= timeout ? nil : code
    }

    /// The ids of the containers runc knows under this root.
    public func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The last lines of a log (for errors a person reads).
    public static func tail(of path: String, bytes: Int = 600) -> String {
        let (data, cut) = LogRecords.window(path, maxBytes: bytes * 3)
        let text = LogRecords.text(data, cut: cut)
        return String(text.suffix(bytes)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A container whose `runc run` is a child of this process.
public final class RunningContainer: Sendable {
    public let id: String
    let process: ChildProcess
    private let pid = Mutex<pid_t>(0)

    init(id: String, process: ChildProcess) {
        self.id = id
        self.process = process
    }

    /// The `runc run` process.
    public var runcPID: pid_t { process.pid }

    /// The container's own process (in the host's pid namespace).
    public internal(set) var containerPID: pid_t {
        get { pid.withLock { $0 } }
        set { pid.withLock { $0 = newValue } }
    }

    /// The exit status, once known: the process's exit code, or 128 + the signal that ended it.
    public var exitStatus: Int32? { process.exitStatus }

    /// Waits for the container to end; returns its exit status.
    public func exit() async -> Int32 { await process.exit() }

    /// Signals `runc run`, which passes the signal on to the container.
    public func signal(_ signal: Int32) { process.signal(signal) }
}
