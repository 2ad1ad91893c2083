import Foundation
import IMCInstance
import PostgresNIO

/// A `NodeRepository` in PostgreSQL, shared by every replica and node. A placement locks the
/// Ready rows it chooses among (`FOR UPDATE SKIP LOCKED`: a second replica placing at the same
/// moment chooses among the others instead of waiting, and waits only when every row is taken).
public final class PostgreSQLNodeRepository: NodeRepository {
    private let database: PostgreSQLDatabase

    public init(database: PostgreSQLDatabase) { self.database = database }

    private static let encoder = SQLiteCacheRepository.encoder
    private static let decoder = SQLiteCacheRepository.decoder

    private static func save(_ session: PostgreSQLSession, _ node: Node) throws {
        try session.execute(
            """
            INSERT INTO nodes (name, state, heartbeat, data) VALUES ($1, $2, $3, $4)
            ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, heartbeat = EXCLUDED.heartbeat, data = EXCLUDED.data
            """,
            [.text(node.name), .text(node.state.rawValue), .time(node.heartbeat), .bytes(try encoder.encode(node))])
    }

    private static func decode(_ rows: [PostgresRandomAccessRow]) throws -> [Node] {
        try rows.map { try decoder.decode(Node.self, from: try $0.data("data")) }
    }

    public func register(_ node: Node) throws { try database.write { try Self.save($0, node) } }

    public func heartbeat(name: String, at: Date, allocatedCPU: Double, allocatedMemoryGiB: Double, warmCaches: [String]) throws
        -> Node.State?
    {
        try database.write { session in
            guard var node = try Self.decode(try session.rows("SELECT data FROM nodes WHERE name = $1 FOR UPDATE", [.text(name)])).first
            else { return nil }
            guard node.state == .ready else { return node.state }
            node.beat(at: at, allocatedCPU: allocatedCPU, allocatedMemoryGiB: allocatedMemoryGiB, warmCaches: warmCaches)
            try Self.save(session, node)
            return .ready
        }
    }

    public func nodes() throws -> [Node] {
        try database.read { try Self.decode(try $0.rows("SELECT data FROM nodes ORDER BY name")) }
    }

    public func place(cpu: Double, memoryGiB: Double, cache: String?, excluding: Set<String>) throws -> Node? {
        for waiting in [false, true] {
            let (chosen, skipped) = try database.write { session -> (Node?, Bool) in
                let ready = try Self.decode(
                    try session.rows(
                        "SELECT data FROM nodes WHERE state = 'Ready' ORDER BY name FOR UPDATE" + (waiting ? "" : " SKIP LOCKED")))
                let all = try session.rows("SELECT COUNT(*) AS n FROM nodes WHERE state = 'Ready'").first?.int64("n") ?? 0
                guard var node = Placement.choose(ready, cpu: cpu, memoryGiB: memoryGiB, cache: cache, excluding: excluding) else {
                    return (nil, Int64(ready.count) < all)
                }
                node.allocate(cpu: cpu, memoryGiB: memoryGiB)
                try Self.save(session, node)
                return (node, false)
            }
            if chosen != nil || !skipped { return chosen }
        }
        return nil
    }

    public func markLost(heartbeatBefore cutoff: Date) throws -> [Node] {
        try database.write { session in
            var lost: [Node] = []
            let rows = try session.rows(
                "SELECT data FROM nodes WHERE state = 'Ready' AND heartbeat < $1 FOR UPDATE SKIP LOCKED", [.time(cutoff)])
            for var node in try Self.decode(rows) {
                node.state = .lost
                try Self.save(session, node)
                lost.append(node)
            }
            return lost
        }
    }

    public func removeNode(name: String) throws {
        try database.write { try $0.execute("DELETE FROM nodes WHERE name = $1", [.text(name)]) }
    }
}
