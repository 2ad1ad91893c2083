import CIMCSys
import Foundation
import IMCOS

/// A command a person runs in a running container (`kubectl exec`): `runc exec` joins the
/// container's namespaces, cgroup, user namespace and seccomp filter, with the container's own
/// user, capabilities and environment, as the kubelet's runtime does. Its streams are this
/// process's to hand on; whoever takes the session closes them.
public struct ExecSession: Sendable {
    public let process: ChildProcess
    /// The write end of the command's standard input (nil when none was asked for).
    public let input: Int32?
    /// The read end of its standard output, or of its terminal.
    public let output: Int32
    /// The read end of its standard error (nil with a terminal, which carries both).
    public let error: Int32?
    /// The terminal's own descriptor (for its window size), nil without one. Not the same
    /// descriptor as `output`.
    public let terminal: Int32?

    /// Sets the terminal's window size (a resize from the person's terminal); runc passes it on
    /// to the container's terminal when signalled.
    public func resize(columns: Int, rows: Int) {
        guard let terminal, (1...9999).contains(columns), (1...9999).contains(rows) else { return }
        _ = imc_set_window_size(terminal, UInt16(rows), UInt16(columns))
        process.signal(SIGWINCH)
    }
}

extension Runc {
    /// Runs `args` in the container `id`, on a terminal of `size` (columns, rows) or with pipes
    /// for its streams.
    public func exec(id: String, args: [String], stdin: Bool, terminal: Bool, size: (columns: Int, rows: Int)? = nil) async throws(OSError)
        -> ExecSession
    {
        guard !args.isEmpty else { throw OSError(.command, "an empty command") }
        // Ends kept here, closed if the command does not start; the child's ends are closed by
        // ChildProcess.start whatever happens.
        var kept: [Int32] = []
        var given: [Int32] = []
        func pipe(keeping end: Int) throws(OSError) -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            guard imc_pipe_cloexec(&ends) == 0 else { throw .system("cannot make a pipe") }
            kept.append(ends[end])
            given.append(ends[1 - end])
            return (ends[0], ends[1])
        }
        func nullInput() throws(OSError) -> Int32 {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .system("cannot open /dev/null") }
            given.append(fd)
            return fd
        }
        do throws(OSError) {
            if !terminal {
                let input = stdin ? try pipe(keeping: 1) : nil
                let output = try pipe(keeping: 0)
                let error = try pipe(keeping: 0)
                let inputEnd: Int32
                if let input { inputEnd = input.read } else { inputEnd = try nullInput() }
                given = []
                let process = try await ChildProcess.start(
                    base + ["exec", id] + args, input: inputEnd, output: output.write, error: error.write)
                return ExecSession(process: process, input: input?.write, output: output.read, error: error.read, terminal: nil)
            }
            // runc copies between its own terminal and the one it makes in the container (and
            // takes the size of its own at the start and at each SIGWINCH): its own is one made
            // here, whose other end this process reads and writes.
            var master: Int32 = -1
            var slave: Int32 = -1
            let (columns, rows) = size ?? (80, 24)
            guard imc_open_terminal(&master, &slave, UInt16(clamping: rows), UInt16(clamping: columns)) == 0 else {
                throw OSError.system("cannot open a terminal")
            }
            kept.append(master)
            given = []
            let process = try await ChildProcess.start(
                base + ["exec", "--tty", id] + args, input: slave, output: dup(slave), error: dup(slave))
            let output = dup(master)
            let input = stdin ? dup(master) : nil
            return ExecSession(process: process, input: input, output: output, error: nil, terminal: master)
        } catch {
            for fd in kept + given { close(fd) }
            throw error
        }
    }
}
