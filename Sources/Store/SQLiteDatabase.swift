import Foundation
import GRDB
import IMCCache

/// The service's SQLite database (WAL, `synchronous=FULL`): one file, migrated on open, shared
/// by the repositories of caches, instances and disks.
public final class SQLiteDatabase: Sendable {
    let pool: DatabasePool

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-caches") { db in
            try db.execute(
                sql: """
                    CREATE TABLE caches (
                        id TEXT PRIMARY KEY NOT NULL,
                        account TEXT NOT NULL,
                        region TEXT NOT NULL,
                        name TEXT NOT NULL,
                        status TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        creation REAL NOT NULL,
                        data BLOB NOT NULL
                    );
                    CREATE INDEX caches_account ON caches(account, creation);
                    CREATE INDEX caches_match ON caches(account, region, status);
                    CREATE INDEX caches_status ON caches(status);
                    """)
        }
        migrator.registerMigration("v2-match-index") { db in
            try db.execute(
                sql: """
                    ALTER TABLE caches ADD COLUMN expire REAL;
                    CREATE TABLE cache_images (
                        cache_id TEXT NOT NULL REFERENCES caches(id) ON DELETE CASCADE,
                        image TEXT NOT NULL,
                        PRIMARY KEY (cache_id, image)
                    ) WITHOUT ROWID;
                    CREATE INDEX cache_images_image ON cache_images(image, cache_id);
                    """)
            for row in try Row.fetchAll(db, sql: "SELECT data FROM caches") {
                let cache = try SQLiteCacheRepository.decoder.decode(ImageCache.self, from: row["data"] as Data)
                try SQLiteCacheRepository.index(cache, in: db)
            }
        }
        migrator.registerMigration("v3-instances-disks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE instances (
                        id TEXT PRIMARY KEY NOT NULL,
                        account TEXT NOT NULL,
                        region TEXT NOT NULL,
                        name TEXT NOT NULL,
                        status TEXT NOT NULL,
                        creation REAL NOT NULL,
                        data BLOB NOT NULL
                    );
                    CREATE INDEX instances_account ON instances(account, creation);
                    CREATE INDEX instances_status ON instances(status);
                    CREATE TABLE disks (
                        id TEXT PRIMARY KEY NOT NULL,
                        account TEXT NOT NULL,
                        use TEXT NOT NULL,
                        cache_id TEXT,
                        retain_until REAL,
                        data BLOB NOT NULL
                    );
                    CREATE INDEX disks_retained ON disks(account, use, cache_id, retain_until);
                    """)
        }
        try migrator.migrate(pool)
    }
}
