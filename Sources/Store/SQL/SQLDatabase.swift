import Foundation

/// Where the two SQL dialects imc speaks differ; everything else is written once.
public enum SQLDialect: Sendable, Equatable {
    case sqlite
    case postgresql

    /// Appended to a read in a write transaction, for rows the transaction will change:
    /// PostgreSQL locks them until it ends; SQLite's write transaction holds the whole database
    /// already.
    public var forUpdate: String { self == .postgresql ? " FOR UPDATE" : "" }
    /// The same, passing over rows another transaction holds (a second replica claiming at the
    /// same moment takes another row, or none, instead of waiting).
    public var forUpdateSkipLocked: String { self == .postgresql ? " FOR UPDATE SKIP LOCKED" : "" }
    /// `a IS b` with NULLs equal.
    public var isNotDistinctFrom: String { self == .postgresql ? "IS NOT DISTINCT FROM" : "IS" }
    /// The larger of two values.
    public var greatest: String { self == .postgresql ? "GREATEST" : "MAX" }
    /// A lock named `name` held until the transaction ends, for allocations that read what is
    /// taken and take what is free (one replica at a time); nil where the write transaction is
    /// exclusive already (SQLite).
    public func lock(_ name: String) -> SQL? {
        self == .postgresql ? "SELECT pg_advisory_xact_lock(hashtext(\(name)))" : nil
    }
}

/// Statements run on one connection of a database: in a transaction (`SQLDatabase.write`), or
/// each on its own (`read`).
public protocol SQLSession: Sendable {
    var dialect: SQLDialect { get }
    /// The rows the statement returns.
    func rows(_ statement: SQL) async throws -> [SQLRow]
    /// Runs the statement; returns how many rows it inserted, changed or deleted.
    @discardableResult
    func execute(_ statement: SQL) async throws -> Int
}

extension SQLSession {
    /// Takes the dialect's named lock until the transaction ends (nothing in SQLite).
    public func lock(_ name: String) async throws {
        if let statement = dialect.lock(name) { try await execute(statement) }
    }
}

/// The SQL layer under every repository: SQLite (GRDB, the embedded default) and PostgreSQL
/// (postgres-nio's `PostgresClient`). Nothing here blocks a thread of the cooperative pool: both
/// suspend the caller while their own threads or event loops do the work.
///
/// Contract: `write` runs `body` in one transaction, committed when it returns and rolled back
/// when it throws (a cancelled caller's transaction is still ended, one way or the other);
/// `read` runs `body`'s statements each on its own. A unique constraint a statement breaks is
/// thrown as `SQLUniqueViolation`, a lost or silent server as `StoreError(.database)`.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Registry passwords are sealed with this before they are written (nil: kept as given, for
    /// tests of the store alone).
    var secrets: SecretBox? { get }
    func read<T: Sendable>(_ body: (any SQLSession) async throws -> T) async throws -> T
    func write<T: Sendable>(_ body: (any SQLSession) async throws -> T) async throws -> T
    /// Calls `notify` after each committed transaction that changed a cache or an instance (by
    /// any replica, with PostgreSQL).
    func observeCommits(_ notify: @escaping @Sendable () -> Void) async
    /// Whether the database answers (for `/readyz`).
    func ping() async -> Bool
    /// What holds the state, for the log (a URL without its password, or a file).
    var description: String { get }
}

extension SQLDatabase {
    /// The rows of one statement, run on its own.
    public func rows(_ statement: SQL) async throws -> [SQLRow] { try await read { try await $0.rows(statement) } }
    /// One statement in a transaction of its own; how many rows it changed.
    @discardableResult
    public func execute(_ statement: SQL) async throws -> Int { try await write { try await $0.execute(statement) } }
}

/// A statement broke a unique constraint (a name or a key already taken).
public struct SQLUniqueViolation: Error, Sendable, CustomStringConvertible {
    /// The constraint or columns, as the database names them (for the log).
    public let constraint: String
    public init(constraint: String) { self.constraint = constraint }
    public var description: String { "a unique constraint (\(constraint)) was broken" }
}
