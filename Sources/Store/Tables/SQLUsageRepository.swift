import Foundation
import IMCBilling

/// The `UsageRepository` of both backends: metered intervals, never deleted.
public final class SQLUsageRepository: UsageRepository {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    public func start(_ u: Usage) async throws {
        try await database.execute(
            """
            INSERT INTO usage (account, kind, resource_id, cache_id, instance_id, quantity, disk_type, start, "end")
            VALUES (\(u.account), \(u.kind.rawValue), \(u.resourceID), \(u.cacheID), \(u.instanceID), \(u.quantity), \(u.diskType),
                    \(u.start), \(u.end))
            """)
    }

    public func stop(resourceID: String, kind: UsageKind?, at: Date) async throws {
        if let kind {
            try await database.execute(
                #"UPDATE usage SET "end" = \#(at) WHERE resource_id = \#(resourceID) AND kind = \#(kind.rawValue) AND "end" IS NULL"#)
        } else {
            try await database.execute(#"UPDATE usage SET "end" = \#(at) WHERE resource_id = \#(resourceID) AND "end" IS NULL"#)
        }
    }

    public func stopAll(kinds: [UsageKind], at: Date) async throws {
        try await database.execute(#"UPDATE usage SET "end" = \#(at) WHERE kind IN \#(list: kinds.map(\.rawValue)) AND "end" IS NULL"#)
    }

    public func usage(account: String, from: Date, to: Date) async throws -> [Usage] {
        try await database.rows(
            #"SELECT * FROM usage WHERE account = \#(account) AND start < \#(to) AND ("end" IS NULL OR "end" > \#(from)) ORDER BY start, id"#
        ).compactMap { row in
            guard let kind = UsageKind(rawValue: try row.string("kind")) else { return nil }
            return Usage(
                account: try row.string("account"), kind: kind, resourceID: try row.string("resource_id"),
                cacheID: try row.optionalString("cache_id"), instanceID: try row.optionalString("instance_id"),
                quantity: try row.int("quantity"), diskType: try row.optionalString("disk_type"), start: try row.date("start"),
                end: try row.optionalDate("end"))
        }
    }
}
