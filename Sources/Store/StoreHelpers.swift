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

/// Values that carry registry credentials, whose passwords the store seals.
protocol CarriesCredentials {
    var credentials: [CacheCredential] { get set }
}

extension ImageCache: CarriesCredentials {}
extension Instance: CarriesCredentials {}

extension SecretBox {
    /// The value with its passwords sealed (or, with `open`, opened); unchanged without a box.
    /// A password that cannot be opened fails that value's credential alone: it is kept sealed
    /// (`unopenedPassword`) and written back so, never failing a listing or another row.
    static func sealing<T: CarriesCredentials>(_ value: T, with box: SecretBox?, open: Bool = false) throws -> T {
        guard let box, !value.credentials.isEmpty else { return value }
        var out = value
        out.credentials = try value.credentials.map {
            var c = $0
            if open {
                do { c.password = try box.open(c.password) } catch {
                    c.unopenedPassword = c.password
                    c.password = ""
                }
            } else if let sealed = c.unopenedPassword {
                c.password = sealed
            } else {
                c.password = try box.seal(c.password)
            }
            return c
        }
        return out
    }

    /// The value with only its passwords left in clear by an earlier version sealed (rows
    /// written before encryption at rest).
    func sealingClearPasswords<T: CarriesCredentials>(_ value: T) throws -> T {
        var out = value
        out.credentials = try value.credentials.map {
            var c = $0
            if !SecretBox.isSealed(c.password) { c.password = try seal(c.password) }
            return c
        }
        return out
    }
}
