import Foundation

/// The service's state, every repository over one database: SQLite under the data root (the
/// embedded default) or PostgreSQL (`--database postgres://...`, shared by replicas and nodes).
public struct StateStore: Sendable {
    public let caches: any CacheRepository
    public let instances: any InstanceRepository
    public let usage: any UsageRepository
    public let objects: any ObjectRepository
    public let nodes: any NodeRepository
    /// What holds the state, for the log (a URL without its password, or a file).
    public let description: String
    private let observe: @Sendable (@escaping @Sendable () -> Void) -> Void
    private let answers: @Sendable () -> Bool

    /// Opens (creating and migrating) the state: `database` nil or a path for SQLite (nil:
    /// `imc.sqlite` under `dataRoot`), a `postgres://` URL for PostgreSQL.
    public static func open(database: String?, dataRoot: String, secrets: SecretBox?) throws -> StateStore {
        if let database, database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") {
            return postgres(try PostgreSQLDatabase(url: database, secrets: secrets))
        }
        return sqlite(try SQLiteDatabase(path: database ?? dataRoot + "/imc.sqlite", secrets: secrets))
    }

    public static func sqlite(_ database: SQLiteDatabase) -> StateStore {
        let caches = SQLiteCacheRepository(database: database)
        return StateStore(
            caches: caches, instances: SQLiteInstanceRepository(database: database), usage: SQLiteUsageRepository(database: database),
            objects: SQLiteObjectRepository(database: database), nodes: SQLiteNodeRepository(database: database),
            description: "SQLite " + database.path,
            observe: { database.observeCommits($0) }, answers: { (try? caches.revisions()) != nil })
    }

    public static func postgres(_ database: PostgreSQLDatabase) -> StateStore {
        StateStore(
            caches: PostgreSQLCacheRepository(database: database), instances: PostgreSQLInstanceRepository(database: database),
            usage: PostgreSQLUsageRepository(database: database), objects: PostgreSQLObjectRepository(database: database),
            nodes: PostgreSQLNodeRepository(database: database),
            description: "PostgreSQL " + database.displayName, observe: { database.observeCommits($0) }, answers: { database.ping() })
    }

    /// Calls `notify` after each committed change of a cache or an instance (by any replica,
    /// with PostgreSQL).
    public func observeCommits(_ notify: @escaping @Sendable () -> Void) { observe(notify) }

    /// True when the database answers.
    public func ready() -> Bool { answers() }
}
