import Foundation
import GRDB
import IMCCache

/// The SQLite schema as GRDB migrations, applied in order on open and never edited (databases
/// of every earlier version are out there). PostgreSQL's list (`PostgreSQLMigrations`) starts
/// from this schema as of v11 and reaches the same one; `SchemaTests` compares the two.
enum SQLiteMigrations {
    static func register(in migrator: inout DatabaseMigrator) {
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
            // The match index of the caches already there (the columns of this version only).
            for row in try Row.fetchAll(db, sql: "SELECT data FROM caches") {
                let cache = try StoreCoding.decoder.decode(ImageCache.self, from: row["data"] as Data)
                try db.execute(
                    sql: "UPDATE caches SET expire = ? WHERE id = ?", arguments: [cache.expireDateTime?.timeIntervalSince1970, cache.id])
                for image in Set(cache.snapshotID == nil ? [] : cache.normalizedServedImages) {
                    try db.execute(sql: "INSERT INTO cache_images (cache_id, image) VALUES (?, ?)", arguments: [cache.id, image])
                }
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
                var cache = try StoreCoding.decoder.decode(ImageCache.self, from: row["data"] as Data)
                let old = cache.name
                cache.name = cache.id
                cache.record(
                    .normal, "Renamed",
                    "ImageCacheName \(old) is also the name of an older image cache of this account; names are unique per account now, so this one is named \(cache.id)",
                    at: Date())
                try db.execute(
                    sql: "UPDATE caches SET name = ?, data = ? WHERE id = ?",
                    arguments: [cache.name, try StoreCoding.encoder.encode(cache), cache.id])
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
                let node = try? StoreCoding.decoder.decode(NodeOnly.self, from: row["data"] as Data).node
                try db.execute(sql: "UPDATE instances SET node = ? WHERE id = ?", arguments: [node, row["id"] as String])
            }
        }
        migrator.registerMigration("v14-match-by-account") { db in
            // A match reads the account's holders of an image by the index alone, whatever the
            // other accounts hold (before: every holder of the image, then their rows).
            try db.execute(
                sql: """
                    ALTER TABLE cache_images ADD COLUMN account TEXT NOT NULL DEFAULT '';
                    ALTER TABLE cache_images ADD COLUMN region TEXT NOT NULL DEFAULT '';
                    UPDATE cache_images SET account = (SELECT account FROM caches WHERE id = cache_id),
                                            region = (SELECT region FROM caches WHERE id = cache_id);
                    DROP INDEX cache_images_image;
                    CREATE INDEX cache_images_match ON cache_images(image, account, region, cache_id);
                    """)
        }
        migrator.registerMigration("v15-pages") { db in
            // A page of an account's rows, newest first, read off the index (before: every row of
            // the account sorted, documents and all, for each page).
            try db.execute(
                sql: """
                    DROP INDEX caches_account;
                    CREATE INDEX caches_page ON caches(account, creation, id);
                    DROP INDEX instances_account;
                    CREATE INDEX instances_page ON instances(account, creation, id);
                    """)
        }
        migrator.registerMigration("v16-account-rows") { db in
            // How many caches and instances each account has, kept by triggers: a page's total is
            // read, not counted (counting 10,000 rows was half of a page's cost).
            try db.execute(
                sql: """
                    CREATE TABLE account_rows (
                        kind TEXT NOT NULL, account TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, account)
                    );
                    INSERT INTO account_rows (kind, account, n) SELECT 'cache', account, COUNT(*) FROM caches GROUP BY account;
                    INSERT INTO account_rows (kind, account, n) SELECT 'instance', account, COUNT(*) FROM instances GROUP BY account;
                    """)
            for (table, kind) in [("caches", "cache"), ("instances", "instance")] {
                try db.execute(
                    sql: """
                        CREATE TRIGGER \(table)_counted AFTER INSERT ON \(table) BEGIN
                            INSERT INTO account_rows (kind, account, n) VALUES ('\(kind)', NEW.account, 1)
                                ON CONFLICT (kind, account) DO UPDATE SET n = n + 1;
                        END;
                        CREATE TRIGGER \(table)_uncounted AFTER DELETE ON \(table) BEGIN
                            UPDATE account_rows SET n = n - 1 WHERE kind = '\(kind)' AND account = OLD.account;
                        END;
                        """)
            }
        }
    }
}

/// The one field a migration reads of an instance's record.
private struct NodeOnly: Decodable {
    var node: String?
}
