import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The service's state in PostgreSQL (`imc serve --database postgres://...`): the same schema as
/// the SQLite database (`PostgreSQLMigrations`), migrated on open under an advisory lock (so
/// replicas starting at once migrate once), shared by any number of API replicas and nodes.
///
/// Statements go through postgres-nio's `PostgresClient` (its pool of connections, `async`
/// queries on its event loops): a caller suspends, no thread waits. Writes are transactions
/// (`READ COMMITTED`); rows that two replicas may both want are taken with `FOR UPDATE` or
/// `FOR UPDATE SKIP LOCKED`, and allocations under an advisory lock. The server gives up on a
/// statement after `statementTimeout` (set at connect), the client a little later, for a server
/// or network that no longer answers at all.
public final class PostgreSQLDatabase: SQLDatabase {
    public let secrets: SecretBox?
    let client: PostgresClient
    private let clientConfiguration: PostgresClient.Configuration
    /// The same server and credentials, for a connection of its own (LISTEN, the first check).
    private let listenerConfiguration: PostgresConnection.Configuration
    private let logger: Logger
    /// The client's background work (its pool), and the change listeners', until `close()`.
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// What the URL names, password left out (for logs and errors).
    public let displayName: String

    public var dialect: SQLDialect { .postgresql }
    public var description: String { "PostgreSQL " + displayName }

    static let statementTimeout: Int64 = 60

    private init(url: String, secrets: SecretBox?, connections: Int, logger: Logger) throws {
        let (configuration, display) = try Self.configuration(url, connections: connections)
        self.secrets = secrets
        self.displayName = display
        self.logger = logger
        clientConfiguration = configuration
        var single: PostgresConnection.Configuration
        if let path = configuration.unixSocketPath {
            single = .init(
                unixSocketPath: path, username: configuration.username, password: configuration.password, database: configuration.database)
        } else {
            single = .init(
                host: configuration.host ?? "127.0.0.1", port: configuration.port ?? 5432, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable)
        }
        single.options.connectTimeout = .seconds(10)
        listenerConfiguration = single
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Opens the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or a Unix
    /// socket directory as `?host=/run/postgresql`), starts its connection pool and migrates it.
    public static func open(
        url: String, secrets: SecretBox? = nil, connections: Int = 8, logger: Logger = Logger(label: "imc.postgresql")
    ) async throws -> PostgreSQLDatabase {
        let database = try PostgreSQLDatabase(url: url, secrets: secrets, connections: connections, logger: logger)
        let client = database.client
        database.tasks.withLock { $0.append(Task { await client.run() }) }
        do {
            // One connection of its own first: a server that cannot be reached is said at once
            // (the pool would keep trying behind a circuit breaker).
            do {
                let probe = try await PostgresConnection.connect(configuration: database.listenerConfiguration, id: 0, logger: logger)
                try? await probe.close()
            } catch {
                throw StoreError(
                    .database, "cannot connect to PostgreSQL (\(database.displayName)): \(Self.translated(error))", cause: error)
            }
            try await PostgreSQLMigrations.migrate(database)
            if let secrets { try await database.checkKey(secrets) }
        } catch {
            database.close()
            throw error
        }
        return database
    }

    /// Every replica must seal with the same key (`IMC_MASTER_KEY`): the first to start records
    /// a value sealed with its key; one whose key cannot open it is refused.
    private func checkKey(_ box: SecretBox) async throws {
        let name = displayName
        try await write { session in
            if let row = try await session.rows("SELECT sealed FROM key_check FOR UPDATE").first {
                guard (try? box.open(try row.string("sealed"))) == "imc key check" else {
                    throw StoreError(
                        .secret, "the database's secrets are sealed with another key: every replica needs the same IMC_MASTER_KEY (\(name))"
                    )
                }
            } else {
                try await session.execute("INSERT INTO key_check (sealed) VALUES (\(try box.seal("imc key check"))) ON CONFLICT DO NOTHING")
            }
        }
    }

    /// Ends the pool and every listener (their connections close).
    public func close() {
        for task in tasks.withLock({ list in
            defer { list = [] }
            return list
        }) { task.cancel() }
    }

    deinit { close() }

    /// Parses a `postgres://` URL into a client configuration (TLS off: a socket on the host or a
    /// private network; `sslmode=require` is refused rather than silently ignored).
    static func configuration(_ url: String, connections: Int) throws -> (PostgresClient.Configuration, String) {
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
        var configuration: PostgresClient.Configuration
        let display: String
        let port = parts.port ?? 5432
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            configuration = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            display = "postgres://\(user)@/\(database)?host=\(socketDirectory)"
        } else {
            let host = parts.host ?? "127.0.0.1"
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
            display = "postgres://\(user)@\(host):\(port)/\(database)"
        }
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.maximumConnections = max(1, connections)
        configuration.options.additionalStartupParameters = [("statement_timeout", "\(statementTimeout)s")]
        return (configuration, display)
    }

    public func read<T: Sendable>(_ body: (any SQLSession) async throws -> T) async throws -> T {
        var lent = false
        do {
            return try await client.withConnection { connection in
                lent = true
                return try await body(PostgreSQLSession(connection: connection, logger: logger))
            }
        } catch { throw lent ? Self.translated(error) : unreachable(error) }
    }

    public func write<T: Sendable>(_ body: (any SQLSession) async throws -> T) async throws -> T {
        var lent = false
        do {
            return try await client.withTransaction(logger: logger) { connection in
                lent = true
                return try await body(PostgreSQLSession(connection: connection, logger: logger))
            }
        } catch { throw lent ? Self.translated(error) : unreachable(error) }
    }

    /// No connection could be had (the server is gone or refuses): the store's error.
    private func unreachable(_ error: any Error) -> StoreError {
        StoreError(.database, "PostgreSQL (\(displayName)) gave no connection: \(Self.translated(error))", cause: error)
    }

    /// PostgresNIO's errors as the store's: a broken unique constraint by its SQLSTATE, anything
    /// else with PostgreSQL's own message (PostgresNIO's description hides it), never the values.
    static func translated(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError {
            return translated(transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error)
        }
        guard let e = error as? PSQLError else { return error }
        let state = e.serverInfo?[.sqlState]
        if state == "23505" { return SQLUniqueViolation(constraint: e.serverInfo?[.constraintName] ?? "unique") }
        let message = e.serverInfo?[.message] ?? "\(e.code)"
        return StoreError(.database, "PostgreSQL: \(message)" + (state.map { " (SQLSTATE \($0))" } ?? ""), cause: e)
    }

    /// Calls `notify` after each committed transaction that changed a cache or an instance, on
    /// this replica or any other (the triggers `NOTIFY imc_changes`): a connection of its own
    /// listens, and listens again a second after it is lost (calling `notify` once, for what it
    /// may have missed). Returns once the first connection listens (or failed to).
    public func observeCommits(_ notify: @escaping @Sendable () -> Void) async {
        let configuration = listenerConfiguration
        let logger = self.logger
        let started = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let startedOnce: @Sendable () -> Void = {
            started.withLock {
                $0?.resume()
                $0 = nil
            }
        }
        await withCheckedContinuation { continuation in
            started.withLock { $0 = continuation }
            let task = Task {
                while !Task.isCancelled {
                    do {
                        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                        try await withTaskCancellationHandler {
                            try await connection.listen(on: "imc_changes") { changes in
                                startedOnce()
                                for try await _ in changes { notify() }
                            }
                        } onCancel: {
                            let _: EventLoopFuture<Void> = connection.close()
                        }
                        try? await connection.close()
                    } catch {
                        startedOnce()
                        if Task.isCancelled { return }
                        logger.warning("cannot listen for changes; retrying in a second", metadata: ["error": "\(Self.translated(error))"])
                    }
                    notify()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            tasks.withLock { $0.append(task) }
        }
    }

    public func ping() async -> Bool { (try? await rows("SELECT 1 AS one")) != nil }
}

/// One connection lent by the pool: statements with `$n` parameters.
struct PostgreSQLSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logger
    var dialect: SQLDialect { .postgresql }

    func rows(_ statement: SQL) async throws -> [SQLRow] {
        try await run(statement).rows.map(Self.row)
    }

    func execute(_ statement: SQL) async throws -> Int {
        try await run(statement).metadata.rows ?? 0
    }

    /// Runs the statement and waits for all of it, failing with `StoreError(.database)` when it
    /// has not completed `statementTimeout` plus 15 s later (a query on a connection whose server
    /// vanished: no caller waits forever, and the connection is closed).
    private func run(_ statement: SQL) async throws -> PostgresQueryResult {
        let (text, values) = statement.rendered(for: .postgresql)
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: bindings.appendNull()
            case .text(let s): bindings.append(s)
            case .int(let i): bindings.append(i)
            case .real(let d): bindings.append(d)
            case .bytes(let d): bindings.append(ByteBuffer(bytes: d))
            }
        }
        let future: EventLoopFuture<PostgresQueryResult> = connection.query(PostgresQuery(unsafeSQL: text, binds: bindings), logger: logger)
        let promise = future.eventLoop.makePromise(of: PostgresQueryResult.self)
        future.cascade(to: promise)
        let seconds = PostgreSQLDatabase.statementTimeout + 15
        let connection = self.connection
        let timeout = future.eventLoop.scheduleTask(in: .seconds(seconds)) {
            promise.fail(StoreError(.database, "PostgreSQL did not answer within \(seconds) s"))
            let _: EventLoopFuture<Void> = connection.close()
        }
        defer { timeout.cancel() }
        do { return try await promise.futureResult.get() } catch { throw PostgreSQLDatabase.translated(error) }
    }

    /// A row as the store reads rows: each cell by its type.
    static func row(_ row: PostgresRow) -> SQLRow {
        var names: [String] = []
        var values: [SQLValue] = []
        for cell in row {
            names.append(cell.columnName)
            guard cell.bytes != nil else {
                values.append(.null)
                continue
            }
            switch cell.dataType {
            case .int2, .int4, .int8, .oid: values.append((try? cell.decode(Int64.self)).map { .int($0) } ?? .null)
            case .float4, .float8, .numeric: values.append((try? cell.decode(Double.self)).map { .real($0) } ?? .null)
            case .bool: values.append((try? cell.decode(Bool.self)).map { .int($0 ? 1 : 0) } ?? .null)
            case .bytea:
                var buffer = (try? cell.decode(ByteBuffer.self)) ?? ByteBuffer()
                values.append(.bytes(buffer.readData(length: buffer.readableBytes) ?? Data()))
            default: values.append((try? cell.decode(String.self)).map { .text($0) } ?? .null)
            }
        }
        return SQLRow(names: names, values: values)
    }
}
