import Foundation

/// The PostgreSQL schema, as numbered migrations applied in order and recorded in
/// `schema_migrations`. The first is the SQLite schema as of its v11 (caches with their match
/// index, instances, disks, usage, id ranges, networks, revisions and history, objects); later
/// ones are appended, never edited, and reach the schema `SQLiteMigrations` reaches
/// (`SchemaTests` compares the two). Replicas starting at once take an advisory lock, so one
/// migrates and the others find it done.
enum PostgreSQLMigrations {
    static let migrations: [(name: String, sql: String)] = [
        (
            "v1-state",
            """
            CREATE TABLE caches (
                id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
                status TEXT NOT NULL, size BIGINT NOT NULL, creation DOUBLE PRECISION NOT NULL, data BYTEA NOT NULL,
                expire DOUBLE PRECISION, platform TEXT, revision BIGINT NOT NULL DEFAULT 0
            );
            CREATE INDEX caches_account ON caches(account, creation);
            CREATE INDEX caches_match ON caches(account, region, status);
            CREATE INDEX caches_status ON caches(status);
            CREATE UNIQUE INDEX caches_name ON caches(account, name);
            CREATE INDEX caches_revision ON caches(account, revision);
            CREATE TABLE cache_images (
                cache_id TEXT NOT NULL REFERENCES caches(id) ON DELETE CASCADE, image TEXT NOT NULL,
                PRIMARY KEY (cache_id, image)
            );
            CREATE INDEX cache_images_image ON cache_images(image, cache_id);

            CREATE TABLE instances (
                id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
                status TEXT NOT NULL, creation DOUBLE PRECISION NOT NULL, data BYTEA NOT NULL,
                revision BIGINT NOT NULL DEFAULT 0
            );
            CREATE INDEX instances_account ON instances(account, creation);
            CREATE INDEX instances_status ON instances(status);
            CREATE INDEX instances_revision ON instances(account, revision);

            CREATE TABLE disks (
                id TEXT PRIMARY KEY, account TEXT NOT NULL, use TEXT NOT NULL, cache_id TEXT,
                retain_until DOUBLE PRECISION, data BYTEA NOT NULL
            );
            CREATE INDEX disks_retained ON disks(account, use, cache_id, retain_until);

            CREATE TABLE usage (
                id BIGSERIAL PRIMARY KEY, account TEXT NOT NULL, kind TEXT NOT NULL, resource_id TEXT NOT NULL,
                cache_id TEXT, instance_id TEXT, quantity BIGINT NOT NULL, disk_type TEXT,
                start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION
            );
            CREATE INDEX usage_account ON usage(account, start);
            CREATE INDEX usage_open ON usage(resource_id, "end");

            CREATE TABLE id_ranges (base BIGINT PRIMARY KEY, instance_id TEXT NOT NULL UNIQUE);
            CREATE TABLE vpc_networks (
                account TEXT NOT NULL, vpc TEXT NOT NULL, network INTEGER NOT NULL UNIQUE, PRIMARY KEY (account, vpc)
            );
            CREATE TABLE subnets (
                account TEXT NOT NULL, vpc TEXT NOT NULL, subnet TEXT NOT NULL, block INTEGER NOT NULL UNIQUE,
                PRIMARY KEY (account, vpc, subnet)
            );
            CREATE TABLE addresses (
                instance_id TEXT PRIMARY KEY, network INTEGER NOT NULL, block INTEGER NOT NULL, host INTEGER NOT NULL,
                UNIQUE (block, host)
            );

            CREATE TABLE objects (
                account TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                uid TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (account, kind, namespace, name)
            );

            -- One counter for every watched row, as etcd's revision: each insert, change or delete
            -- of a cache or an instance takes the next value (the row lock on the counter orders
            -- them as they commit) and leaves a copy of the row in history; NOTIFY wakes watchers
            -- on every replica.
            CREATE TABLE revision (
                one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), value BIGINT NOT NULL, compacted BIGINT NOT NULL
            );
            INSERT INTO revision (value, compacted) VALUES (0, 0);
            CREATE TABLE history (
                kind TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL, revision BIGINT NOT NULL,
                change TEXT NOT NULL, data BYTEA NOT NULL
            );
            CREATE INDEX history_revision ON history(kind, account, revision);
            CREATE INDEX history_compaction ON history(revision);

            CREATE FUNCTION imc_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                next BIGINT;
            BEGIN
                UPDATE revision SET value = value + 1 RETURNING value INTO next;
                PERFORM pg_notify('imc_changes', TG_ARGV[0]);
                IF TG_OP = 'DELETE' THEN
                    INSERT INTO history (kind, id, account, revision, change, data)
                        VALUES (TG_ARGV[0], OLD.id, OLD.account, next, 'deleted', OLD.data);
                    RETURN OLD;
                END IF;
                NEW.revision := next;
                INSERT INTO history (kind, id, account, revision, change, data)
                    VALUES (TG_ARGV[0], NEW.id, NEW.account, next,
                            CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'changed' END, NEW.data);
                RETURN NEW;
            END $$;
            CREATE TRIGGER caches_written BEFORE INSERT OR UPDATE OF data, status ON caches
                FOR EACH ROW EXECUTE FUNCTION imc_record_change('cache');
            CREATE TRIGGER caches_deleted AFTER DELETE ON caches
                FOR EACH ROW EXECUTE FUNCTION imc_record_change('cache');
            CREATE TRIGGER instances_written BEFORE INSERT OR UPDATE OF data, status ON instances
                FOR EACH ROW EXECUTE FUNCTION imc_record_change('instance');
            CREATE TRIGGER instances_deleted AFTER DELETE ON instances
                FOR EACH ROW EXECUTE FUNCTION imc_record_change('instance');
            """
        ),
        (
            "v2-build-claims",
            """
            -- Who builds a queued cache, until when (a lease its builder renews): builders on many
            -- hosts never build one cache twice.
            ALTER TABLE caches ADD COLUMN build_owner TEXT;
            ALTER TABLE caches ADD COLUMN build_lease DOUBLE PRECISION;
            """
        ),
        (
            "v3-key-check",
            """
            -- A value sealed with the key the database's secrets are sealed with: a replica started
            -- with another IMC_MASTER_KEY is refused instead of failing every password it reads.
            CREATE TABLE key_check (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), sealed TEXT NOT NULL);
            """
        ),
        (
            "v4-nodes",
            """
            -- The hosts that run instances (registered, heartbeating, placed on: a placement
            -- locks the Ready rows it chooses among), and which one each instance is on.
            CREATE TABLE nodes (name TEXT PRIMARY KEY, state TEXT NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, data BYTEA NOT NULL);
            ALTER TABLE instances ADD COLUMN node TEXT;
            CREATE INDEX instances_node ON instances(node);
            UPDATE instances SET node = convert_from(data, 'UTF8')::jsonb ->> 'node';
            """
        ),
        (
            "v5-match-by-account",
            """
            -- A match reads the account's holders of an image by the index alone, whatever the
            -- other accounts hold (before: every holder of the image, then their rows).
            ALTER TABLE cache_images ADD COLUMN account TEXT NOT NULL DEFAULT '';
            ALTER TABLE cache_images ADD COLUMN region TEXT NOT NULL DEFAULT '';
            UPDATE cache_images i SET account = c.account, region = c.region FROM caches c WHERE c.id = i.cache_id;
            DROP INDEX cache_images_image;
            CREATE INDEX cache_images_match ON cache_images(image, account, region, cache_id);
            """
        ),
        (
            "v6-pages",
            """
            -- A page of an account's rows, newest first, read off the index.
            DROP INDEX caches_account;
            CREATE INDEX caches_page ON caches(account, creation, id);
            DROP INDEX instances_account;
            CREATE INDEX instances_page ON instances(account, creation, id);
            """
        ),
        (
            "v7-account-rows",
            """
            -- How many caches and instances each account has, kept by triggers: a page's total is
            -- read, not counted.
            CREATE TABLE account_rows (kind TEXT NOT NULL, account TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, account));
            INSERT INTO account_rows (kind, account, n) SELECT 'cache', account, COUNT(*) FROM caches GROUP BY account;
            INSERT INTO account_rows (kind, account, n) SELECT 'instance', account, COUNT(*) FROM instances GROUP BY account;
            CREATE FUNCTION imc_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO account_rows (kind, account, n) VALUES (TG_ARGV[0], NEW.account, 1)
                        ON CONFLICT (kind, account) DO UPDATE SET n = account_rows.n + 1;
                    RETURN NEW;
                END IF;
                UPDATE account_rows SET n = n - 1 WHERE kind = TG_ARGV[0] AND account = OLD.account;
                RETURN OLD;
            END $$;
            CREATE TRIGGER caches_counted AFTER INSERT OR DELETE ON caches FOR EACH ROW EXECUTE FUNCTION imc_count_rows('cache');
            CREATE TRIGGER instances_counted AFTER INSERT OR DELETE ON instances FOR EACH ROW EXECUTE FUNCTION imc_count_rows('instance');
            """
        ),
    ]

    /// A script's statements (PostgresNIO speaks the extended protocol only: one statement a
    /// call); a `$$`-quoted function body is one statement whatever semicolons it holds, and
    /// comments are left out.
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quoted = false
        var rest = Substring(script)
        while let c = rest.first {
            if !quoted && rest.hasPrefix("--") {
                rest = rest.drop(while: { $0 != "\n" })  // a comment, semicolons and all
                continue
            }
            if rest.hasPrefix("$$") {
                quoted.toggle()
                current += "$$"
                rest = rest.dropFirst(2)
                continue
            }
            rest = rest.dropFirst()
            if c == ";" && !quoted {
                statements.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        statements.append(current)
        return statements.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }

    static func migrate(_ database: PostgreSQLDatabase) async throws {
        try await database.write { session in
            try await session.lock("imc.schema")
            try await session.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)")
            let applied = Set(try await session.rows("SELECT name FROM schema_migrations").map { try $0.string("name") })
            let known = Set(migrations.map(\.name))
            if let unknown = applied.subtracting(known).sorted().first {
                throw StoreError(
                    .database, "the database was migrated by a newer imc (\(unknown)); this one knows up to \(migrations.last?.name ?? "")")
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in statements(migration.sql) { try await session.execute(SQL(stringLiteral: statement)) }
                try await session.execute("INSERT INTO schema_migrations (name, applied) VALUES (\(migration.name), \(Date()))")
            }
        }
    }
}
