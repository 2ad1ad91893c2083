import Foundation
import GRDB
import IMCCache
import IMCInstance

/// The service's SQLite database (WAL, `synchronous=FULL`): one file, migrated on open
/// (`SQLiteMigrations`), under every repository.
///
/// GRDB does the work on threads of its own and the callers suspend: a read runs on a reader
/// of the pool (a snapshot per statement); a write transaction holds `writes` (one at a time,
/// in the order asked) and runs each statement on GRDB's writer, from `BEGIN IMMEDIATE` to
/// `COMMIT`, through GRDB's callback API, so that a cancelled caller cannot leave the writer
/// inside a transaction.
public final class SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool
    public let secrets: SecretBox?
    /// The database file.
    public let path: String
    private let writes = AsyncLock()

    public var dialect: SQLDialect { .sqlite }
    public var description: String { "SQLite " + path }

    /// Opens (creating and migrating) the database at `path`. With `secrets`, passwords left in
    /// clear by an earlier version are sealed now, and deleted content is overwritten on disk.
    /// (The migration runs on the caller's thread: once, at start.)
    public init(path: String, secrets: SecretBox? = nil) throws {
        self.secrets = secrets
        self.path = path
        var configuration = Configuration()
        // A write transaction spans several accesses of the writer (BEGIN, each statement, COMMIT),
        // held together by `writes`.
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        SQLiteMigrations.register(in: &migrator)
        try migrator.migrate(pool)
        if let secrets { try sealPlaintextPasswords(secrets) }
    }

    public func read<T: Sendable>(_ body: (any SQLSession) async throws -> T) async throws -> T {
        try await body(SQLiteReader(pool: pool))
    }

    public func write<T: Sendable>(_ body: (any SQLSession) async throws -> T) async throws -> T {
        await writes.acquire()
        let session = SQLiteWriter(pool: pool)
        do {
            _ = try await session.execute("BEGIN IMMEDIATE")
        } catch {
            await writes.release()
            throw error
        }
        do {
            let result = try await body(session)
            _ = try await session.execute("COMMIT")
            await writes.release()
            return result
        } catch {
            _ = try? await session.execute("ROLLBACK")
            await writes.release()
            throw error
        }
    }

    /// Calls `notify` after each committed transaction that changed a cache or an instance (the
    /// Kubernetes door's watches wake on it instead of waiting for their next poll).
    public func observeCommits(_ notify: @escaping @Sendable () -> Void) async {
        pool.add(transactionObserver: CommitObserver(notify: notify), extent: .databaseLifetime)
    }

    public func ping() async -> Bool { (try? await rows("SELECT 1 AS one")) != nil }

    /// The rows of a read on the caller's thread, for where nothing can suspend (a test's
    /// teardown in `deinit`); never on a request's path.
    func rowsBlocking(_ statement: SQL) throws -> [SQLRow] {
        let (text, arguments) = grdb(statement)
        return try pool.read { db in try Row.fetchAll(db, sql: text, arguments: arguments).map(sqlRow) }
    }

    /// Seals any password stored in clear (rows written before encryption at rest).
    private func sealPlaintextPasswords(_ box: SecretBox) throws {
        let sealed = try pool.write { db -> Int in
            var count = 0
            for row in try Row.fetchAll(db, sql: "SELECT id, data FROM caches WHERE instr(data, '\"password\"') > 0") {
                let cache = try StoreCoding.decoder.decode(ImageCache.self, from: row["data"] as Data)
                guard cache.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                let sealed = try box.sealingClearPasswords(cache)
                try db.execute(
                    sql: "UPDATE caches SET data = ? WHERE id = ?", arguments: [try StoreCoding.encoder.encode(sealed), cache.id])
                count += 1
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, data FROM instances WHERE instr(data, '\"password\"') > 0") {
                let instance = try StoreCoding.decoder.decode(Instance.self, from: row["data"] as Data)
                guard instance.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                let sealed = try box.sealingClearPasswords(instance)
                try db.execute(
                    sql: "UPDATE instances SET data = ? WHERE id = ?",
                    arguments: [try StoreCoding.encoder.encode(sealed), instance.id])
                count += 1
            }
            // The history's copies too (sealing the rows above added sealed ones).
            for row in try Row.fetchAll(db, sql: "SELECT rowid, kind, data FROM history WHERE instr(data, '\"password\"') > 0") {
                let data: Data = row["data"]
                let resealed: Data
                if (row["kind"] as String) == "cache" {
                    let cache = try StoreCoding.decoder.decode(ImageCache.self, from: data)
                    guard cache.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                    resealed = try StoreCoding.encoder.encode(try box.sealingClearPasswords(cache))
                } else {
                    let instance = try StoreCoding.decoder.decode(Instance.self, from: data)
                    guard instance.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                    resealed = try StoreCoding.encoder.encode(try box.sealingClearPasswords(instance))
                }
                try db.execute(sql: "UPDATE history SET data = ? WHERE rowid = ?", arguments: [resealed, row["rowid"] as Int64])
                count += 1
            }
            return count
        }
        // The clear pages go from the main file too (secure_delete zeroes what they freed).
        if sealed > 0 { _ = try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) } }
    }
}

/// A statement's text and values as GRDB takes them.
private func grdb(_ statement: SQL) -> (String, StatementArguments) {
    let (text, values) = statement.rendered(for: .sqlite)
    let arguments: [(any DatabaseValueConvertible)?] = values.map {
        switch $0 {
        case .null: nil
        case .text(let s): s
        case .int(let i): i
        case .real(let d): d
        case .bytes(let d): d
        }
    }
    return (text, StatementArguments(arguments))
}

/// The statement's rows, its compiled form taken from (or kept in) the connection's cache: a
/// statement's text is compiled once per connection (compiling it was a sixth of a match).
private func fetch(_ db: Database, _ text: String, _ arguments: StatementArguments) throws -> [SQLRow] {
    try Row.fetchAll(try db.cachedStatement(sql: text), arguments: arguments).map(sqlRow)
}

/// A row of GRDB's as the store reads rows.
private func sqlRow(_ row: Row) -> SQLRow {
    var names: [String] = []
    var values: [SQLValue] = []
    for (name, value) in row {
        names.append(name)
        switch value.storage {
        case .null: values.append(.null)
        case .int64(let i): values.append(.int(i))
        case .double(let d): values.append(.real(d))
        case .string(let s): values.append(.text(s))
        case .blob(let d): values.append(.bytes(d))
        }
    }
    return SQLRow(names: names, values: values)
}

/// A unique constraint broken, as the store's error (told by its result code, never its text).
private func translated(_ error: any Error) -> any Error {
    if let e = error as? DatabaseError,
        e.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || e.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
    {
        return SQLUniqueViolation(constraint: e.message ?? "unique")
    }
    return error
}

/// Statements on a reader of the pool, each in a snapshot of its own.
private struct SQLiteReader: SQLSession {
    let pool: DatabasePool
    var dialect: SQLDialect { .sqlite }

    func rows(_ statement: SQL) async throws -> [SQLRow] {
        let (text, arguments) = grdb(statement)
        do {
            return try await pool.read { db in try fetch(db, text, arguments) }
        } catch { throw translated(error) }
    }

    func execute(_ statement: SQL) async throws -> Int {
        throw StoreError(.database, "a write outside a write transaction: \(statement)")
    }
}

/// Statements on GRDB's writer, inside the transaction `SQLiteDatabase.write` holds.
private struct SQLiteWriter: SQLSession {
    let pool: DatabasePool
    var dialect: SQLDialect { .sqlite }

    /// Runs `work` on the writer and waits for it; not cancellable (a transaction is always ended).
    private func onWriter<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.asyncWriteWithoutTransaction { db in
                do { continuation.resume(returning: try work(db)) } catch { continuation.resume(throwing: translated(error)) }
            }
        }
    }

    func rows(_ statement: SQL) async throws -> [SQLRow] {
        let (text, arguments) = grdb(statement)
        return try await onWriter { db in try fetch(db, text, arguments) }
    }

    func execute(_ statement: SQL) async throws -> Int {
        let (text, arguments) = grdb(statement)
        return try await onWriter { db in
            if text.contains(";") {
                try db.execute(sql: text, arguments: arguments)  // BEGIN IMMEDIATE; COMMIT; a migration's script
            } else {
                try db.cachedStatement(sql: text).execute(arguments: arguments)
            }
            return db.changesCount
        }
    }
}

/// Tells when a transaction that changed caches or instances commits. GRDB calls it on the
/// writer's queue only, one transaction at a time.
private final class CommitObserver: TransactionObserver, @unchecked Sendable {
    let notify: @Sendable () -> Void
    private var changed = false
    init(notify: @escaping @Sendable () -> Void) { self.notify = notify }
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        ["caches", "instances"].contains(eventKind.tableName)
    }
    func databaseDidChange(with event: DatabaseEvent) { changed = true }
    func databaseDidCommit(_ db: Database) {
        if changed { notify() }
        changed = false
    }
    func databaseDidRollback(_ db: Database) { changed = false }
}
