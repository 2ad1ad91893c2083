import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// A long-running child of this process (`runc run` for a container), its output appended to a
/// file. Its end is awaited by swift-subprocess's process monitor (a pidfd, not a thread per
/// child), and handed to whoever awaits `exit()`.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let ended: Task<Int32, Never>
    private let box: StatusBox

    private init(pid: pid_t, ended: Task<Int32, Never>, box: StatusBox) {
        self.pid = pid
        self.ended = ended
        self.box = box
    }

    /// Starts `argv` with standard output and error appended to `outputFile` (created 0640),
    /// in a session of its own; returns once it runs.
    public static func start(_ argv: [String], environment: [String: String] = [:], outputFile: String) async throws(OSError)
        -> ChildProcess
    {
        let fd = open(outputFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system("cannot open \(outputFile)") }
        return try await start(argv, environment: environment, output: fd)
    }

    /// Starts `argv` with standard output and error written to the descriptor `output` (the
    /// write end of a pipe whose reader keeps the logs); `output` is closed here once the child
    /// has it.
    public static func start(_ argv: [String], environment: [String: String] = [:], output fd: Int32) async throws(OSError)
        -> ChildProcess
    {
        try await start(argv, environment: environment, closing: [fd]) { configuration, started in
            try await Subprocess.run(
                configuration, input: .none, output: .fileDescriptor(FileDescriptor(rawValue: fd), closeAfterSpawningProcess: true),
                error: .combinedWithOutput
            ) { started($0.processIdentifier.value) }.terminationStatus
        }
    }

    /// Starts `argv` with its standard input, output and error on the descriptors given (a
    /// command run in a container for a person: pipes or a terminal); each is closed here once
    /// the child has it.
    public static func start(
        _ argv: [String], environment: [String: String] = [:], input: Int32, output: Int32, error: Int32
    ) async throws(OSError) -> ChildProcess {
        try await start(argv, environment: environment, closing: [input, output, error]) { configuration, started in
            try await Subprocess.run(
                configuration, input: .fileDescriptor(FileDescriptor(rawValue: input), closeAfterSpawningProcess: true),
                output: .fileDescriptor(FileDescriptor(rawValue: output), closeAfterSpawningProcess: true),
                error: .fileDescriptor(FileDescriptor(rawValue: error), closeAfterSpawningProcess: true)
            ) { started($0.processIdentifier.value) }.terminationStatus
        }
    }

    private static func start(
        _ argv: [String], environment: [String: String], closing descriptors: [Int32],
        run: @escaping @Sendable (Configuration, @escaping @Sendable (pid_t) -> Void) async throws -> TerminationStatus
    ) async throws(OSError) -> ChildProcess {
        guard let executable = argv.first else {
            for fd in descriptors { close(fd) }
            throw OSError(.command, "an empty command")
        }
        let configuration = {
            var c = Command.configuration(argv, environment: environment)
            c.platformOptions.createSession = true
            return c
        }()
        let started = StartSignal()
        let box = StatusBox()
        let task = Task<Int32, Never> {
            do {
                let status = try await run(configuration) { pid in started.resolve(.success(pid)) }
                let code = Command.status(status)
                box.status.withLock { $0 = code }
                return code
            } catch {
                started.resolve(.failure(OSError(.command, "cannot run \(executable): \(error)")))
                box.status.withLock { $0 = 255 }
                return 255
            }
        }
        let pid: pid_t
        do { pid = try await started.value() } catch {
            _ = await task.value
            throw error
        }
        return ChildProcess(pid: pid, ended: task, box: box)
    }

    /// The exit status, once known: the exit code, or 128 + the signal that ended it.
    public var exitStatus: Int32? { box.status.withLock { $0 } }

    /// Waits for the child to end; returns its exit status.
    public func exit() async -> Int32 { await ended.value }

    /// Sends `signal` to the child (while it has not ended).
    public func signal(_ signal: Int32) {
        if exitStatus == nil { kill(pid, signal) }
    }
}

private final class StatusBox: Sendable {
    let status = Mutex<Int32?>(nil)
}

/// A one-time hand-over of the child's pid (or why it did not start) to the starter.
private final class StartSignal: Sendable {
    private let state = Mutex<(Result<pid_t, OSError>?, CheckedContinuation<pid_t, any Error>?)>((nil, nil))

    func resolve(_ result: Result<pid_t, OSError>) {
        let waiter = state.withLock { s -> CheckedContinuation<pid_t, any Error>? in
            guard s.0 == nil else { return nil }
            s.0 = result
            defer { s.1 = nil }
            return s.1
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    func value() async throws(OSError) -> pid_t {
        do {
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<pid_t, any Error>) in
                let ready = state.withLock { s -> Result<pid_t, OSError>? in
                    if let r = s.0 { return r }
                    s.1 = c
                    return nil
                }
                if let ready { c.resume(with: ready.mapError { $0 as any Error }) }
            }
        } catch let e as OSError {
            throw e
        } catch {
            throw OSError(.command, "\(error)")
        }
    }
}
