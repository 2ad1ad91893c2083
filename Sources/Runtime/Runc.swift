import CIMCSys
import Foundation

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
        let pid = try Self.spawn(
            [binary, "--root", root, "run", "--bundle", bundle, "--pid-file", pidFile, "--no-new-keyring", id], output: log)
        let container = RunningContainer(id: id, runcPID: pid)
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let p = Int32(text.trimmingCharacters(in: .whitespaces)) {
                container.containerPID = p
                return container
            }
            if let status = container.exitStatus {
                throw RuntimeError("runc ended (status \(status)) before the container ran: \(Self.tail(of: log))")
            }
            if ContinuousClock.now > deadline {
                Glibc.kill(pid, SIGKILL)
                throw RuntimeError("the container did not start within 120 s")
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Sends `signal` to the container's processes (all of them with `all`).
    public func kill(id: String, signal: String, all: Bool = false) {
        _ = try? Self.runQuietly([binary, "--root", root, "kill"] + (all ? ["--all"] : []) + [id, signal])
    }

    /// Removes the container's state (killing what is left of it).
    public func delete(id: String) {
        _ = try? Self.runQuietly([binary, "--root", root, "delete", "--force", id])
    }

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

    static func spawn(_ argv: [String], output: String) throws(RuntimeError) -> pid_t {
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nil]
        defer {
            for p in cargs { free(p) }
            for p in env { free(p) }
        }
        let pid = imc_spawn(argv[0], &cargs, &env, output)
        guard pid > 0 else { throw RuntimeError("cannot run \(argv[0]): \(String(cString: strerror(errno)))") }
        return pid
    }

    /// Runs a short runc command to its end; returns its exit status.
    static func runQuietly(_ argv: [String]) throws(RuntimeError) -> Int32 {
        let pid = try spawn(argv, output: "/dev/null")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}

/// A container whose `runc run` is a child of this process. Its exit status is collected by a
/// thread of its own blocked in `waitpid`, and handed to whoever awaits `exit()`.
public final class RunningContainer: @unchecked Sendable {
    public let id: String
    public let runcPID: pid_t
    private let lock = NSLock()
    private var _containerPID: pid_t = 0
    private var status: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    init(id: String, runcPID: pid_t) {
        self.id = id
        self.runcPID = runcPID
        Thread.detachNewThread { [self] in
            var raw: Int32 = 0
            var r: pid_t
            repeat { r = waitpid(runcPID, &raw, 0) } while r < 0 && errno == EINTR
            let code: Int32
            if r < 0 {
                code = 255
            } else if raw & 0x7f == 0 {
                code = (raw >> 8) & 0xff  // exited
            } else {
                code = 128 + (raw & 0x7f)  // killed by a signal
            }
            lock.lock()
            status = code
            let ready = waiters
            waiters = []
            lock.unlock()
            for w in ready { w.resume(returning: code) }
        }
    }

    /// The container's own process (in the host's pid namespace).
    public internal(set) var containerPID: pid_t {
        get { lock.withLock { _containerPID } }
        set { lock.withLock { _containerPID = newValue } }
    }

    /// The exit status, once known: the process's exit code, or 128 + the signal that ended it.
    public var exitStatus: Int32? { lock.withLock { status } }

    /// Waits for the container to end; returns its exit status.
    public func exit() async -> Int32 {
        await withCheckedContinuation { c in
            lock.lock()
            if let status {
                lock.unlock()
                c.resume(returning: status)
            } else {
                waiters.append(c)
                lock.unlock()
            }
        }
    }

    /// Signals `runc run`, which passes the signal on to the container.
    public func signal(_ signal: Int32) {
        if exitStatus == nil { kill(runcPID, signal) }
    }
}
