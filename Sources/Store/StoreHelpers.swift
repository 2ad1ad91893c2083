import Foundation
import GRDB
import IMCCache
import IMCInstance

/// One page of an account's rows of a table (`caches`, `instances`), filtered by id, name and
/// status, newest first, with the total before paging: the query both list actions share.
struct AccountPage {
    var table: String
    var account: String
    var ids: [String]?
    var names: [String]?
    var statuses: [String]?
    var limit: Int
    var offset: Int

    func fetch(_ db: Database) throws -> (total: Int, rows: [Row]) {
        var conditions = ["account = ?"]
        var arguments: [any DatabaseValueConvertible] = [account]
        for (column, values) in [("id", ids), ("name", names), ("status", statuses)] {
            guard let values else { continue }
            conditions.append(values.isEmpty ? "0" : "\(column) IN (\(values.map { _ in "?" }.joined(separator: ", ")))")
            arguments += values.map { $0 as any DatabaseValueConvertible }
        }
        let whereClause = conditions.joined(separator: " AND ")
        let total =
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE \(whereClause)", arguments: StatementArguments(arguments)) ?? 0
        let rows = try Row.fetchAll(
            db, sql: "SELECT data FROM \(table) WHERE \(whereClause) ORDER BY creation DESC, id LIMIT ? OFFSET ?",
            arguments: StatementArguments(arguments + [limit, offset]))
        return (total, rows)
    }
}

/// Values that carry registry credentials, whose passwords the store seals.
protocol CarriesCredentials {
    var credentials: [CacheCredential] { get set }
}

extension ImageCache: CarriesCredentials {}
extension Instance: CarriesCredentials {}

extension SecretBox {
    /// The value with its passwords sealed (or, with `open`, opened); unchanged without a box.
    static func sealing<T: CarriesCredentials>(_ value: T, with box: SecretBox?, open: Bool = false) throws -> T {
        guard let box, !value.credentials.isEmpty else { return value }
        var out = value
        out.credentials = try value.credentials.map {
            var c = $0
            c.password = open ? try box.open(c.password) : try box.seal(c.password)
            return c
        }
        return out
    }
}
