import Foundation

/// The service's state, every repository over one database: SQLite under the data root (the
/// embedded default) or PostgreSQL (`--database postgres://...`, shared by replicas and nodes).
/// The repositories are written once (`Tables/`) over `SQLDatabase`; the backends differ only
/// where their SQL does.
public struct StateStore: Sendable {
    public let database: any SQLDatabase
    public let caches: any CacheRepository
    public let instances: any InstanceRepository
    public let usage: any UsageRepository
    public let objects: any ObjectRepository
    public let nodes: any NodeRepository

    public init(database: any SQLDatabase) {
        self.database = database
        caches = SQLCacheRepository(database: database)
        instances = SQLInstanceRepository(database: database)
        usage = SQLUsageRepository(database: database)
        objects = SQLObjectRepository(database: database)
        nodes = SQLNodeRepository(database: database)
    }

    /// Opens (creating and migrating) the state: `database` nil or a path for SQLite (nil:
    /// `imc.sqlite` under `dataRoot`), a `postgres://` URL for PostgreSQL.
    public static func open(database: String?, dataRoot: String, secrets: SecretBox?) async throws -> StateStore {
        if let database, database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") {
            return StateStore(database: try await PostgreSQLDatabase.open(url: database, secrets: secrets))
        }
        return StateStore(database: try SQLiteDatabase(path: database ?? dataRoot + "/imc.sqlite", secrets: secrets))
    }

    /// What holds the state, for the log (a URL without its password, or a file).
    public var description: String { database.description }

    /// Calls `notify` after each committed change of a cache or an instance (by any replica,
    /// with PostgreSQL).
    public func observeCommits(_ notify: @escaping @Sendable () -> Void) async { await database.observeCommits(notify) }

    /// True when the database answers.
    public func ready() async -> Bool { await database.ping() }
}
