import Foundation
import IMCInstance
import IMCModel

/// The data disks that exist, each a row: build disks, instances' disks, retained disks.
public protocol DiskRepository: Sendable {
    func insertDisk(_ disk: DiskRecord) async throws
    func updateDisk(_ disk: DiskRecord) async throws
    func deleteDisk(id: String) async throws
    func disks() async throws -> [DiskRecord]
    func disk(id: String) async throws -> DiskRecord?
    /// Takes (marks in use and returns) a retained disk of the account made from `cacheID`,
    /// still within its retention, if there is one.
    func takeRetainedDisk(account: String, cacheID: String, now: Date) async throws -> DiskRecord?
    /// The GiB of `account`'s disks, by use (for its quotas).
    func diskUsage(account: String) async throws -> [DiskRecord.Use: Int]
}

/// The host id ranges given to instances' user namespaces, each to one instance at a time.
///
/// Contract: `allocate` is atomic and returns the lowest free range (the same one again for an
/// instance that has one); a range is free again only after `release` (when its instance is
/// gone); `allocated` lists every range in use, for recovery.
/// Where instances' network addresses are given out: each (account, VPC) has a network of its
/// own (an index, from which its bridge follows), each of its subnets a block (an index, from
/// which its /24 follows), and each instance a host number in its subnet's block, free again
/// only when the instance is gone.
public protocol AddressRepository: Sendable {
    /// The VPC network of (account, vpc) and the block of its `subnet` ("" for instances that
    /// name none), each made on first use below `networks`, and a host number from 2 to 254 in
    /// the block for `instanceID` (the same again for an instance that has one). Throws when
    /// the networks, the blocks or the subnet's addresses are used up.
    func allocateAddress(instanceID: String, account: String, vpc: String, subnet: String, networks: Int) async throws -> NetworkAddress
    func releaseAddress(instanceID: String) async throws
    /// Every instance holding an address (for recovery).
    func allocatedAddresses() async throws -> [String]
}

public protocol IDRangeRepository: Sendable {
    /// The first id of the range given to `instanceID`, from `first + k * size` for k below
    /// `count`; throws when every range is in use.
    func allocateIDRange(instanceID: String, first: UInt32, size: UInt32, count: Int) async throws -> UInt32
    func releaseIDRange(instanceID: String) async throws
    func allocatedIDRanges() async throws -> [String: UInt32]
}

/// Where instances and the disks they hold are kept.
///
/// Contract: as `CacheRepository`: every call is atomic; an instance is visible only to its own
/// account; `update` replaces the whole instance and fails if it is gone.
public protocol InstanceRepository: DiskRepository, IDRangeRepository, AddressRepository {
    /// Every change of `account`'s instances after `revision` (the store's revision, shared with
    /// caches: `CacheRepository.revisions`), in revision order, each with the instance as that
    /// change left it.
    func changes(account: String, after revision: Int64) async throws -> [InstanceChange]

    func insert(_ instance: Instance) async throws
    /// Replaces the instance; fails as gone if it is gone or now belongs to another node (a
    /// node that was declared lost cannot write over the instance's new life elsewhere). Its Pod
    /// metadata (`kubernetes`) is kept as stored: only `updateMetadata` changes it.
    func update(_ instance: Instance) async throws
    /// Changes the instance's Pod metadata (labels, annotations) in one transaction with the
    /// read it is computed from; nil if there is no such instance. `change` may throw to refuse.
    func updateMetadata(id: String, account: String, _ change: @Sendable (Instance) throws -> KubernetesMetadata) async throws
        -> Instance?
    /// Moves the instance from node `from` to its `node` (rescheduling); fails as gone if it
    /// is not on `from` any more.
    func reassign(_ instance: Instance, from: String?) async throws
    /// Every instance placed on `node`, of every account, oldest first.
    func instances(onNode node: String) async throws -> [Instance]
    func get(id: String, account: String) async throws -> Instance?
    /// Instances of `account`, newest first, filtered, with the total before paging.
    func list(account: String, query: InstanceQuery) async throws -> (total: Int, instances: [Instance])
    @discardableResult
    func delete(id: String, account: String) async throws -> Bool
    /// Instances in any of `statuses`, of every account (for recovery after a restart).
    func all(in statuses: [InstanceStatus]) async throws -> [Instance]
    /// How many instances there are in each status, every account (for the operator's gauges).
    func countByStatus() async throws -> [String: Int]
}

/// Filters of DescribeEKSContainerInstances.
public struct InstanceQuery: Sendable {
    public var ids: [String]?
    public var names: [String]?
    public var statuses: [InstanceStatus]?
    public var limit = 20
    public var offset = 0
    public init() {}
}
