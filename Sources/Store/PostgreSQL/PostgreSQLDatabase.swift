import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The service's state in PostgreSQL (`imc serve --database postgres://...`): the same tables as
/// the SQLite database, migrated on open under an advisory lock (so replicas starting at once
/// migrate once), shared by any number of API replicas and builders.
///
/// The repositories' contract is synchronous, as GRDB's is: each call takes a connection from a
/// small pool and waits for PostgresNIO's futures on the caller's thread (never an event loop's).
/// Writes are transactions (`READ COMMITTED`); rows that two replicas may both want are taken
/// with `FOR UPDATE` or `FOR UPDATE SKIP LOCKED`, and allocations under an advisory lock.
public final class PostgreSQLDatabase: Sendable {
    let secrets: SecretBox?
    let pool: PostgreSQLPool
    /// What the URL names, password left out (for logs and errors).
    public let displayName: String

    /// Opens the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or a
    /// Unix socket directory as `?host=/run/postgresql`) and migrates it.
    public init(url: String, secrets: SecretBox? = nil, connections: Int = 8, logger: Logger = Logger(label: "imc.postgresql")) throws {
        let (configuration, display) = try Self.configuration(url)
        self.secrets = secrets
        self.displayName = display
        pool = PostgreSQLPool(configuration: configuration, size: max(1, connections), logger: logger)
        try PostgreSQLSchema.migrate(self)
        if let secrets { try checkKey(secrets) }
    }

    /// Every replica must seal with the same key (`IMC_MASTER_KEY`): the first to start records
    /// a value sealed with its key; one whose key cannot open it is refused.
    private func checkKey(_ box: SecretBox) throws {
        try write { session in
            if let row = try session.rows("SELECT sealed FROM key_check FOR UPDATE").first {
                guard (try? box.open(try row.string("sealed"))) == "imc key check" else {
                    throw StoreError(
                        .secret,
                        "the database's secrets are sealed with another key: every replica needs the same IMC_MASTER_KEY (\(displayName))")
                }
            } else {
                try session.execute(
                    "INSERT INTO key_check (sealed) VALUES ($1) ON CONFLICT DO NOTHING", [.text(try box.seal("imc key check"))])
            }
        }
    }

    /// Closes every connection (the next call opens new ones).
    public func close() { pool.close() }

    /// Parses a `postgres://` URL into a connection configuration (TLS off: a socket on the
    /// host or a private network; `sslmode=require` is refused rather than silently ignored).
    static func configuration(_ url: String) throws -> (PostgresConnection.Configuration, String) {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? "") else {
            // The URL itself is not repeated: it may hold a password.
            throw StoreError(.database, "--database: not a valid postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL")
        }
        let query = Dictionary((parts.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        if let mode = query["sslmode"], !["disable", "allow", "prefer"].contains(mode) {
            throw StoreError(.database, "--database: sslmode=\(mode) is not supported (imc speaks to PostgreSQL without TLS)")
        }
        let user = parts.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = parts.password.flatMap { $0.removingPercentEncoding }
        var database = String(parts.path.drop(while: { $0 == "/" }))
        if database.isEmpty { database = user }
        var configuration: PostgresConnection.Configuration
        let display: String
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            let port = parts.port ?? 5432
            configuration = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            display = "postgres://\(user)@/\(database)?host=\(socketDirectory)"
        } else {
            let host = parts.host ?? "127.0.0.1"
            let port = parts.port ?? 5432
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
            display = "postgres://\(user)@\(host):\(port)/\(database)"
        }
        configuration.options.connectTimeout = .seconds(10)
        return (configuration, display)
    }

    /// Runs `body` on one connection, outside a transaction (single statements: reads).
    func read<T>(_ body: (PostgreSQLSession) throws -> T) throws -> T {
        try pool.withConnection { try body($0) }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func write<T>(_ body: (PostgreSQLSession) throws -> T) throws -> T {
        try pool.withConnection { session in
            try session.execute("BEGIN")
            do {
                let result = try body(session)
                try session.execute("COMMIT")
                return result
            } catch {
                _ = try? session.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Calls `notify` after each committed transaction that changed a cache or an instance, on
    /// this replica or any other (the triggers `NOTIFY imc_changes`; a connection of its own
    /// listens, and listens again when it is lost).
    public func observeCommits(_ notify: @escaping @Sendable () -> Void) {
        pool.listen(channel: "imc_changes", notify)
    }

    /// True when the database answers (for `/readyz`).
    public func ping() -> Bool { (try? read { try $0.rows("SELECT 1") }) != nil }
}

/// A value bound to a statement's `$n`.
enum SQLValue: Sendable {
    case null
    case text(String)
    case int(Int64)
    case real(Double)
    case bytes(Data)
    case texts([String])

    static func text(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    static func int(_ i: Int) -> SQLValue { .int(Int64(i)) }
    static func real(_ d: Double?) -> SQLValue { d.map { .real($0) } ?? .null }
    static func time(_ date: Date?) -> SQLValue { real(date?.timeIntervalSince1970) }
}

/// One connection lent by the pool: statements with `$n` parameters, waited for.
struct PostgreSQLSession {
    let connection: PostgresConnection
    let logger: Logger

    @discardableResult
    func execute(_ sql: String, _ values: [SQLValue] = []) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: bindings.appendNull()
            case .text(let s): bindings.append(s)
            case .int(let i): bindings.append(i)
            case .real(let d): bindings.append(d)
            case .bytes(let d): bindings.append(ByteBuffer(bytes: d))
            case .texts(let a): bindings.append(a)
            }
        }
        do {
            return try Self.wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger))
        } catch let error as PSQLError {
            throw PostgreSQLError(error)
        }
    }

    /// The server gives up on a statement after this (`statement_timeout`, set on connect); the
    /// client gives up a little later, for a server or network that no longer answers at all.
    static let statementTimeout: Int64 = 60

    /// Waits for `future`, failing with `PostgreSQLUnanswered` when it has not completed within
    /// `statementTimeout` plus 15 s (a query on a connection whose server vanished: no caller
    /// waits forever, and the pool closes that connection).
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        let seconds = statementTimeout + 15
        let timeout = future.eventLoop.scheduleTask(in: .seconds(seconds)) { promise.fail(PostgreSQLUnanswered(seconds: seconds)) }
        defer { timeout.cancel() }
        return try promise.futureResult.wait()
    }

    /// The rows of a query, each readable by column name.
    func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [PostgresRandomAccessRow] {
        try execute(sql, values).rows.map { $0.makeRandomAccess() }
    }

    /// How many rows a statement inserted, changed or deleted.
    func affected(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
        try execute(sql, values).metadata.rows ?? 0
    }

    /// Holds a lock named `name` until the transaction ends (allocations that read what is
    /// taken and take what is free: one replica at a time).
    func lock(_ name: String) throws {
        try execute("SELECT pg_advisory_xact_lock(hashtext($1))", [.text(name)])
    }
}

/// PostgreSQL did not answer a statement in time (the server or the network is gone).
struct PostgreSQLUnanswered: Error, CustomStringConvertible {
    let seconds: Int64
    var description: String { "PostgreSQL did not answer within \(seconds) s" }
}

/// A failure PostgreSQL reported, with its SQLSTATE and message (PostgresNIO's own description
/// hides both).
struct PostgreSQLError: Error, CustomStringConvertible {
    let state: String?
    let message: String
    let constraint: String?
    init(_ error: PSQLError) {
        state = error.serverInfo?[.sqlState]
        constraint = error.serverInfo?[.constraintName]
        message = error.serverInfo?[.message] ?? "\(error.code)"
    }
    var isUniqueViolation: Bool { state == "23505" }
    var description: String { "PostgreSQL: \(message)" + (state.map { " (SQLSTATE \($0))" } ?? "") }
}

extension PostgresRandomAccessRow {
    func string(_ column: String) throws -> String { try self[column].decode(String.self) }
    func optionalString(_ column: String) throws -> String? { try self[column].decode(String?.self) }
    func int(_ column: String) throws -> Int { try self[column].decode(Int.self) }
    func int64(_ column: String) throws -> Int64 { try self[column].decode(Int64.self) }
    func double(_ column: String) throws -> Double { try self[column].decode(Double.self) }
    func optionalDouble(_ column: String) throws -> Double? { try self[column].decode(Double?.self) }
    func data(_ column: String) throws -> Data {
        var buffer = try self[column].decode(ByteBuffer.self)
        return buffer.readData(length: buffer.readableBytes) ?? Data()
    }
    func has(_ column: String) -> Bool { contains(column) }
}

/// A fixed number of connections, opened on first use and lent one caller at a time; a
/// connection that failed is closed and replaced by the next caller.
final class PostgreSQLPool: Sendable {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let free: DispatchSemaphore
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(1)
    private let listeners = Mutex<[PostgresConnection]>([])
    private let closed = Atomic<Bool>(false)

    init(configuration: PostgresConnection.Configuration, size: Int, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        free = DispatchSemaphore(value: size)
    }

    private func connect() throws -> PostgresConnection {
        do {
            let connection = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, logger: logger
            ).wait()
            do {
                _ = try PostgreSQLSession.wait(
                    connection.query(
                        PostgresQuery(unsafeSQL: "SET statement_timeout = '\(PostgreSQLSession.statementTimeout)s'"), logger: logger))
            } catch {
                try? connection.close().wait()
                throw error
            }
            return connection
        } catch let error as PSQLError {
            throw StoreError(.database, "cannot connect to PostgreSQL: \(PostgreSQLError(error))", cause: error)
        }
    }

    func withConnection<T>(_ body: (PostgreSQLSession) throws -> T) throws -> T {
        free.wait()
        defer { free.signal() }
        let connection = try idle.withLock { $0.popLast() } ?? connect()
        do {
            let result = try body(PostgreSQLSession(connection: connection, logger: logger))
            idle.withLock { $0.append(connection) }
            return result
        } catch {
            // A statement's error leaves the connection usable; a lost connection does not.
            if connection.isClosed || !(error is PostgreSQLError) && !(error is StoreError) {
                try? connection.close().wait()
            } else {
                idle.withLock { $0.append(connection) }
            }
            if let unanswered = error as? PostgreSQLUnanswered { throw StoreError(.database, unanswered.description, cause: unanswered) }
            throw error
        }
    }

    /// A connection of its own that LISTENs on `channel`, opened again (with one call of
    /// `notify`, for what it may have missed) when it is lost.
    func listen(channel: String, _ notify: @escaping @Sendable () -> Void) {
        guard !closed.load(ordering: .relaxed) else { return }
        let connection: PostgresConnection
        do {
            connection = try connect()
            connection.addListener(channel: channel) { _, _ in notify() }
            _ = try connection.query(PostgresQuery(unsafeSQL: "LISTEN \(channel)"), logger: logger).wait()
        } catch {
            logger.warning("cannot listen for changes; retrying in a second", metadata: ["error": "\(error)"])
            DispatchQueue.global().asyncAfter(deadline: .now() + 1) { self.listen(channel: channel, notify) }
            return
        }
        listeners.withLock { $0.append(connection) }
        connection.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            self.listeners.withLock { $0.removeAll { $0 === connection } }
            guard !self.closed.load(ordering: .relaxed) else { return }
            notify()
            DispatchQueue.global().asyncAfter(deadline: .now() + 1) { [weak self] in self?.listen(channel: channel, notify) }
        }
    }

    /// Closes every connection, idle or listening (a connection in use is closed by its
    /// caller's next failure).
    func close() {
        closed.store(true, ordering: .relaxed)
        let all = idle.withLock { list in
            defer { list = [] }
            return list
        }
        let listening = listeners.withLock { list in
            defer { list = [] }
            return list
        }
        for connection in all + listening {
            if MultiThreadedEventLoopGroup.currentEventLoop == nil {
                try? connection.close().wait()
            } else {
                let _: EventLoopFuture<Void> = connection.close()
            }
        }
    }

    deinit { close() }
}
