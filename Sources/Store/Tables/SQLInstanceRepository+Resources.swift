import Foundation
import IMCInstance
import IMCModel

/// What instances hold besides their rows: data disks (build, instance, retained), the host id
/// ranges of their user namespaces, and their VPC addresses. Allocations read what is taken and
/// take what is free in one transaction, under the dialect's lock (one replica at a time).
extension SQLInstanceRepository {
    static let disks = DocumentTable<DiskRecord>(
        name: "disks",
        columns: [
            ("id", { $0.id.sqlValue }), ("account", { $0.account.sqlValue }), ("use", { $0.use.rawValue.sqlValue }),
            ("cache_id", { $0.cacheID.sqlValue }), ("retain_until", { $0.retainUntil.sqlValue }),
        ])

    public func insertDisk(_ disk: DiskRecord) async throws {
        try await database.execute(Self.disks.insert(disk, data: try StoreCoding.encoder.encode(disk)))
    }

    public func updateDisk(_ disk: DiskRecord) async throws {
        let data = try StoreCoding.encoder.encode(disk)
        guard try await database.execute("UPDATE disks SET \(Self.disks.assignments(disk, data: data)) WHERE id = \(disk.id)") == 1 else {
            throw StoreError(.gone, "disk \(disk.id) no longer exists")
        }
    }

    public func deleteDisk(id: String) async throws {
        try await database.execute("DELETE FROM disks WHERE id = \(id)")
    }

    public func disks() async throws -> [DiskRecord] {
        try Self.disks.decode(try await database.rows("SELECT data FROM disks ORDER BY id"))
    }

    public func disk(id: String) async throws -> DiskRecord? {
        try Self.disks.decode(try await database.rows("SELECT data FROM disks WHERE id = \(id)")).first
    }

    public func diskUsage(account: String) async throws -> [DiskRecord.Use: Int] {
        var usage: [DiskRecord.Use: Int] = [:]
        for disk in try Self.disks.decode(try await database.rows("SELECT data FROM disks WHERE account = \(account)")) {
            usage[disk.use, default: 0] += disk.sizeGiB
        }
        return usage
    }

    /// The row is taken `FOR UPDATE SKIP LOCKED` (PostgreSQL): two instances starting at once on
    /// two replicas never take one disk.
    public func takeRetainedDisk(account: String, cacheID: String, now: Date) async throws -> DiskRecord? {
        try await database.write { session in
            guard
                var disk = try Self.disks.decode(
                    try await session.rows(
                        """
                        SELECT data FROM disks WHERE account = \(account) AND use = 'retained' AND cache_id = \(cacheID) AND retain_until > \(now)
                        ORDER BY retain_until DESC LIMIT 1\(raw: session.dialect.forUpdateSkipLocked)
                        """)
                ).first
            else { return nil }
            disk.use = .instance
            disk.retainUntil = nil
            let data = try StoreCoding.encoder.encode(disk)
            try await session.execute("UPDATE disks SET \(Self.disks.assignments(disk, data: data)) WHERE id = \(disk.id)")
            return disk
        }
    }

    // MARK: - Id ranges

    public func allocateIDRange(instanceID: String, first: UInt32, size: UInt32, count: Int) async throws -> UInt32 {
        try await database.write { session in
            try await session.lock("imc.id_ranges")
            if let row = try await session.rows("SELECT base FROM id_ranges WHERE instance_id = \(instanceID)").first {
                return UInt32(try row.int64("base"))
            }
            let used = Set(try await session.rows("SELECT base FROM id_ranges").map { try $0.int64("base") })
            for k in 0..<count {
                let base = Int64(first) + Int64(k) * Int64(size)
                guard !used.contains(base) else { continue }
                try await session.execute("INSERT INTO id_ranges (base, instance_id) VALUES (\(base), \(instanceID))")
                return UInt32(base)
            }
            throw StoreError(.exhausted, "every one of the \(count) id ranges is in use by an instance")
        }
    }

    public func releaseIDRange(instanceID: String) async throws {
        try await database.execute("DELETE FROM id_ranges WHERE instance_id = \(instanceID)")
    }

    public func allocatedIDRanges() async throws -> [String: UInt32] {
        Dictionary(
            try await database.rows("SELECT base, instance_id FROM id_ranges").map {
                (try $0.string("instance_id"), UInt32(try $0.int64("base")))
            }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: - Addresses

    public func allocateAddress(
        instanceID: String, account: String, vpc: String, subnet: String, networks: Int
    ) async throws -> NetworkAddress {
        try await database.write { session in
            try await session.lock("imc.addresses")
            if let row = try await session.rows("SELECT network, block, host FROM addresses WHERE instance_id = \(instanceID)").first {
                return NetworkAddress(network: try row.int("network"), block: try row.int("block"), host: try row.int("host"))
            }
            func firstFree(_ table: String, _ column: String, what: String) async throws -> Int {
                let used = Set(try await session.rows("SELECT \(raw: column) AS n FROM \(raw: table)").map { try $0.int("n") })
                guard let free = (0..<networks).first(where: { !used.contains($0) }) else {
                    throw StoreError(.exhausted, "every one of the \(networks) \(what) is in use")
                }
                return free
            }
            var network = try await session.rows(
                "SELECT network FROM vpc_networks WHERE account = \(account) AND vpc = \(vpc)"
            ).first?.int("network")
            if network == nil {
                let free = try await firstFree("vpc_networks", "network", what: "VPC networks")
                try await session.execute("INSERT INTO vpc_networks (account, vpc, network) VALUES (\(account), \(vpc), \(free))")
                network = free
            }
            var block = try await session.rows(
                "SELECT block FROM subnets WHERE account = \(account) AND vpc = \(vpc) AND subnet = \(subnet)"
            ).first?.int("block")
            if block == nil {
                let free = try await firstFree("subnets", "block", what: "subnet address blocks")
                try await session.execute(
                    "INSERT INTO subnets (account, vpc, subnet, block) VALUES (\(account), \(vpc), \(subnet), \(free))")
                block = free
            }
            guard let network, let block else { throw StoreError(.exhausted, "no VPC network") }
            let taken = Set(try await session.rows("SELECT host FROM addresses WHERE block = \(block)").map { try $0.int("host") })
            guard let host = (2...254).first(where: { !taken.contains($0) }) else {
                let name = subnet.isEmpty ? "VPC \(vpc)" : "subnet \(subnet)"
                throw StoreError(.exhausted, "every address of \(name) is in use (253 instances)")
            }
            try await session.execute(
                "INSERT INTO addresses (instance_id, network, block, host) VALUES (\(instanceID), \(network), \(block), \(host))")
            return NetworkAddress(network: network, block: block, host: host)
        }
    }

    public func releaseAddress(instanceID: String) async throws {
        try await database.execute("DELETE FROM addresses WHERE instance_id = \(instanceID)")
    }

    public func allocatedAddresses() async throws -> [String] {
        try await database.rows("SELECT instance_id FROM addresses").map { try $0.string("instance_id") }
    }
}
