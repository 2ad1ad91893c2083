import Foundation

/// A directory that exists for the length of a test, removed afterwards (unmounting nothing:
/// tests unmount what they mount).
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "imc-test") throws {
        let base = ProcessInfo.processInfo.environment["IMC_TEST_TMP"] ?? NSTemporaryDirectory()
        let p = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        path = p
    }

    /// `path/name`.
    public func appending(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body`, then `cleanup` whatever happened (a `defer` that may await).
public func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    do {
        let result = try await body()
        await cleanup()
        return result
    } catch {
        await cleanup()
        throw error
    }
}

/// Runs the shell command `cleanup` once this process has ended, however it ends (a crash
/// included): a detached watcher polls for the process. For servers the tests start once per
/// process (PostgreSQL, Ceph), which no `deinit` or `atexit` would reliably stop.
public func whenThisProcessEnds(_ cleanup: String) throws {
    let pid = getpid()
    _ = try run("/usr/bin/setsid", ["-f", "/bin/sh", "-c", "while kill -0 \(pid) 2>/dev/null; do sleep 0.5; done; \(cleanup)"])
}
