import Foundation
import IMCBilling
import PostgresNIO

/// A `UsageRepository` in PostgreSQL: metered intervals, never deleted.
public final class PostgreSQLUsageRepository: UsageRepository {
    private let database: PostgreSQLDatabase

    public init(database: PostgreSQLDatabase) { self.database = database }

    public func start(_ u: Usage) throws {
        try database.write {
            try $0.execute(
                """
                INSERT INTO usage (account, kind, resource_id, cache_id, instance_id, quantity, disk_type, start, "end")
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """,
                [
                    .text(u.account), .text(u.kind.rawValue), .text(u.resourceID), .text(u.cacheID), .text(u.instanceID),
                    .int(Int64(u.quantity)), .text(u.diskType), .time(u.start), .time(u.end),
                ])
        }
    }

    public func stop(resourceID: String, kind: UsageKind?, at: Date) throws {
        try database.write {
            if let kind {
                try $0.execute(
                    #"UPDATE usage SET "end" = $1 WHERE resource_id = $2 AND kind = $3 AND "end" IS NULL"#,
                    [.time(at), .text(resourceID), .text(kind.rawValue)])
            } else {
                try $0.execute(#"UPDATE usage SET "end" = $1 WHERE resource_id = $2 AND "end" IS NULL"#, [.time(at), .text(resourceID)])
            }
        }
    }

    public func stopAll(kinds: [UsageKind], at: Date) throws {
        try database.write {
            try $0.execute(
                #"UPDATE usage SET "end" = $1 WHERE kind = ANY($2) AND "end" IS NULL"#, [.time(at), .texts(kinds.map(\.rawValue))])
        }
    }

    public func usage(account: String, from: Date, to: Date) throws -> [Usage] {
        try database.read { session in
            try session.rows(
                #"SELECT * FROM usage WHERE account = $1 AND start < $2 AND ("end" IS NULL OR "end" > $3) ORDER BY start, id"#,
                [.text(account), .time(to), .time(from)]
            ).compactMap { row in
                guard let kind = UsageKind(rawValue: try row.string("kind")) else { return nil }
                return Usage(
                    account: try row.string("account"), kind: kind, resourceID: try row.string("resource_id"),
                    cacheID: try row.optionalString("cache_id"), instanceID: try row.optionalString("instance_id"),
                    quantity: try row.int("quantity"), diskType: try row.optionalString("disk_type"),
                    start: Date(timeIntervalSince1970: try row.double("start")),
                    end: try row.optionalDouble("end").map { Date(timeIntervalSince1970: $0) })
            }
        }
    }
}

/// An `ObjectRepository` in PostgreSQL; every object's JSON sealed when the database has a key.
public final class PostgreSQLObjectRepository: ObjectRepository {
    private let database: PostgreSQLDatabase

    public init(database: PostgreSQLDatabase) { self.database = database }

    public func insertObject(_ object: StoredObject, account: String) throws {
        let text = String(decoding: object.data, as: UTF8.self)
        let stored = try database.secrets?.seal(text) ?? text
        do {
            try database.write {
                try $0.execute(
                    "INSERT INTO objects (account, kind, namespace, name, uid, created, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    [
                        .text(account), .text(object.kind), .text(object.namespace), .text(object.name), .text(object.uid),
                        .time(object.created), .text(stored),
                    ])
            }
        } catch let e as PostgreSQLError where e.isUniqueViolation {
            throw StoreError(.duplicate, "\(object.kind) \(object.namespace)/\(object.name) already exists", cause: e)
        }
    }

    private func decode(_ row: PostgresRandomAccessRow) throws -> StoredObject {
        let stored = try row.string("data")
        let text = SecretBox.isSealed(stored) && !stored.isEmpty ? try database.secrets?.open(stored) ?? stored : stored
        return StoredObject(
            kind: try row.string("kind"), namespace: try row.string("namespace"), name: try row.string("name"),
            uid: try row.string("uid"), created: Date(timeIntervalSince1970: try row.double("created")), data: Data(text.utf8))
    }

    public func object(account: String, kind: String, namespace: String, name: String) throws -> StoredObject? {
        try database.read {
            try $0.rows(
                "SELECT * FROM objects WHERE account = $1 AND kind = $2 AND namespace = $3 AND name = $4",
                [.text(account), .text(kind), .text(namespace), .text(name)]
            ).first.map(decode)
        }
    }

    public func objects(account: String, kind: String, namespace: String?) throws -> [StoredObject] {
        try database.read {
            if let namespace {
                return try $0.rows(
                    "SELECT * FROM objects WHERE account = $1 AND kind = $2 AND namespace = $3 ORDER BY name",
                    [.text(account), .text(kind), .text(namespace)]
                ).map(decode)
            }
            return try $0.rows(
                "SELECT * FROM objects WHERE account = $1 AND kind = $2 ORDER BY namespace, name", [.text(account), .text(kind)]
            ).map(decode)
        }
    }

    @discardableResult
    public func deleteObject(account: String, kind: String, namespace: String, name: String) throws -> Bool {
        try database.write {
            try $0.affected(
                "DELETE FROM objects WHERE account = $1 AND kind = $2 AND namespace = $3 AND name = $4",
                [.text(account), .text(kind), .text(namespace), .text(name)]) > 0
        }
    }
}
