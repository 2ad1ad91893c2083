import Foundation
import GRDB
import IMCBilling

public final class SQLiteUsageRepository: UsageRepository {
    private let pool: DatabasePool

    public init(database: SQLiteDatabase) { pool = database.pool }

    public func start(_ u: Usage) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO usage (account, kind, resource_id, cache_id, instance_id, quantity, disk_type, start, end)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    u.account, u.kind.rawValue, u.resourceID, u.cacheID, u.instanceID, u.quantity, u.diskType,
                    u.start.timeIntervalSince1970,
                    u.end?.timeIntervalSince1970,
                ])
        }
    }

    public func stop(resourceID: String, kind: UsageKind?, at: Date) throws {
        try pool.write { db in
            if let kind {
                try db.execute(
                    sql: "UPDATE usage SET end = ? WHERE resource_id = ? AND kind = ? AND end IS NULL",
                    arguments: [at.timeIntervalSince1970, resourceID, kind.rawValue])
            } else {
                try db.execute(
                    sql: "UPDATE usage SET end = ? WHERE resource_id = ? AND end IS NULL",
                    arguments: [at.timeIntervalSince1970, resourceID])
            }
        }
    }

    public func stopAll(kinds: [UsageKind], at: Date) throws {
        try pool.write { db in
            for kind in kinds {
                try db.execute(
                    sql: "UPDATE usage SET end = ? WHERE kind = ? AND end IS NULL", arguments: [at.timeIntervalSince1970, kind.rawValue])
            }
        }
    }

    public func usage(account: String, from: Date, to: Date) throws -> [Usage] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM usage WHERE account = ? AND start < ? AND (end IS NULL OR end > ?) ORDER BY start, id
                    """, arguments: [account, to.timeIntervalSince1970, from.timeIntervalSince1970]
            ).compactMap { row in
                guard let kind = UsageKind(rawValue: row["kind"]) else { return nil }
                let end: Double? = row["end"]
                return Usage(
                    account: row["account"], kind: kind, resourceID: row["resource_id"], cacheID: row["cache_id"],
                    instanceID: row["instance_id"],
                    quantity: row["quantity"], diskType: row["disk_type"], start: Date(timeIntervalSince1970: row["start"]),
                    end: end.map { Date(timeIntervalSince1970: $0) })
            }
        }
    }
}
