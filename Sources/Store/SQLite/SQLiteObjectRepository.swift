import Foundation
import GRDB

/// `ObjectRepository` in the service's SQLite database. Every object's JSON is sealed when the
/// database has a key (a secret's data holds registry passwords).
public final class SQLiteObjectRepository: ObjectRepository {
    private let pool: DatabasePool
    private let secrets: SecretBox?

    public init(database: SQLiteDatabase) {
        pool = database.pool
        secrets = database.secrets
    }

    public func insertObject(_ object: StoredObject, account: String) throws {
        let text = String(decoding: object.data, as: UTF8.self)
        let stored = try secrets?.seal(text) ?? text
        do {
            try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO objects (account, kind, namespace, name, uid, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        account, object.kind, object.namespace, object.name, object.uid, object.created.timeIntervalSince1970, stored,
                    ])
            }
        } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError(.duplicate, "\(object.kind) \(object.namespace)/\(object.name) already exists", cause: e)
        }
    }

    private func decode(_ row: Row) throws -> StoredObject {
        let stored: String = row["data"]
        let text = SecretBox.isSealed(stored) && !stored.isEmpty ? try secrets?.open(stored) ?? stored : stored
        return StoredObject(
            kind: row["kind"], namespace: row["namespace"], name: row["name"], uid: row["uid"],
            created: Date(timeIntervalSince1970: row["created"]), data: Data(text.utf8))
    }

    public func object(account: String, kind: String, namespace: String, name: String) throws -> StoredObject? {
        try pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM objects WHERE account = ? AND kind = ? AND namespace = ? AND name = ?",
                arguments: [account, kind, namespace, name]
            ).map(decode)
        }
    }

    public func objects(account: String, kind: String, namespace: String?) throws -> [StoredObject] {
        try pool.read { db in
            if let namespace {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM objects WHERE account = ? AND kind = ? AND namespace = ? ORDER BY name",
                    arguments: [account, kind, namespace]
                ).map(decode)
            }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM objects WHERE account = ? AND kind = ? ORDER BY namespace, name", arguments: [account, kind]
            ).map(decode)
        }
    }

    public func deleteObject(account: String, kind: String, namespace: String, name: String) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "DELETE FROM objects WHERE account = ? AND kind = ? AND namespace = ? AND name = ?",
                arguments: [account, kind, namespace, name])
            return db.changesCount > 0
        }
    }
}
