import Foundation
import IMCBilling
import IMCBillingService
import IMCCache
import IMCDocuments
import IMCInstance
import IMCModel
import IMCServiceSupport
import IMCStore

/// The EIPs of the operator's pool, kept in the store as objects of an account of imc's own
/// (`imc.eips`, which no tenant's credentials name), one per address: taking an address is
/// inserting its object, which the store refuses when another replica took it first, and
/// binding or unbinding one is a compare-and-swap of its JSON. Billed per address-hour from
/// the moment it is taken until it is released.
public struct ElasticIPs: Sendable {
    static let account = "imc.eips"
    static let kind = "eip"
    let repository: (any ObjectRepository)?
    let pool: EIPPool?
    let meter: Meter
    let clock: any ServiceClock
    let ids: any IDGenerator

    init(repository: (any ObjectRepository)?, pool: EIPPool?, meter: Meter, clock: any ServiceClock, ids: any IDGenerator) {
        self.repository = repository
        self.pool = pool
        self.meter = meter
        self.clock = clock
        self.ids = ids
    }

    /// EIPs for the instances `ids` of `account`, one each, as `request` asks; all or none.
    func take(_ request: EIPRequest, for instances: [String], account: String) async throws -> [InstanceEIP] {
        guard let pool, let repository else {
            throw ServiceError(
                .invalidValue,
                "this service has no EIP pool (its config's eips.pool); an instance is not made without the EIP it asked for",
                field: request.field, specificCode: "UnsupportedOperation")
        }
        var taken: [InstanceEIP] = []
        do {
            switch request {
            case .autoCreate(let bandwidth):
                let held = try await all(repository).filter { $0.account == account }.count
                guard held + instances.count <= pool.perAccount else {
                    throw ServiceError(
                        .limitExceeded,
                        "account \(account) holds \(held) EIPs; \(instances.count) more would pass its quota of \(pool.perAccount) (release kept ones: DeleteEKSContainerInstances with ReleaseAutoCreatedEip, or reuse them with ExistedEipIds)"
                    )
                }
                for instance in instances {
                    taken.append(try await allocate(repository, pool, account: account, instance: instance, bandwidth: bandwidth))
                }
            case .existing(let wanted):
                guard wanted.count == instances.count else {
                    throw ServiceError.invalidValue(
                        "ExistedEipIds", "ExistedEipIds names \(wanted.count) EIPs for \(instances.count) instances; give one per replica")
                }
                guard Set(wanted).count == wanted.count else {
                    throw ServiceError.invalidValue("ExistedEipIds", "ExistedEipIds names an EIP twice")
                }
                for (id, instance) in zip(wanted, instances) {
                    taken.append(try await bind(repository, id: id, account: account, instance: instance))
                }
            }
        } catch {
            for eip in taken { await finish(eip, account: account) }
            throw error
        }
        return taken
    }

    /// After its instance is gone: the EIP released (its address back in the pool, its billing
    /// stopped) or kept for the account, unbound.
    func finish(_ eip: InstanceEIP, account: String) async {
        guard let repository else { return }
        for _ in 0..<16 {
            guard let (stored, record) = try? await read(repository, eip.address), record.id == eip.id else { return }
            if eip.releaseOnDelete && record.keep != true {
                _ = try? await repository.deleteObject(account: Self.account, kind: Self.kind, namespace: "", name: eip.address)
                await meter.stop(eip.id, kind: .eip)
                return
            }
            var unbound = record
            unbound.keep = nil
            unbound.instance = nil
            if (try? await repository.replaceObject(Self.object(unbound, like: stored), expected: stored.data, account: Self.account))
                == true
            {
                return
            }
        }
    }

    /// Marks an auto-created EIP to be kept for the account when its instance goes.
    func keep(_ eip: InstanceEIP, account: String) async throws {
        guard let repository else { return }
        for _ in 0..<16 {
            guard let (stored, record) = try await read(repository, eip.address), record.id == eip.id, record.account == account else {
                return
            }
            var kept = record
            kept.keep = true
            if try await repository.replaceObject(Self.object(kept, like: stored), expected: stored.data, account: Self.account) { return }
        }
        throw ServiceError.inUse("EIP \(eip.id) is being changed by another request; try again")
    }

    /// The account's EIPs, by address.
    public func list(account: String) async throws -> [ElasticIP] {
        guard let repository else { return [] }
        return try await all(repository).filter { $0.account == account }
    }

    /// Releases the account's unbound EIPs named; one bound to an instance, or not the account's,
    /// is refused by its id and nothing is released.
    public func release(ids: [String], account: String) async throws {
        guard let repository else { throw ServiceError.notFound("no EIP \(ids.first ?? "") exists: this service has no EIP pool") }
        let mine = try await list(account: account)
        var chosen: [ElasticIP] = []
        for id in ids {
            guard let eip = mine.first(where: { $0.id == id }) else {
                throw ServiceError(.notFound, "AddressIds: EIP \(id.prefix(20)) does not exist", specificCode: "InvalidAddressId.NotFound")
            }
            guard eip.instance == nil else {
                throw ServiceError.inUse("AddressIds: EIP \(id) is bound to instance \(eip.instance ?? ""); delete the instance first")
            }
            chosen.append(eip)
        }
        for eip in chosen {
            try await repository.deleteObject(account: Self.account, kind: Self.kind, namespace: "", name: eip.address)
            await meter.stop(eip.id, kind: .eip)
        }
    }

    private func allocate(_ repository: any ObjectRepository, _ pool: EIPPool, account: String, instance: String, bandwidth: Int?)
        async throws -> InstanceEIP
    {
        let used = Set(try await all(repository).map(\.address))
        for address in pool.addresses where !used.contains(address) {
            let record = ElasticIP(
                id: ids.next(prefix: "eip"), account: account, address: address, instance: instance, autoCreated: true,
                bandwidthMbps: bandwidth, created: clock.now())
            do {
                try await repository.insertObject(Self.object(record), account: Self.account)
            } catch let e as StoreError where e.code == .duplicate {
                continue  // another replica took it first
            }
            await meter.start(.eip, account: account, resource: record.id, cache: nil, instance: instance, quantity: 1)
            return InstanceEIP(id: record.id, address: address, autoCreated: true, bandwidthMbps: bandwidth, releaseOnDelete: true)
        }
        throw ServiceError(
            .limitExceeded, "the EIP pool \(pool.cidr) has no address left; release kept EIPs or ask the operator for a larger pool",
            specificCode: "ResourceInsufficient")
    }

    private func bind(_ repository: any ObjectRepository, id: String, account: String, instance: String) async throws -> InstanceEIP {
        for _ in 0..<16 {
            // Another account's EIP is as unknown as one that does not exist.
            guard let record = try await all(repository).first(where: { $0.id == id && $0.account == account }),
                let (stored, _) = try await read(repository, record.address)
            else {
                throw ServiceError(
                    .notFound, "ExistedEipIds: EIP \(id.prefix(20)) does not exist", field: "ExistedEipIds",
                    specificCode: "InvalidParameterValue")
            }
            guard record.instance == nil else {
                throw ServiceError.inUse("ExistedEipIds: EIP \(id) is bound to instance \(record.instance ?? "")", field: "ExistedEipIds")
            }
            var bound = record
            bound.instance = instance
            if try await repository.replaceObject(Self.object(bound, like: stored), expected: stored.data, account: Self.account) {
                return InstanceEIP(
                    id: id, address: record.address, autoCreated: false, bandwidthMbps: record.bandwidthMbps, releaseOnDelete: false)
            }
        }
        throw ServiceError.inUse("ExistedEipIds: EIP \(id) is being changed by another request; try again", field: "ExistedEipIds")
    }

    private func all(_ repository: any ObjectRepository) async throws -> [ElasticIP] {
        try await repository.objects(account: Self.account, kind: Self.kind, namespace: nil).compactMap {
            try? JSONDecoder.iso.decode(ElasticIP.self, from: $0.data)
        }
    }

    private func read(_ repository: any ObjectRepository, _ address: String) async throws -> (StoredObject, ElasticIP)? {
        guard let stored = try await repository.object(account: Self.account, kind: Self.kind, namespace: "", name: address),
            let record = try? JSONDecoder.iso.decode(ElasticIP.self, from: stored.data)
        else { return nil }
        return (stored, record)
    }

    static func object(_ record: ElasticIP, like stored: StoredObject? = nil) -> StoredObject {
        StoredObject(
            kind: kind, namespace: "", name: record.address, uid: stored?.uid ?? record.id, created: stored?.created ?? record.created,
            data: (try? JSONEncoder.iso.encode(record)) ?? Data())
    }
}

extension EIPRequest {
    /// The request's field the EIP came from.
    var field: FieldPath { if case .existing = self { "ExistedEipIds" } else { "AutoCreateEip" } }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

extension JSONEncoder {
    static var iso: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = .sortedKeys
        return e
    }
}
