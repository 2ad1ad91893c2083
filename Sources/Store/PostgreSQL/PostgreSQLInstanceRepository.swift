import Foundation
import IMCInstance
import IMCModel
import PostgresNIO

/// An `InstanceRepository` in PostgreSQL, beside the caches. Allocations (id ranges, networks,
/// addresses) read what is taken and take what is free under an advisory lock, so two replicas
/// never give one range or address twice; a retained disk is taken with `FOR UPDATE SKIP LOCKED`,
/// so two instances starting at once on different replicas never take the same one.
public final class PostgreSQLInstanceRepository: InstanceRepository {
    private let database: PostgreSQLDatabase

    public init(database: PostgreSQLDatabase) { self.database = database }

    private var secrets: SecretBox? { database.secrets }
    private static let encoder = SQLiteCacheRepository.encoder
    private static let decoder = SQLiteCacheRepository.decoder

    private func values(_ i: Instance) throws -> [SQLValue] {
        [
            .text(i.id), .text(i.account), .text(i.region), .text(i.name), .text(i.status.rawValue), .time(i.creationTime),
            .bytes(try Self.encoder.encode(try SecretBox.sealing(i, with: secrets))), .text(i.node),
        ]
    }

    private func decode(_ rows: [PostgresRandomAccessRow]) throws -> [Instance] {
        try rows.map { row in
            var instance = try SecretBox.sealing(
                try Self.decoder.decode(Instance.self, from: try row.data("data")), with: secrets, open: true)
            if row.has("revision") { instance.revision = try row.int64("revision") }
            return instance
        }
    }

    public func changes(account: String, after revision: Int64) throws -> [InstanceChange] {
        try database.read { try PostgreSQLHistory.changes($0, kind: "instance", account: account, after: revision, decode: decode) }
    }

    public func insert(_ instance: Instance) throws {
        try database.write { session in
            try session.execute(
                "INSERT INTO instances (id, account, region, name, status, creation, data, node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                try values(instance))
        }
    }

    public func update(_ instance: Instance) throws {
        try database.write { session in
            let changed = try session.affected(
                "UPDATE instances SET account = $2, region = $3, name = $4, status = $5, creation = $6, data = $7 WHERE id = $1 AND node IS NOT DISTINCT FROM $8",
                try values(instance))
            guard changed == 1 else { throw try Self.goneOrMoved(session, instance) }
        }
    }

    public func reassign(_ instance: Instance, from: String?) throws {
        try database.write { session in
            let changed = try session.affected(
                "UPDATE instances SET account = $2, region = $3, name = $4, status = $5, creation = $6, data = $7, node = $8 WHERE id = $1 AND node IS NOT DISTINCT FROM $9",
                try values(instance) + [.text(from)])
            guard changed == 1 else { throw try Self.goneOrMoved(session, instance) }
        }
    }

    private static func goneOrMoved(_ session: PostgreSQLSession, _ instance: Instance) throws -> StoreError {
        guard let row = try session.rows("SELECT node FROM instances WHERE id = $1", [.text(instance.id)]).first else {
            return StoreError(.gone, "instance \(instance.id) no longer exists")
        }
        let node = try row.optionalString("node")
        return StoreError(.gone, "instance \(instance.id) is no longer on node \(instance.node ?? "-"): it is on \(node ?? "-")")
    }

    public func instances(onNode node: String) throws -> [Instance] {
        try decode(
            try database.read {
                try $0.rows("SELECT data, revision FROM instances WHERE node = $1 ORDER BY creation", [.text(node)])
            })
    }

    public func get(id: String, account: String) throws -> Instance? {
        try decode(
            try database.read {
                try $0.rows("SELECT data, revision FROM instances WHERE id = $1 AND account = $2", [.text(id), .text(account)])
            }
        ).first
    }

    public func list(account: String, query: InstanceQuery) throws -> (total: Int, instances: [Instance]) {
        let page = PostgreSQLAccountPage(
            table: "instances", account: account, ids: query.ids, names: query.names, statuses: query.statuses?.map(\.rawValue),
            limit: query.limit, offset: query.offset)
        let (total, rows) = try database.read { try page.fetch($0) }
        return (total, try decode(rows))
    }

    @discardableResult
    public func delete(id: String, account: String) throws -> Bool {
        try database.write { try $0.affected("DELETE FROM instances WHERE id = $1 AND account = $2", [.text(id), .text(account)]) == 1 }
    }

    public func all(in statuses: [InstanceStatus]) throws -> [Instance] {
        try decode(
            try database.read {
                try $0.rows("SELECT data FROM instances WHERE status = ANY($1) ORDER BY creation", [.texts(statuses.map(\.rawValue))])
            })
    }

    public func countByStatus() throws -> [String: Int] {
        try database.read { session in
            Dictionary(
                try session.rows("SELECT status, COUNT(*) AS n FROM instances GROUP BY status").map {
                    (try $0.string("status"), try $0.int("n"))
                }, uniquingKeysWith: +)
        }
    }

    // MARK: Disks

    private static func diskValues(_ d: DiskRecord) throws -> [SQLValue] {
        [.text(d.id), .text(d.account), .text(d.use.rawValue), .text(d.cacheID), .time(d.retainUntil), .bytes(try encoder.encode(d))]
    }

    private static func decodeDisk(_ row: PostgresRandomAccessRow) throws -> DiskRecord {
        try decoder.decode(DiskRecord.self, from: try row.data("data"))
    }

    public func insertDisk(_ disk: DiskRecord) throws {
        try database.write {
            try $0.execute(
                "INSERT INTO disks (id, account, use, cache_id, retain_until, data) VALUES ($1, $2, $3, $4, $5, $6)",
                try Self.diskValues(disk))
        }
    }

    public func updateDisk(_ disk: DiskRecord) throws {
        try database.write {
            let changed = try $0.affected(
                "UPDATE disks SET account = $2, use = $3, cache_id = $4, retain_until = $5, data = $6 WHERE id = $1",
                try Self.diskValues(disk))
            guard changed == 1 else { throw StoreError(.gone, "disk \(disk.id) no longer exists") }
        }
    }

    public func deleteDisk(id: String) throws {
        try database.write { try $0.execute("DELETE FROM disks WHERE id = $1", [.text(id)]) }
    }

    public func disks() throws -> [DiskRecord] {
        try database.read { try $0.rows("SELECT data FROM disks ORDER BY id").map(Self.decodeDisk) }
    }

    public func disk(id: String) throws -> DiskRecord? {
        try database.read { try $0.rows("SELECT data FROM disks WHERE id = $1", [.text(id)]).first.map(Self.decodeDisk) }
    }

    public func diskUsage(account: String) throws -> [DiskRecord.Use: Int] {
        var usage: [DiskRecord.Use: Int] = [:]
        for disk in try database.read({ try $0.rows("SELECT data FROM disks WHERE account = $1", [.text(account)]).map(Self.decodeDisk) }) {
            usage[disk.use, default: 0] += disk.sizeGiB
        }
        return usage
    }

    public func takeRetainedDisk(account: String, cacheID: String, now: Date) throws -> DiskRecord? {
        try database.write { session in
            guard
                let row = try session.rows(
                    """
                    SELECT data FROM disks WHERE account = $1 AND use = 'retained' AND cache_id = $2 AND retain_until > $3
                    ORDER BY retain_until DESC LIMIT 1 FOR UPDATE SKIP LOCKED
                    """, [.text(account), .text(cacheID), .time(now)]
                ).first
            else { return nil }
            var disk = try Self.decodeDisk(row)
            disk.use = .instance
            disk.retainUntil = nil
            try session.execute(
                "UPDATE disks SET use = $2, retain_until = NULL, data = $3 WHERE id = $1",
                [.text(disk.id), .text(disk.use.rawValue), .bytes(try Self.encoder.encode(disk))])
            return disk
        }
    }

    // MARK: Id ranges and addresses

    public func allocateIDRange(instanceID: String, first: UInt32, size: UInt32, count: Int) throws -> UInt32 {
        try database.write { session in
            try session.lock("imc.id_ranges")
            if let row = try session.rows("SELECT base FROM id_ranges WHERE instance_id = $1", [.text(instanceID)]).first {
                return UInt32(try row.int64("base"))
            }
            let used = Set(try session.rows("SELECT base FROM id_ranges").map { try $0.int64("base") })
            for k in 0..<count {
                let base = Int64(first) + Int64(k) * Int64(size)
                guard !used.contains(base) else { continue }
                try session.execute("INSERT INTO id_ranges (base, instance_id) VALUES ($1, $2)", [.int(base), .text(instanceID)])
                return UInt32(base)
            }
            throw StoreError(.exhausted, "every one of the \(count) id ranges is in use by an instance")
        }
    }

    public func releaseIDRange(instanceID: String) throws {
        try database.write { try $0.execute("DELETE FROM id_ranges WHERE instance_id = $1", [.text(instanceID)]) }
    }

    public func allocatedIDRanges() throws -> [String: UInt32] {
        try database.read { session in
            Dictionary(
                try session.rows("SELECT base, instance_id FROM id_ranges").map {
                    (try $0.string("instance_id"), UInt32(try $0.int64("base")))
                }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func allocateAddress(instanceID: String, account: String, vpc: String, subnet: String, networks: Int) throws -> NetworkAddress {
        try database.write { session in
            try session.lock("imc.addresses")
            if let row = try session.rows("SELECT network, block, host FROM addresses WHERE instance_id = $1", [.text(instanceID)]).first {
                return NetworkAddress(network: try row.int("network"), block: try row.int("block"), host: try row.int("host"))
            }
            func firstFree(_ table: String, _ column: String, what: String) throws -> Int {
                let used = Set(try session.rows("SELECT \(column) AS n FROM \(table)").map { try $0.int("n") })
                guard let free = (0..<networks).first(where: { !used.contains($0) }) else {
                    throw StoreError(.exhausted, "every one of the \(networks) \(what) is in use")
                }
                return free
            }
            var network = try session.rows(
                "SELECT network FROM vpc_networks WHERE account = $1 AND vpc = $2", [.text(account), .text(vpc)]
            ).first?.int("network")
            if network == nil {
                let free = try firstFree("vpc_networks", "network", what: "VPC networks")
                try session.execute(
                    "INSERT INTO vpc_networks (account, vpc, network) VALUES ($1, $2, $3)", [.text(account), .text(vpc), .int(free)])
                network = free
            }
            var block = try session.rows(
                "SELECT block FROM subnets WHERE account = $1 AND vpc = $2 AND subnet = $3", [.text(account), .text(vpc), .text(subnet)]
            ).first?.int("block")
            if block == nil {
                let free = try firstFree("subnets", "block", what: "subnet address blocks")
                try session.execute(
                    "INSERT INTO subnets (account, vpc, subnet, block) VALUES ($1, $2, $3, $4)",
                    [.text(account), .text(vpc), .text(subnet), .int(free)])
                block = free
            }
            guard let network, let block else { throw StoreError(.exhausted, "no VPC network") }
            let taken = Set(try session.rows("SELECT host FROM addresses WHERE block = $1", [.int(block)]).map { try $0.int("host") })
            guard let host = (2...254).first(where: { !taken.contains($0) }) else {
                let name = subnet.isEmpty ? "VPC \(vpc)" : "subnet \(subnet)"
                throw StoreError(.exhausted, "every address of \(name) is in use (253 instances)")
            }
            try session.execute(
                "INSERT INTO addresses (instance_id, network, block, host) VALUES ($1, $2, $3, $4)",
                [.text(instanceID), .int(network), .int(block), .int(host)])
            return NetworkAddress(network: network, block: block, host: host)
        }
    }

    public func releaseAddress(instanceID: String) throws {
        try database.write { try $0.execute("DELETE FROM addresses WHERE instance_id = $1", [.text(instanceID)]) }
    }

    public func allocatedAddresses() throws -> [String] {
        try database.read { try $0.rows("SELECT instance_id FROM addresses").map { try $0.string("instance_id") } }
    }
}
