import Foundation
import Synchronization

/// What a table of documents is, said once for both backends: the value as JSON in `data`
/// (passwords sealed), and beside it the columns that queries filter and order on, each read
/// off the value. Caches, instances, disks and nodes are such tables.
struct DocumentTable<Value: Codable>: Sendable {
    let name: String
    /// The indexed columns, in order, each with how it is read off the value.
    let columns: [(name: String, value: @Sendable (Value) -> SQLValue)]

    /// `INSERT INTO name (columns..., data, extra...) VALUES (...)`; `extra`: columns that only
    /// the insert sets (an instance's node, which only a reassignment changes after).
    func insert(_ value: Value, data: Data, extra: [(String, SQLValue)] = []) -> SQL {
        let names = (columns.map(\.name) + ["data"] + extra.map(\.0)).joined(separator: ", ")
        let values = SQL.joined(
            columns.map { column -> SQL in "\(column.value(value))" } + ["\(data)"] + extra.map { column -> SQL in "\(column.1)" },
            separator: ", ")
        return "INSERT INTO \(raw: name) (\(raw: names)) VALUES (\(values))"
    }

    /// `column = value, ..., data = value`: what an update of the whole document sets.
    func assignments(_ value: Value, data: Data) -> SQL {
        SQL.joined(columns.map { column -> SQL in "\(raw: column.name) = \(column.value(value))" } + ["data = \(data)"], separator: ", ")
    }

    /// The document of each row, with its revision where the row has one.
    func decode(_ rows: [SQLRow], open: (Value) throws -> Value = { $0 }) throws -> [Value] {
        try rows.map { try open(try StoreCoding.decoder.decode(Value.self, from: try $0.data("data"))) }
    }
}

/// One page of an account's rows (caches or instances), filtered and newest first, with the total
/// before paging: counted by the index, the page's ids read off the index, then those rows alone
/// (sorting every row of the account, documents and all, for each page was what made a page of
/// 10,000 caches cost milliseconds).
struct AccountPage: Sendable {
    var table: String
    var account: String
    var ids: [String]?
    var names: [String]?
    var statuses: [String]?
    var limit: Int
    var offset: Int

    func fetch(_ session: any SQLSession) async throws -> (total: Int, rows: [SQLRow]) {
        var conditions: [SQL] = ["account = \(account)"]
        for (column, values) in [("id", ids), ("name", names), ("status", statuses)] {
            guard let values else { continue }
            conditions.append("\(raw: column) IN \(list: values)")
        }
        let filter = SQL.joined(conditions, separator: " AND ")
        // The total: kept for the account's whole table (`account_rows`), else counted.
        let kind = table == "caches" ? "cache" : "instance"
        let total: SQL =
            conditions.count == 1
            ? "(SELECT n FROM account_rows WHERE kind = \(kind) AND account = \(account))"
            : "(SELECT COUNT(*) FROM \(raw: table) WHERE \(filter))"
        guard limit > 0 else {
            return (try await session.rows("SELECT \(total) AS n").first?.optionalInt64("n").map(Int.init) ?? 0, [])
        }
        // The page's ids off the index, only those rows read, and the total beside them, in one
        // statement; put back in the page's order.
        let rows = try await session.rows(
            """
            SELECT id, data, revision, creation, \(total) AS total FROM \(raw: table) WHERE id IN (
              SELECT id FROM \(raw: table) WHERE \(filter) ORDER BY creation DESC, id DESC LIMIT \(limit) OFFSET \(offset))
            """)
        guard let first = rows.first else {
            // Past the end: the total alone.
            return (try await session.rows("SELECT \(total) AS n").first?.optionalInt64("n").map(Int.init) ?? 0, [])
        }
        let keyed = try rows.map { (creation: try $0.double("creation"), id: try $0.string("id"), row: $0) }
        return (Int(try first.optionalInt64("total") ?? 0), keyed.sorted { ($0.creation, $0.id) > ($1.creation, $1.id) }.map(\.row))
    }
}

/// The changes of one kind of row of an account after a revision, from `history`, in order.
enum History {
    static func changes<Value: Sendable>(
        _ database: any SQLDatabase, kind: String, account: String, after revision: Int64, decode: ([SQLRow]) throws -> [Value]
    ) async throws -> [StoreChange<Value>] {
        let rows = try await database.rows(
            "SELECT data, revision, change FROM history WHERE kind = \(kind) AND account = \(account) AND revision > \(revision) ORDER BY revision"
        )
        return try zip(try decode(rows), rows).map { value, row in
            StoreChange(
                kind: StoreChange<Value>.Kind(rawValue: try row.string("change")) ?? .changed, value: value,
                revision: try row.int64("revision"))
        }
    }
}

/// Documents as decoded, by id and revision, for the rows read most (a page of caches read again
/// and again): the store gives every change of a row a new revision, so a row of a given
/// revision is always the same document. Bounded: past `capacity`, the oldest go first. Passwords
/// stay sealed here (they are opened on each read).
final class DecodedDocuments<Value: Sendable>: Sendable {
    private struct Entries {
        var values: [String: Value] = [:]
        var order: [String] = []
        var next = 0
    }
    private let entries = Mutex(Entries())
    let capacity: Int

    init(capacity: Int = 16384) { self.capacity = max(1, capacity) }

    /// The row's document: from the cache when it holds the row's revision, else decoded (and kept).
    func value(of row: SQLRow, decode: (SQLRow) throws -> Value) throws -> Value {
        guard let id = try? row.string("id"), let revision = try? row.int64("revision") else { return try decode(row) }
        let key = "\(id)@\(revision)"
        if let hit = entries.withLock({ $0.values[key] }) { return hit }
        let value = try decode(row)
        entries.withLock { e in
            guard e.values[key] == nil else { return }
            if e.order.count < capacity {
                e.order.append(key)
            } else {
                e.values[e.order[e.next]] = nil
                e.order[e.next] = key
                e.next = (e.next + 1) % capacity
            }
            e.values[key] = value
        }
        return value
    }
}
