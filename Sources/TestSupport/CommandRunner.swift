import CIMCSys
import Foundation

/// Runs a built product of this package (`imc`, `imc-bench`) as a user would, capturing its
/// output and exit code.
public enum CommandRunner {
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The directory that holds the built products (beside the test bundle).
    public static var productsDirectory: String {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.pathComponents.count > 1 && !url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
        if url.lastPathComponent.hasSuffix(".xctest") { return url.deletingLastPathComponent().path }
        return FileManager.default.currentDirectoryPath + "/.build/debug"
    }

    /// Runs `product` with `arguments` on a thread of its own (so that an in-process server
    /// the command talks to keeps being served); never throws for a non-zero exit.
    public static func run(_ product: String, _ arguments: [String]) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runBlocking(product, arguments) })
            }
        }
    }

    static func runBlocking(_ product: String, _ arguments: [String]) throws -> Outcome {
        try capture(productsDirectory + "/" + product, arguments)
    }

    /// Runs any program to completion, its output going through temporary files (a pipe that
    /// fills while the other is read would deadlock).
    public static func capture(_ executable: String, _ arguments: [String]) throws -> Outcome {
        let dir = try TemporaryDirectory(prefix: "imc-run")
        let outPath = dir.appending("stdout")
        let errPath = dir.appending("stderr")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        // posix_spawn, not Foundation's Process: every descriptor but the three is closed in the
        // child (a background child of a command must never hold the test runner's pipes), and
        // no descriptor is closed twice in this process, where the services spawn their own.
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = imc_spawn_to_files(executable, argv, outPath, errPath, &pid)
        guard rc == 0 else { throw CommandRunnerError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Outcome(status: exit, stdout: out, stderr: err)
    }
}

struct CommandRunnerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
