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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: productsDirectory + "/" + product)
        p.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}
