import Foundation
import IMCInstance

/// The `NodeRepository` of both backends. A placement locks the Ready rows it chooses among
/// (PostgreSQL's `FOR UPDATE SKIP LOCKED`: a second replica placing at the same moment chooses
/// among the others instead of waiting, and waits only when every row is taken; SQLite's write
/// transaction holds the database).
public final class SQLNodeRepository: NodeRepository {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    private static func save(_ session: any SQLSession, _ node: Node) async throws {
        let data = try StoreCoding.encoder.encode(node)
        try await session.execute(
            """
            INSERT INTO nodes (name, state, heartbeat, data) VALUES (\(node.name), \(node.state.rawValue), \(node.heartbeat), \(data))
            ON CONFLICT (name) DO UPDATE SET state = excluded.state, heartbeat = excluded.heartbeat, data = excluded.data
            """)
    }

    private static func decode(_ rows: [SQLRow]) throws -> [Node] {
        try rows.map { try StoreCoding.decoder.decode(Node.self, from: try $0.data("data")) }
    }

    public func register(_ node: Node) async throws { try await database.write { try await Self.save($0, node) } }

    public func heartbeat(
        name: String, at: Date, allocatedCPU: Double, allocatedMemoryGiB: Double, counted: Set<String>, warmCaches: [String]
    ) async throws -> Node.State? {
        try await database.write { session in
            guard
                var node = try Self.decode(
                    try await session.rows("SELECT data FROM nodes WHERE name = \(name)\(raw: session.dialect.forUpdate)")
                ).first
            else { return nil }
            guard node.state == .ready else { return node.state }
            node.beat(
                at: at, allocatedCPU: allocatedCPU, allocatedMemoryGiB: allocatedMemoryGiB, counted: counted, warmCaches: warmCaches)
            try await Self.save(session, node)
            return .ready
        }
    }

    public func nodes() async throws -> [Node] {
        try Self.decode(try await database.rows("SELECT data FROM nodes ORDER BY name"))
    }

    public func place(instance: String, cpu: Double, memoryGiB: Double, cache: String?, excluding: Set<String>, at: Date)
        async throws -> Node?
    {
        for waiting in [false, true] {
            let (chosen, skipped) = try await database.write { session -> (Node?, Bool) in
                let lock = waiting ? session.dialect.forUpdate : session.dialect.forUpdateSkipLocked
                let ready = try Self.decode(
                    try await session.rows("SELECT data FROM nodes WHERE state = 'Ready' ORDER BY name\(raw: lock)"))
                let all = try await session.rows("SELECT COUNT(*) AS n FROM nodes WHERE state = 'Ready'").first?.int64("n") ?? 0
                guard var node = Placement.choose(ready, cpu: cpu, memoryGiB: memoryGiB, cache: cache, excluding: excluding) else {
                    return (nil, Int64(ready.count) < all)
                }
                node.allocate(instance: instance, cpu: cpu, memoryGiB: memoryGiB, at: at)
                try await Self.save(session, node)
                return (node, false)
            }
            if chosen != nil || !skipped { return chosen }
        }
        return nil
    }

    public func markLost(heartbeatBefore cutoff: Date) async throws -> [Node] {
        try await database.write { session in
            var lost: [Node] = []
            let rows = try await session.rows(
                "SELECT data FROM nodes WHERE state = 'Ready' AND heartbeat < \(cutoff)\(raw: session.dialect.forUpdateSkipLocked)")
            for var node in try Self.decode(rows) {
                node.state = .lost
                try await Self.save(session, node)
                lost.append(node)
            }
            return lost
        }
    }

    public func removeNode(name: String) async throws {
        try await database.execute("DELETE FROM nodes WHERE name = \(name)")
    }
}
