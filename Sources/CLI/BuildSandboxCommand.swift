import ArgumentParser
import Foundation
import IMCCaches
import Logging

/// `imc build-sandbox`: the inside of a build sandbox (`BuildSandbox` starts it; a person does
/// not). Runs one build job on the disk at `--root` and writes its messages, one per line, to
/// standard output; its log goes to standard error.
struct BuildSandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-sandbox", abstract: "Run one build job (started by imc serve inside a build sandbox).", shouldDisplay: false)

    @Option(help: "The job, as JSON.") var job: String
    @Option(help: "The mounted build disk.") var root: String

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let logger = Logger(label: "imc.build-sandbox")
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: job)) } catch {
            Self.emit(BuildMessage(.failed, "Build failed: the job cannot be read: \(error)", reason: "BuildFailed"))
            throw ExitCode(1)
        }
        guard let decoded = try? JSONDecoder().decode(BuildJob.self, from: data) else {
            Self.emit(BuildMessage(.failed, "Build failed: the job is not valid", reason: "BuildFailed"))
            throw ExitCode(1)
        }
        do {
            try await decoded.run(root: root, logger: logger, emit: Self.emit)
            Self.emit(BuildMessage(.done, "done"))
        } catch {
            Self.emit(BuildMessage(.failed, error.message, reason: error.reason.rawValue))
            throw ExitCode(1)
        }
    }

    @Sendable static func emit(_ message: BuildMessage) {
        FileHandle.standardOutput.write(Data((message.line + "\n").utf8))
    }
}
