import Foundation
import Synchronization

/// Debian's PostgreSQL 15 started for the tests: `initdb` in a temporary directory, the server
/// on a free loopback port (its socket in that directory too), run as the `postgres` user (the
/// server refuses root). One server per test process, started on first use and stopped when
/// the process ends (however it ends); each test takes a database of its own (`newDatabase()`).
public final class PostgreSQLServer: Sendable {
    public let port: Int
    public let directory: String

    static let bin = "/usr/lib/postgresql/15/bin"
    /// Whether PostgreSQL is installed (tests are gated on it with `.enabled(if:)`).
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: bin + "/postgres") }

    private static let shared = Mutex<PostgreSQLServer?>(nil)

    /// The process's server, started on first call.
    public static func running() throws -> PostgreSQLServer {
        try shared.withLock { server in
            if let server { return server }
            let started = try start()
            server = started
            try whenThisProcessEnds(
                "runuser -u postgres -- \(bin)/pg_ctl -D \(started.directory)/data -m immediate stop; rm -rf \(started.directory)")
            return started
        }
    }

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// A server of its own (for a test bed that outlives one test): stop it with `stop()`.
    public static func start() throws -> PostgreSQLServer {
        let base = ProcessInfo.processInfo.environment["IMC_TEST_TMP"] ?? NSTemporaryDirectory()
        let directory = (base as NSString).appendingPathComponent("imc-postgres-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try run("/usr/bin/chown", ["postgres:postgres", directory])
        let port = try freePort()
        let data = directory + "/data"
        _ = try run(
            "/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"])
        _ = try run(
            "/usr/sbin/runuser",
            [
                "-u", "postgres", "--", bin + "/pg_ctl", "-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o",
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", "start",
            ])
        return PostgreSQLServer(port: port, directory: directory)
    }

    /// The URL of database `name` (trust authentication on loopback).
    public func url(_ name: String = "postgres") -> String { "postgres://postgres@127.0.0.1:\(port)/\(name)" }

    /// A new, empty database, and its URL.
    public func newDatabase() throws -> String {
        let name = "imc_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try psql("CREATE DATABASE \(name)")
        return url(name)
    }

    /// Runs SQL as the superuser.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try run(
            Self.bin + "/psql",
            ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    public func stop() {
        _ = try? CommandRunner.capture(
            "/usr/sbin/runuser", ["-u", "postgres", "--", Self.bin + "/pg_ctl", "-D", directory + "/data", "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }
}
