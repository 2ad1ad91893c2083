import Foundation
import IMCInstance
import IMCModel

/// The `InstanceRepository` of both backends, in the same database as the caches: instances
/// (and the node each is on), the disks they hold, their id ranges and their addresses.
public final class SQLInstanceRepository: InstanceRepository {
    let database: any SQLDatabase
    /// Documents as decoded, by id and revision.
    let decoded = DecodedDocuments<Instance>()

    public init(database: any SQLDatabase) { self.database = database }

    static let table = DocumentTable<Instance>(
        name: "instances",
        columns: [
            ("id", { $0.id.sqlValue }), ("account", { $0.account.sqlValue }), ("region", { $0.region.sqlValue }),
            ("name", { $0.name.sqlValue }), ("status", { $0.status.rawValue.sqlValue }), ("creation", { $0.creationTime.sqlValue }),
        ])

    private func data(_ instance: Instance) throws -> Data {
        try StoreCoding.encoder.encode(try SecretBox.sealing(instance, with: database.secrets))
    }

    func decode(_ rows: [SQLRow]) throws -> [Instance] {
        let secrets = database.secrets
        let documents = try rows.map { row in
            try SecretBox.sealing(
                try decoded.value(of: row) { try StoreCoding.decoder.decode(Instance.self, from: try $0.data("data")) }, with: secrets,
                open: true)
        }
        return try zip(documents, rows).map { instance, row in
            var instance = instance
            if row.has("revision") { instance.revision = try row.int64("revision") }
            return instance
        }
    }

    public func changes(account: String, after revision: Int64) async throws -> [InstanceChange] {
        try await History.changes(database, kind: "instance", account: account, after: revision, decode: decode)
    }

    public func insert(_ instance: Instance) async throws {
        let data = try data(instance)
        try await database.execute(Self.table.insert(instance, data: data, extra: [("node", instance.node.sqlValue)]))
    }

    /// The Pod metadata (labels, annotations) a row holds: the Kubernetes door changes it
    /// (`updateMetadata`); a node's writes of the instance's life keep what is stored, so neither
    /// undoes the other.
    private struct StoredMetadata: Decodable { var kubernetes: KubernetesMetadata? }

    private static func keepingMetadata(_ session: any SQLSession, _ instance: Instance) async throws -> Instance {
        guard let row = try await session.rows("SELECT data FROM instances WHERE id = \(instance.id)").first else { return instance }
        var kept = instance
        kept.kubernetes = try StoreCoding.decoder.decode(StoredMetadata.self, from: try row.data("data")).kubernetes
        return kept
    }

    public func update(_ instance: Instance) async throws {
        try await database.write { session in
            let instance = try await Self.keepingMetadata(session, instance)
            let data = try data(instance)
            let changed = try await session.execute(
                """
                UPDATE instances SET \(Self.table.assignments(instance, data: data))
                WHERE id = \(instance.id) AND node \(raw: session.dialect.isNotDistinctFrom) \(instance.node)
                """)
            guard changed == 1 else { throw try await Self.goneOrMoved(session, instance) }
        }
    }

    public func reassign(_ instance: Instance, from: String?) async throws {
        try await database.write { session in
            let instance = try await Self.keepingMetadata(session, instance)
            let data = try data(instance)
            let changed = try await session.execute(
                """
                UPDATE instances SET \(Self.table.assignments(instance, data: data)), node = \(instance.node)
                WHERE id = \(instance.id) AND node \(raw: session.dialect.isNotDistinctFrom) \(from)
                """)
            guard changed == 1 else { throw try await Self.goneOrMoved(session, instance) }
        }
    }

    public func updateMetadata(
        id: String, account: String, _ change: @Sendable (Instance) throws -> KubernetesMetadata
    ) async throws -> Instance? {
        try await database.write { session in
            guard
                var instance = try decode(
                    try await session.rows("SELECT id, data, revision FROM instances WHERE id = \(id) AND account = \(account)")
                ).first
            else { return nil }
            instance.kubernetes = try change(instance)
            let data = try data(instance)
            _ = try await session.execute("UPDATE instances SET \(Self.table.assignments(instance, data: data)) WHERE id = \(id)")
            if let row = try await session.rows("SELECT revision FROM instances WHERE id = \(id)").first {
                instance.revision = try row.int64("revision")
            }
            return instance
        }
    }

    private static func goneOrMoved(_ session: any SQLSession, _ instance: Instance) async throws -> StoreError {
        guard let row = try await session.rows("SELECT node FROM instances WHERE id = \(instance.id)").first else {
            return StoreError(.gone, "instance \(instance.id) no longer exists")
        }
        let node = try row.optionalString("node")
        return StoreError(.gone, "instance \(instance.id) is no longer on node \(instance.node ?? "-"): it is on \(node ?? "-")")
    }

    public func instances(onNode node: String) async throws -> [Instance] {
        try decode(try await database.rows("SELECT id, data, revision FROM instances WHERE node = \(node) ORDER BY creation"))
    }

    public func get(id: String, account: String) async throws -> Instance? {
        try decode(try await database.rows("SELECT id, data, revision FROM instances WHERE id = \(id) AND account = \(account)")).first
    }

    public func list(account: String, query: InstanceQuery) async throws -> (total: Int, instances: [Instance]) {
        let page = AccountPage(
            table: "instances", account: account, ids: query.ids, names: query.names, statuses: query.statuses?.map(\.rawValue),
            limit: query.limit, offset: query.offset)
        let (total, rows) = try await database.read { try await page.fetch($0) }
        return (total, try decode(rows))
    }

    @discardableResult
    public func delete(id: String, account: String) async throws -> Bool {
        try await database.execute("DELETE FROM instances WHERE id = \(id) AND account = \(account)") == 1
    }

    public func countByStatus() async throws -> [String: Int] {
        Dictionary(
            try await database.rows("SELECT status, COUNT(*) AS n FROM instances GROUP BY status").map {
                (try $0.string("status"), try $0.int("n"))
            }, uniquingKeysWith: +)
    }

    public func all(in statuses: [InstanceStatus]) async throws -> [Instance] {
        try decode(
            try await database.rows(
                "SELECT id, data, revision FROM instances WHERE status IN \(list: statuses.map(\.rawValue)) ORDER BY creation"))
    }
}
