import Foundation
import IMCOS
import Synchronization

/// Debian's `runc`, driven the way containerd's shim does without the shim: `runc run` stays in
/// the foreground as the container's parent (it forwards signals to the container and exits
/// with its status), its output goes to the container's log file, and its `--pid-file` appears
/// once the container's own process runs. State lives under a root of imc's own.
public struct Runc: Sendable {
    public let binary: String
    public let root: String

    public init(binary: String = "/usr/sbin/runc", root: String) {
        self.binary = binary
        self.root = root
    }

    /// Starts the bundle's container and returns once its process is running (its pid known).
    /// If runc ends first, the error carries the end of the log, where runc wrote why.
    public func start(id: String, bundle: String, log: String) async throws(RuntimeError) -> RunningContainer {
        let pidFile = bundle + "/container.pid"
        unlink(pidFile)
        let child: ChildProcess
        do {
            child = try await ChildProcess.start(
                [binary, "--root", root, "run", "--bundle", bundle, "--pid-file", pidFile, "--no-new-keyring", id], outputFile: log)
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

    /// Sends `signal` to the container's processes (all of them with `all`).
    public func kill(id: String, signal: String, all: Bool = false) async {
        _ = try? await Command.run([binary, "--root", root, "kill"] + (all ? ["--all"] : []) + [id, signal])
    }

    /// Removes the container's state (killing what is left of it).
    public func delete(id: String) async {
        _ = try? await Command.run([binary, "--root", root, "delete", "--force", id])
    }

    /// Whether runc holds state for a container of this id.
    public func exists(id: String) -> Bool { FileManager.default.fileExists(atPath: "\(root)/\(id)") }

    /// The ids of the containers runc knows under this root.
    public func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The last lines of a log (for errors a person reads).
    public static func tail(of path: String, bytes: Int = 600) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? h.close() }
        let end = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: end > UInt64(bytes) ? end - UInt64(bytes) : 0)
        let data = (try? h.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
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
