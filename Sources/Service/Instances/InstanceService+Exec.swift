import Foundation
import IMCOS
import IMCRuntime
import IMCServiceSupport
import Synchronization

/// What a person asks to run in a container (`kubectl exec`).
public struct ExecRequest: Sendable, Equatable {
    /// The container; nil: the instance's first.
    public var container: String?
    public var command: [String]
    /// Whether the person's input reaches the command.
    public var stdin = false
    /// Whether the command runs on a terminal (its output and errors on it).
    public var tty = false

    public init(container: String? = nil, command: [String], stdin: Bool = false, tty: Bool = false) {
        self.container = container
        self.command = command
        self.stdin = stdin
        self.tty = tty
    }

    /// At most this many commands run in one account's containers at once: each is a process
    /// on the host (runc's and the command's), and one tenant's must not use up the host's.
    public static let perAccount = 32
    /// A command's words: at most this many, each at most `wordBytes` long.
    public static let words = 1024
    public static let wordBytes = 64 << 10
}

/// Commands run in containers for a person.
extension InstanceService {
    /// Starts `request.command` in a running container of the instance `id` of `account`. The
    /// caller owns the session's streams and closes them; the command counts against the
    /// account's commands until it ends.
    public func exec(id: String, account: String, _ request: ExecRequest) async throws -> ExecSession {
        let instance = try await get(id: id, account: account)
        let names = instance.containers.map(\.name)
        let name = request.container ?? names.first ?? ""
        guard names.contains(name) else {
            throw ServiceError.invalidValue(
                "container", "container \"\(name.prefix(60))\" is not a container of \(id); it has \(names.joined(separator: ", "))")
        }
        guard let first = request.command.first, !first.isEmpty else {
            throw ServiceError.missing("command", "command must name what to run")
        }
        guard request.command.count <= ExecRequest.words,
            !request.command.contains(where: { $0.utf8.count > ExecRequest.wordBytes || $0.utf8.contains(0) })
        else {
            throw ServiceError.invalidValue(
                "command",
                "command takes at most \(ExecRequest.words) words of at most \(ExecRequest.wordBytes) bytes each, without NUL bytes")
        }
        guard isHere(instance) || nodes == nil else {
            throw ServiceError(
                .inUse, "instance \(id) runs on node \(instance.node ?? "-"): a command is run there, not from this API replica",
                specificCode: "ResourceUnavailable")
        }
        guard let run = runs.get(id) else {
            throw ServiceError.inUse("instance \(id) is \(instance.status.rawValue): a command can run once its container \"\(name)\" runs")
        }
        // gVisor's runsc exec has no --tty (its terminal comes through a process file that would
        // have to carry the container's whole process spec): refused rather than run without one.
        if request.tty && instance.runtimeClass == .gvisor {
            throw ServiceError.invalidValue(
                "tty", "a terminal (-t) is not available in gvisor Pods yet; run the command without -t (its input and output still work)")
        }
        guard execs.take(account) else {
            throw ServiceError.limitExceeded(
                "account \(account) already runs \(ExecRequest.perAccount) commands in its containers; one must end before another starts")
        }
        do {
            let session = try await run.exec(request.command, in: name, stdin: request.stdin, tty: request.tty)
            let execs = self.execs
            Task {
                _ = await session.process.exit()
                execs.give(account)
            }
            return session
        } catch {
            execs.give(account)
            throw error
        }
    }
}

/// How many commands each account runs in its containers.
final class ExecCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func take(_ account: String) -> Bool {
        counts.withLock { c in
            guard c[account, default: 0] < ExecRequest.perAccount else { return false }
            c[account, default: 0] += 1
            return true
        }
    }

    func give(_ account: String) {
        counts.withLock { c in
            c[account] = max(0, c[account, default: 1] - 1)
            if c[account] == 0 { c[account] = nil }
        }
    }
}

extension InstanceRun {
    /// `command` run in the container `name` while it runs.
    func exec(_ command: [String], in name: String, stdin: Bool, tty: Bool) async throws -> ExecSession {
        guard held.running[name] != nil else {
            throw ServiceError.inUse("container \"\(name)\" of \(id) is not running: a command can run once it runs")
        }
        do {
            return try await runtime.exec(id: runcID(name), args: command, stdin: stdin, terminal: tty)
        } catch {
            throw ServiceError.failed("cannot run a command in container \"\(name)\" of \(id): \(error.message)", cause: error)
        }
    }
}
