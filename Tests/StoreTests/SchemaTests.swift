import Foundation
import IMCStore
import IMCTestSupport
import Testing

/// The two backends' migrations reach one schema: the same tables, each with the same columns, and
/// the same indexes over the same columns (types are each dialect's own). What only one backend
/// has is named here with why.
@Suite(.serialized) struct SchemaTests {
    /// Tables of one backend's own bookkeeping.
    static let ownTables: [SQLDialect: Set<String>] = [
        .sqlite: ["grdb_migrations", "sqlite_sequence"],
        // The migrations applied, and the sealed value that makes replicas share one key (SQLite's
        // database belongs to one process, which holds the key).
        .postgresql: ["schema_migrations", "key_check"],
    ]

    /// Columns (and their keys) of one backend's own: PostgreSQL's revision counter is one row by
    /// a key that can only be true (replicas' triggers take its row lock); SQLite's is written
    /// only by its triggers, in one process.
    static let ownColumns: [SQLDialect: [(table: String, column: String)]] = [.postgresql: [("revision", "one")]]

    struct Schema: Equatable, CustomStringConvertible {
        var columns: [String: Set<String>] = [:]
        /// Index name to its columns, in order (primary keys and unique constraints included, as
        /// the table's own index: `table.primary`).
        var indexes: [String: [String]] = [:]
        var description: String {
            columns.keys.sorted().map { "\($0)(\(columns[$0]!.sorted().joined(separator: ",")))" }.joined(separator: " ")
                + " | " + indexes.keys.sorted().map { "\($0)[\(indexes[$0]!.joined(separator: ","))]" }.joined(separator: " ")
        }
    }

    static func schema(_ database: any SQLDatabase) async throws -> Schema {
        var schema = Schema()
        let own = ownTables[database.dialect] ?? []
        switch database.dialect {
        case .sqlite:
            let tables = try await database.rows("SELECT name FROM sqlite_master WHERE type = 'table'").map { try $0.string("name") }
            for table in tables where !own.contains(table) {
                schema.columns[table] = Set(try await database.rows("PRAGMA table_info(\(raw: table))").map { try $0.string("name") })
                for index in try await database.rows("PRAGMA index_list(\(raw: table))") {
                    let name = try index.string("name")
                    let columns = try await database.rows("PRAGMA index_info(\(raw: name))").sorted {
                        (try? $0.int("seqno")) ?? 0 < (try? $1.int("seqno")) ?? 0
                    }.map { try $0.string("name") }
                    // An automatic index is the table's primary key or a unique constraint.
                    let key = name.hasPrefix("sqlite_autoindex_") ? "\(table).\(columns.joined(separator: "+"))" : name
                    schema.indexes[key] = columns
                }
                // The primary key (a rowid table's INTEGER PRIMARY KEY has no index of its own).
                let key = try await database.rows("PRAGMA table_info(\(raw: table))").filter { (try? $0.int("pk")) ?? 0 > 0 }
                    .sorted { (try? $0.int("pk")) ?? 0 < (try? $1.int("pk")) ?? 0 }.map { try $0.string("name") }
                if !key.isEmpty { schema.indexes["\(table).\(key.joined(separator: "+"))"] = key }
            }
        case .postgresql:
            for row in try await database.rows(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")
            {
                let table = try row.string("table_name")
                guard !own.contains(table) else { continue }
                schema.columns[table, default: []].insert(try row.string("column_name"))
            }
            for row in try await database.rows(
                """
                SELECT t.relname AS table_name, i.relname AS index_name, ix.indisprimary AS is_primary, ix.indisunique AS is_unique,
                       array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)
                                             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ',') AS columns
                FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'
                """)
            {
                let table = try row.string("table_name")
                guard !own.contains(table) else { continue }
                let columns = try row.string("columns").split(separator: ",").map(String.init)
                let name = try row.string("index_name")
                // A key's or a unique constraint's index, named by PostgreSQL: by its columns.
                let constraint = try row.int("is_primary") == 1 || name.hasSuffix("_key") || name.hasSuffix("_pkey")
                schema.indexes[constraint ? "\(table).\(columns.joined(separator: "+"))" : name] = columns
            }
        }
        for (table, column) in ownColumns[database.dialect] ?? [] {
            schema.columns[table]?.remove(column)
            schema.indexes["\(table).\(column)"] = nil
        }
        return schema
    }

    @Test func bothBackendsReachOneSchema() async throws {
        let sqlite = try await Backend.sqlite.open()
        let postgresql = try await Backend.postgresql.open()
        let (a, b) = (try await Self.schema(sqlite.store.database), try await Self.schema(postgresql.store.database))
        #expect(
            a.columns.keys.sorted() == b.columns.keys.sorted(),
            "tables: SQLite \(a.columns.keys.sorted()), PostgreSQL \(b.columns.keys.sorted())")
        for table in Set(a.columns.keys).intersection(b.columns.keys) {
            #expect(
                a.columns[table] == b.columns[table],
                "\(table): SQLite \(a.columns[table]!.sorted()), PostgreSQL \(b.columns[table]!.sorted())")
        }
        #expect(
            a.indexes == b.indexes,
            "indexes:\nSQLite     \(a.indexes.sorted { $0.key < $1.key })\nPostgreSQL \(b.indexes.sorted { $0.key < $1.key })")
    }
}
