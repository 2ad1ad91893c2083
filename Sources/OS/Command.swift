import Foundation
import Subprocess
import SystemPackage

/// What a command that ran to its end left: its status and what it wrote.
public struct CommandResult: Sendable {
    /// The exit code, or 128 + the signal that ended it.
    public var status: Int32
    /// Standard output, when it was asked for.
    public var output: String
    /// Standard error (its last 64 KiB).
    public var error: String
}

/// Every program imc runs (mkfs, mount, resize2fs, ip, iptables, runc ...), started one way: with
/// `swift-subprocess`, no inherited descriptors, a fixed minimal `PATH`, standard input from
/// `/dev/null`, and the child's end awaited without a thread of its own.
public enum Command {
    /// The `PATH` of every command; nothing of the service's own environment reaches one.
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Runs `argv` (an absolute path first) to its end. Standard output is discarded unless
    /// `captureOutput` (then at most `outputLimit` bytes are kept).
    public static func run(
        _ argv: [String], environment: [String: String] = [:], captureOutput: Bool = false, outputLimit: Int = 16 << 20
    ) async throws(OSError) -> CommandResult {
        guard let executable = argv.first else { throw OSError(.command, "an empty command") }
        do {
            let configuration = configuration(argv, environment: environment)
            if captureOutput {
                let r = try await Subprocess.run(configuration, output: .string(limit: outputLimit), error: .bytes(limit: 1 << 20))
                return CommandResult(status: status(r.terminationStatus), output: r.standardOutput, error: tail(r.standardError))
            }
            let r = try await Subprocess.run(configuration, output: .discarded, error: .bytes(limit: 1 << 20))
            return CommandResult(status: status(r.terminationStatus), output: "", error: tail(r.standardError))
        } catch {
            throw OSError(.command, "cannot run \(executable): \(error)")
        }
    }

    /// Runs `argv` and throws, naming the command, its status and what it said, unless it
    /// exits 0.
    @discardableResult
    public static func check(_ argv: [String], environment: [String: String] = [:], captureOutput: Bool = false)
        async throws(OSError) -> CommandResult
    {
        let result = try await run(argv, environment: environment, captureOutput: captureOutput)
        guard result.status == 0 else {
            let said = result.error.trimmingCharacters(in: .whitespacesAndNewlines)
            throw OSError(.command, "\(argv.joined(separator: " ").prefix(300)) failed (\(result.status)): \(said.suffix(500))")
        }
        return result
    }

    static func configuration(_ argv: [String], environment: [String: String]) -> Configuration {
        var env: [Environment.Key: String] = ["PATH": path]
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = v }
        return Configuration(
            executable: .path(FilePath(argv[0])), arguments: Arguments(Array(argv.dropFirst())), environment: .custom(env))
    }

    static func status(_ s: TerminationStatus) -> Int32 {
        switch s {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    static func tail(_ bytes: [UInt8]) -> String { String(decoding: bytes.suffix(64 << 10), as: UTF8.self) }
}
