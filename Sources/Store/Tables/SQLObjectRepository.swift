import Foundation

/// The `ObjectRepository` of both backends. Every object's JSON is sealed when the database has
/// a key (a secret's data holds registry passwords).
public final class SQLObjectRepository: ObjectRepository {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    public func insertObject(_ object: StoredObject, account: String) async throws {
        let text = String(decoding: object.data, as: UTF8.self)
        let stored = try database.secrets?.seal(text) ?? text
        do {
            try await database.execute(
                """
                INSERT INTO objects (account, kind, namespace, name, uid, created, data)
                VALUES (\(account), \(object.kind), \(object.namespace), \(object.name), \(object.uid), \(object.created), \(stored))
                """)
        } catch let e as SQLUniqueViolation {
            throw StoreError(.duplicate, "\(object.kind) \(object.namespace)/\(object.name) already exists", cause: e)
        }
    }

    private func decode(_ row: SQLRow) throws -> StoredObject {
        let stored = try row.string("data")
        let text = SecretBox.isSealed(stored) && !stored.isEmpty ? try database.secrets?.open(stored) ?? stored : stored
        return StoredObject(
            kind: try row.string("kind"), namespace: try row.string("namespace"), name: try row.string("name"), uid: try row.string("uid"),
            created: try row.date("created"), data: Data(text.utf8))
    }

    public func object(account: String, kind: String, namespace: String, name: String) async throws -> StoredObject? {
        try await database.rows(
            "SELECT * FROM objects WHERE account = \(account) AND kind = \(kind) AND namespace = \(namespace) AND name = \(name)"
        ).first.map(decode)
    }

    public func objects(account: String, kind: String, namespace: String?) async throws -> [StoredObject] {
        if let namespace {
            return try await database.rows(
                "SELECT * FROM objects WHERE account = \(account) AND kind = \(kind) AND namespace = \(namespace) ORDER BY name"
            ).map(decode)
        }
        return try await database.rows(
            "SELECT * FROM objects WHERE account = \(account) AND kind = \(kind) ORDER BY namespace, name"
        ).map(decode)
    }

    @discardableResult
    public func deleteObject(account: String, kind: String, namespace: String, name: String) async throws -> Bool {
        try await database.execute(
            "DELETE FROM objects WHERE account = \(account) AND kind = \(kind) AND namespace = \(namespace) AND name = \(name)") > 0
    }

    public func replaceObject(_ object: StoredObject, expected: Data, account: String) async throws -> Bool {
        let text = String(decoding: object.data, as: UTF8.self)
        let stored = try database.secrets?.seal(text) ?? text
        return try await database.write { session in
            guard
                let row = try await session.rows(
                    """
                    SELECT * FROM objects WHERE account = \(account) AND kind = \(object.kind) AND namespace = \(object.namespace)
                    AND name = \(object.name)
                    """
                ).first, try decode(row).data == expected
            else { return false }
            return try await session.execute(
                """
                UPDATE objects SET data = \(stored) WHERE account = \(account) AND kind = \(object.kind)
                AND namespace = \(object.namespace) AND name = \(object.name)
                """) == 1
        }
    }
}
