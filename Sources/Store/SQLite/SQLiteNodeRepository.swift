import Foundation
import GRDB
import IMCInstance

/// A `NodeRepository` in the SQLite database (one process: its writes are serialized already).
public final class SQLiteNodeRepository: NodeRepository {
    private let pool: DatabasePool

    public init(database: SQLiteDatabase) { pool = database.pool }

    static let encoder = SQLiteCacheRepository.encoder
    static let decoder = SQLiteCacheRepository.decoder

    private static func save(_ db: Database, _ node: Node) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO nodes (name, state, heartbeat, data) VALUES (?, ?, ?, ?)",
            arguments: [node.name, node.state.rawValue, node.heartbeat.timeIntervalSince1970, try encoder.encode(node)])
    }

    private static func all(_ db: Database) throws -> [Node] {
        try Row.fetchAll(db, sql: "SELECT data FROM nodes ORDER BY name").map { try decoder.decode(Node.self, from: $0["data"] as Data) }
    }

    public func register(_ node: Node) throws { try pool.write { try Self.save($0, node) } }

    public func heartbeat(name: String, at: Date, allocatedCPU: Double, allocatedMemoryGiB: Double, warmCaches: [String]) throws
        -> Node.State?
    {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT data FROM nodes WHERE name = ?", arguments: [name]) else { return nil }
            var node = try Self.decoder.decode(Node.self, from: row["data"] as Data)
            guard node.state == .ready else { return node.state }
            node.beat(at: at, allocatedCPU: allocatedCPU, allocatedMemoryGiB: allocatedMemoryGiB, warmCaches: warmCaches)
            try Self.save(db, node)
            return .ready
        }
    }

    public func nodes() throws -> [Node] { try pool.read { try Self.all($0) } }

    public func place(cpu: Double, memoryGiB: Double, cache: String?, excluding: Set<String>) throws -> Node? {
        try pool.write { db in
            guard var node = Placement.choose(try Self.all(db), cpu: cpu, memoryGiB: memoryGiB, cache: cache, excluding: excluding)
            else { return nil }
            node.allocate(cpu: cpu, memoryGiB: memoryGiB)
            try Self.save(db, node)
            return node
        }
    }

    public func markLost(heartbeatBefore cutoff: Date) throws -> [Node] {
        try pool.write { db in
            var lost: [Node] = []
            for var node in try Self.all(db) where node.state == .ready && node.heartbeat < cutoff {
                node.state = .lost
                try Self.save(db, node)
                lost.append(node)
            }
            return lost
        }
    }

    public func removeNode(name: String) throws {
        try pool.write { try $0.execute(sql: "DELETE FROM nodes WHERE name = ?", arguments: [name]) }
    }
}
