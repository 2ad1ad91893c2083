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
            db, sql: "SELECT data, revision FROM \(table) WHERE \(whereClause) ORDER BY creation DESC, id LIMIT ? OFFSET ?",
            arguments: StatementArguments(arguments + [limit, offset]))
        return (total, rows)
    }
}
