import Foundation
import GRDB
import IMCCache
import IMCInstance

/// The service's SQLite database (WAL, `synchronous=FULL`): one file, migrated on open, shared
/// by the repositories of caches, instances and disks.
public final class SQLiteDatabase: Sendable {
    let pool: DatabasePool
    /// Registry passwords are sealed with this before they are written (nil: kept as given, for
    /// tests of the store alone).
    let secrets: SecretBox?
    /// The database file.
    public let path: String

    /// Opens (creating and migrating) the database at `path`. With `secrets`, passwords left in
    /// clear by an earlier version are sealed now, and deleted content is overwritten on disk.
    public init(path: String, secrets: SecretBox? = nil) throws {
        self.secrets = secrets
        self.path = path
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA secure_delete = ON")
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
        migrator.registerMigration("v4-usage") { db in
            try db.execute(
                sql: """
                    CREATE TABLE usage (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        account TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        resource_id TEXT NOT NULL,
                        cache_id TEXT,
                        instance_id TEXT,
                        quantity INTEGER NOT NULL,
                        disk_type TEXT,
                        start REAL NOT NULL,
                        end REAL
                    );
                    CREATE INDEX usage_account ON usage(account, start);
                    CREATE INDEX usage_open ON usage(resource_id, end);
                    """)
        }
        migrator.registerMigration("v5-id-ranges") { db in
            try db.execute(
                sql: """
                    CREATE TABLE id_ranges (
                        base INTEGER PRIMARY KEY NOT NULL,
                        instance_id TEXT NOT NULL UNIQUE
                    );
                    """)
        }
        migrator.registerMigration("v6-unique-cache-names") { db in
            // ImageCacheName is unique per account from here on. Where an account already has
            // caches of one name, the oldest keeps it; each later one is named after its id (as a
            // cache created without a name is) and an event on it says so. Nothing else changes.
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.id, c.data FROM caches c
                    WHERE EXISTS (SELECT 1 FROM caches o WHERE o.account = c.account AND o.name = c.name
                                  AND (o.creation < c.creation OR (o.creation = c.creation AND o.id < c.id)))
                    """)
            for row in rows {
                var cache = try SQLiteCacheRepository.decoder.decode(ImageCache.self, from: row["data"] as Data)
                let old = cache.name
                cache.name = cache.id
                cache.record(
                    .normal, "Renamed",
                    "ImageCacheName \(old) is also the name of an older image cache of this account; names are unique per account now, so this one is named \(cache.id)",
                    at: Date())
                try db.execute(
                    sql: "UPDATE caches SET name = ?, data = ? WHERE id = ?",
                    arguments: [cache.name, try SQLiteCacheRepository.encoder.encode(cache), cache.id])
            }
            try db.execute(sql: "CREATE UNIQUE INDEX caches_name ON caches(account, name)")
        }
        migrator.registerMigration("v7-cache-platform") { db in
            // NULL: the host's platform (every cache before the column was the host's).
            try db.execute(sql: "ALTER TABLE caches ADD COLUMN platform TEXT")
        }
        migrator.registerMigration("v8-networks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE vpc_networks (
                        account TEXT NOT NULL, vpc TEXT NOT NULL, network INTEGER NOT NULL UNIQUE,
                        PRIMARY KEY (account, vpc)
                    );
                    CREATE TABLE addresses (
                        instance_id TEXT PRIMARY KEY NOT NULL, network INTEGER NOT NULL, host INTEGER NOT NULL,
                        UNIQUE (network, host)
                    );
                    """)
        }
        migrator.registerMigration("v9-subnets") { db in
            // A VPC is a bridge (`vpc_networks.network`); each of its subnets a /24 of its own
            // (`subnets.block`). Before: one /24 per VPC, its block the VPC's number.
            try db.execute(
                sql: """
                    CREATE TABLE subnets (
                        account TEXT NOT NULL, vpc TEXT NOT NULL, subnet TEXT NOT NULL, block INTEGER NOT NULL UNIQUE,
                        PRIMARY KEY (account, vpc, subnet)
                    );
                    INSERT INTO subnets (account, vpc, subnet, block) SELECT account, vpc, '', network FROM vpc_networks;
                    CREATE TABLE addresses_v9 (
                        instance_id TEXT PRIMARY KEY NOT NULL, network INTEGER NOT NULL, block INTEGER NOT NULL,
                        host INTEGER NOT NULL, UNIQUE (block, host)
                    );
                    INSERT INTO addresses_v9 (instance_id, network, block, host) SELECT instance_id, network, network, host FROM addresses;
                    DROP TABLE addresses;
                    ALTER TABLE addresses_v9 RENAME TO addresses;
                    """)
        }
        migrator.registerMigration("v10-revisions") { db in
            // One counter for every watched row (caches, instances): each insert, change or
            // delete takes the next value, as etcd's revision, and leaves a copy of the row in
            // `history` (a deletion, the row as it was last) for watchers that have not seen it
            // yet; `compacted` is the newest revision whose history was forgotten.
            try db.execute(
                sql: """
                    CREATE TABLE revision (value INTEGER NOT NULL, compacted INTEGER NOT NULL);
                    INSERT INTO revision (value, compacted) VALUES (0, 0);
                    CREATE TABLE history (
                        kind TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL, revision INTEGER NOT NULL,
                        change TEXT NOT NULL, data BLOB NOT NULL
                    );
                    CREATE INDEX history_revision ON history(kind, account, revision);
                    CREATE INDEX history_compaction ON history(revision);
                    """)
            for table in ["caches", "instances"] {
                let kind = String(table.dropLast())
                try db.execute(
                    sql: """
                        ALTER TABLE \(table) ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
                        CREATE INDEX \(table)_revision ON \(table)(account, revision);
                        CREATE TRIGGER \(table)_inserted AFTER INSERT ON \(table) BEGIN
                            UPDATE revision SET value = value + 1;
                            UPDATE \(table) SET revision = (SELECT value FROM revision) WHERE id = NEW.id;
                            INSERT INTO history (kind, id, account, revision, change, data)
                                VALUES ('\(kind)', NEW.id, NEW.account, (SELECT value FROM revision), 'created', NEW.data);
                        END;
                        CREATE TRIGGER \(table)_changed AFTER UPDATE OF data, status ON \(table) BEGIN
                            UPDATE revision SET value = value + 1;
                            UPDATE \(table) SET revision = (SELECT value FROM revision) WHERE id = NEW.id;
                            INSERT INTO history (kind, id, account, revision, change, data)
                                VALUES ('\(kind)', NEW.id, NEW.account, (SELECT value FROM revision), 'changed', NEW.data);
                        END;
                        CREATE TRIGGER \(table)_deleted AFTER DELETE ON \(table) BEGIN
                            UPDATE revision SET value = value + 1;
                            INSERT INTO history (kind, id, account, revision, change, data)
                                VALUES ('\(kind)', OLD.id, OLD.account, (SELECT value FROM revision), 'deleted', OLD.data);
                        END;
                        UPDATE \(table) SET revision = (SELECT value FROM revision) + rowid;
                        UPDATE revision SET value = value + COALESCE((SELECT MAX(rowid) FROM \(table)), 0);
                        UPDATE revision SET compacted = value;
                        """)
            }
        }
        migrator.registerMigration("v11-objects") { db in
            // Kubernetes objects that are imc's only through that door (namespaces, secrets):
            // one row each, per account; a secret's data sealed like every password.
            try db.execute(
                sql: """
                    CREATE TABLE objects (
                        account TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                        uid TEXT NOT NULL, created REAL NOT NULL, data TEXT NOT NULL,
                        PRIMARY KEY (account, kind, namespace, name)
                    );
                    """)
        }
        migrator.registerMigration("v12-build-claims") { db in
            // Who builds a queued cache, until when (a lease its builder renews): builders in many
            // processes never build one cache twice.
            try db.execute(sql: "ALTER TABLE caches ADD COLUMN build_owner TEXT; ALTER TABLE caches ADD COLUMN build_lease REAL")
        }
        migrator.registerMigration("v13-nodes") { db in
            // The hosts that run instances (registered, heartbeating, placed on), and which one
            // each instance is on, indexed for a node's own work.
            try db.execute(
                sql: """
                    CREATE TABLE nodes (name TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, heartbeat REAL NOT NULL, data BLOB NOT NULL);
                    ALTER TABLE instances ADD COLUMN node TEXT;
                    CREATE INDEX instances_node ON instances(node);
                    """)
            for row in try Row.fetchAll(db, sql: "SELECT id, data FROM instances") {
                let node = try? SQLiteCacheRepository.decoder.decode(NodeOnly.self, from: row["data"] as Data).node
                try db.execute(sql: "UPDATE instances SET node = ? WHERE id = ?", arguments: [node, row["id"] as String])
            }
        }
        try migrator.migrate(pool)
        if let secrets { try sealPlaintextPasswords(secrets) }
    }

    /// Calls `notify` after each committed transaction that changed a cache or an instance (the
    /// Kubernetes door's watches wake on it instead of waiting for their next poll).
    public func observeCommits(_ notify: @escaping @Sendable () -> Void) {
        pool.add(transactionObserver: CommitObserver(notify: notify), extent: .databaseLifetime)
    }

    /// Seals any password stored in clear (rows written before encryption at rest).
    private func sealPlaintextPasswords(_ box: SecretBox) throws {
        let sealed = try pool.write { db -> Int in
            var count = 0
            for row in try Row.fetchAll(db, sql: "SELECT id, data FROM caches WHERE instr(data, '\"password\"') > 0") {
                let cache = try SQLiteCacheRepository.decoder.decode(ImageCache.self, from: row["data"] as Data)
                guard cache.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                let sealed = try box.sealingClearPasswords(cache)
                try db.execute(
                    sql: "UPDATE caches SET data = ? WHERE id = ?", arguments: [try SQLiteCacheRepository.encoder.encode(sealed), cache.id])
                count += 1
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, data FROM instances WHERE instr(data, '\"password\"') > 0") {
                let instance = try SQLiteInstanceRepository.decoder.decode(Instance.self, from: row["data"] as Data)
                guard instance.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                let sealed = try box.sealingClearPasswords(instance)
                try db.execute(
                    sql: "UPDATE instances SET data = ? WHERE id = ?",
                    arguments: [try SQLiteInstanceRepository.encoder.encode(sealed), instance.id])
                count += 1
            }
            // The history's copies too (sealing the rows above added sealed ones).
            for row in try Row.fetchAll(db, sql: "SELECT rowid, kind, data FROM history WHERE instr(data, '\"password\"') > 0") {
                let data: Data = row["data"]
                let resealed: Data
                if (row["kind"] as String) == "cache" {
                    let cache = try SQLiteCacheRepository.decoder.decode(ImageCache.self, from: data)
                    guard cache.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                    resealed = try SQLiteCacheRepository.encoder.encode(try box.sealingClearPasswords(cache))
                } else {
                    let instance = try SQLiteInstanceRepository.decoder.decode(Instance.self, from: data)
                    guard instance.credentials.contains(where: { !SecretBox.isSealed($0.password) }) else { continue }
                    resealed = try SQLiteInstanceRepository.encoder.encode(try box.sealingClearPasswords(instance))
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

/// The one field a migration reads of an instance's record.
private struct NodeOnly: Decodable {
    var node: String?
}
