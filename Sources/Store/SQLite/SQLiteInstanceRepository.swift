import Foundation
import GRDB
import IMCInstance
import IMCModel

/// An `InstanceRepository` in the same SQLite database as the caches.
public final class SQLiteInstanceRepository: InstanceRepository {
    private let pool: DatabasePool
    private let secrets: SecretBox?

    public init(database: SQLiteDatabase) {
        pool = database.pool
        secrets = database.secrets
    }

    static let encoder = SQLiteCacheRepository.encoder
    static let decoder = SQLiteCacheRepository.decoder

    private func arguments(_ i: Instance) throws -> StatementArguments {
        [
            i.id, i.account, i.region, i.name, i.status.rawValue, i.creationTime.timeIntervalSince1970,
            try Self.encoder.encode(try SecretBox.sealing(i, with: secrets)), i.node,
        ]
    }

    private func decode(_ rows: [Row]) throws -> [Instance] {
        try rows.map { row in
            var instance = try SecretBox.sealing(
                try Self.decoder.decode(Instance.self, from: row["data"] as Data), with: secrets, open: true)
            if row.hasColumn("revision") { instance.revision = row["revision"] }
            return instance
        }
    }

    public func changes(account: String, after revision: Int64) throws -> [InstanceChange] {
        try pool.read { db in
            try History.changes(db, kind: "instance", account: account, after: revision, decode: self.decode, revisionOf: \.revision)
        }
    }

    public func insert(_ instance: Instance) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO instances (id, account, region, name, status, creation, data, node) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: try self.arguments(instance))
        }
    }

    public func update(_ instance: Instance) throws {
        try pool.write { db in
            try db.execute(
                sql:
                    "UPDATE instances SET account = ?2, region = ?3, name = ?4, status = ?5, creation = ?6, data = ?7 WHERE id = ?1 AND node IS ?8",
                arguments: try self.arguments(instance))
            guard db.changesCount == 1 else { throw try Self.goneOrMoved(db, instance) }
        }
    }

    public func reassign(_ instance: Instance, from: String?) throws {
        try pool.write { db in
            var arguments = try self.arguments(instance)
            arguments += [from]
            try db.execute(
                sql:
                    "UPDATE instances SET account = ?2, region = ?3, name = ?4, status = ?5, creation = ?6, data = ?7, node = ?8 WHERE id = ?1 AND node IS ?9",
                arguments: arguments)
            guard db.changesCount == 1 else { throw try Self.goneOrMoved(db, instance) }
        }
    }

    private static func goneOrMoved(_ db: Database, _ instance: Instance) throws -> StoreError {
        guard let node = try String?.fetchOne(db, sql: "SELECT node FROM instances WHERE id = ?", arguments: [instance.id]) else {
            return StoreError(.gone, "instance \(instance.id) no longer exists")
        }
        return StoreError(.gone, "instance \(instance.id) is no longer on node \(instance.node ?? "-"): it is on \(node ?? "-")")
    }

    public func instances(onNode node: String) throws -> [Instance] {
        try pool.read { db in
            try self.decode(
                try Row.fetchAll(db, sql: "SELECT data, revision FROM instances WHERE node = ? ORDER BY creation", arguments: [node]))
        }
    }

    public func get(id: String, account: String) throws -> Instance? {
        try pool.read { db in
            try self.decode(
                try Row.fetchAll(db, sql: "SELECT data, revision FROM instances WHERE id = ? AND account = ?", arguments: [id, account])
            )
            .first
        }
    }

    public func list(account: String, query: InstanceQuery) throws -> (total: Int, instances: [Instance]) {
        let page = AccountPage(
            table: "instances", account: account, ids: query.ids, names: query.names, statuses: query.statuses?.map(\.rawValue),
            limit: query.limit,
            offset: query.offset)
        return try pool.read { db in
            let (total, rows) = try page.fetch(db)
            return (total, try self.decode(rows))
        }
    }

    @discardableResult
    public func delete(id: String, account: String) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM instances WHERE id = ? AND account = ?", arguments: [id, account])
            return db.changesCount == 1
        }
    }

    public func countByStatus() throws -> [String: Int] {
        try pool.read { db in
            Dictionary(
                try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM instances GROUP BY status").map {
                    ($0["status"] as String, $0["n"] as Int)
                },
                uniquingKeysWith: +)
        }
    }

    public func all(in statuses: [InstanceStatus]) throws -> [Instance] {
        try pool.read { db in
            let marks = statuses.map { _ in "?" }.joined(separator: ", ")
            return try self.decode(
                try Row.fetchAll(
                    db, sql: "SELECT data FROM instances WHERE status IN (\(marks)) ORDER BY creation",
                    arguments: StatementArguments(statuses.map(\.rawValue))))
        }
    }

    private static func diskArguments(_ d: DiskRecord) throws -> StatementArguments {
        [d.id, d.account, d.use.rawValue, d.cacheID, d.retainUntil?.timeIntervalSince1970, try encoder.encode(d)]
    }

    public func insertDisk(_ disk: DiskRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO disks (id, account, use, cache_id, retain_until, data) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: try Self.diskArguments(disk))
        }
    }

    public func updateDisk(_ disk: DiskRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE disks SET account = ?2, use = ?3, cache_id = ?4, retain_until = ?5, data = ?6 WHERE id = ?1",
                arguments: try Self.diskArguments(disk))
            guard db.changesCount == 1 else { throw StoreError(.gone, "disk \(disk.id) no longer exists") }
        }
    }

    public func deleteDisk(id: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM disks WHERE id = ?", arguments: [id]) }
    }

    public func disks() throws -> [DiskRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT data FROM disks ORDER BY id").map {
                try Self.decoder.decode(DiskRecord.self, from: $0["data"] as Data)
            }
        }
    }

    public func diskUsage(account: String) throws -> [DiskRecord.Use: Int] {
        try pool.read { db in
            var usage: [DiskRecord.Use: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT data FROM disks WHERE account = ?", arguments: [account]) {
                let disk = try Self.decoder.decode(DiskRecord.self, from: row["data"] as Data)
                usage[disk.use, default: 0] += disk.sizeGiB
            }
            return usage
        }
    }

    public func disk(id: String) throws -> DiskRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT data FROM disks WHERE id = ?", arguments: [id]).map {
                try Self.decoder.decode(DiskRecord.self, from: $0["data"] as Data)
            }
        }
    }

    public func takeRetainedDisk(account: String, cacheID: String, now: Date) throws -> DiskRecord? {
        try pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT id, data FROM disks WHERE account = ? AND use = 'retained' AND cache_id = ? AND retain_until > ?
                        ORDER BY retain_until DESC LIMIT 1
                        """, arguments: [account, cacheID, now.timeIntervalSince1970])
            else { return nil }
            var disk = try Self.decoder.decode(DiskRecord.self, from: row["data"] as Data)
            disk.use = .instance
            disk.retainUntil = nil
            try db.execute(
                sql: "UPDATE disks SET use = ?2, retain_until = NULL, data = ?3 WHERE id = ?1",
                arguments: [disk.id, disk.use.rawValue, try Self.encoder.encode(disk)])
            return disk
        }
    }

    public func allocateIDRange(instanceID: String, first: UInt32, size: UInt32, count: Int) throws -> UInt32 {
        try pool.write { db in
            if let base = try Int64.fetchOne(db, sql: "SELECT base FROM id_ranges WHERE instance_id = ?", arguments: [instanceID]) {
                return UInt32(base)
            }
            let used = Set(try Int64.fetchAll(db, sql: "SELECT base FROM id_ranges"))
            for k in 0..<count {
                let base = Int64(first) + Int64(k) * Int64(size)
                guard !used.contains(base) else { continue }
                try db.execute(sql: "INSERT INTO id_ranges (base, instance_id) VALUES (?, ?)", arguments: [base, instanceID])
                return UInt32(base)
            }
            throw StoreError(.exhausted, "every one of the \(count) id ranges is in use by an instance")
        }
    }

    public func allocateAddress(instanceID: String, account: String, vpc: String, subnet: String, networks: Int) throws -> NetworkAddress {
        try pool.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT network, block, host FROM addresses WHERE instance_id = ?", arguments: [instanceID])
            {
                return NetworkAddress(network: row["network"], block: row["block"], host: row["host"])
            }
            func first(free table: String, _ column: String, what: String) throws -> Int {
                let used = Set(try Int.fetchAll(db, sql: "SELECT \(column) FROM \(table)"))
                guard let free = (0..<networks).first(where: { !used.contains($0) }) else {
                    throw StoreError(.exhausted, "every one of the \(networks) \(what) is in use")
                }
                return free
            }
            var network = try Int.fetchOne(
                db, sql: "SELECT network FROM vpc_networks WHERE account = ? AND vpc = ?", arguments: [account, vpc])
            if network == nil {
                let free = try first(free: "vpc_networks", "network", what: "VPC networks")
                try db.execute(
                    sql: "INSERT INTO vpc_networks (account, vpc, network) VALUES (?, ?, ?)", arguments: [account, vpc, free])
                network = free
            }
            var block = try Int.fetchOne(
                db, sql: "SELECT block FROM subnets WHERE account = ? AND vpc = ? AND subnet = ?", arguments: [account, vpc, subnet])
            if block == nil {
                let free = try first(free: "subnets", "block", what: "subnet address blocks")
                try db.execute(
                    sql: "INSERT INTO subnets (account, vpc, subnet, block) VALUES (?, ?, ?, ?)",
                    arguments: [account, vpc, subnet, free])
                block = free
            }
            guard let network, let block else { throw StoreError(.exhausted, "no VPC network") }
            let taken = Set(try Int.fetchAll(db, sql: "SELECT host FROM addresses WHERE block = ?", arguments: [block]))
            guard let host = (2...254).first(where: { !taken.contains($0) }) else {
                let name = subnet.isEmpty ? "VPC \(vpc)" : "subnet \(subnet)"
                throw StoreError(.exhausted, "every address of \(name) is in use (253 instances)")
            }
            try db.execute(
                sql: "INSERT INTO addresses (instance_id, network, block, host) VALUES (?, ?, ?, ?)",
                arguments: [instanceID, network, block, host])
            return NetworkAddress(network: network, block: block, host: host)
        }
    }

    public func releaseAddress(instanceID: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM addresses WHERE instance_id = ?", arguments: [instanceID]) }
    }

    public func allocatedAddresses() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT instance_id FROM addresses") }
    }

    public func releaseIDRange(instanceID: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM id_ranges WHERE instance_id = ?", arguments: [instanceID]) }
    }

    public func allocatedIDRanges() throws -> [String: UInt32] {
        try pool.read { db in
            Dictionary(
                try Row.fetchAll(db, sql: "SELECT base, instance_id FROM id_ranges").map {
                    ($0["instance_id"] as String, UInt32($0["base"] as Int64))
                },
                uniquingKeysWith: { a, _ in a })
        }
    }
}
