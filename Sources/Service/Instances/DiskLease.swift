import Foundation
import IMCBillingService
import IMCCache
import IMCDisks
import IMCInstance
import IMCModel
import IMCServiceSupport
import IMCStore

/// An instance's data disk while the instance holds it: made from its cache's snapshot (or a
/// retained disk of the same snapshot taken back), or a scratch disk for pulled images.
struct DiskLease: Sendable {
    let disk: Disk
    /// The cache whose snapshot it was made from; nil for a scratch disk.
    let cacheID: String?
    /// Whether it was a retained disk taken back (not a fresh clone).
    let reused: Bool
}

/// The service's side of disk leases: attaching (a retained disk taken back, a clone of a
/// snapshot, a scratch disk), metering while the instance runs (API.md section 8), and at the end
/// retaining the disk for the next instance of the same cache or releasing it. Every disk that
/// exists is a row of the disks table while it does.
struct DiskLeases: Sendable {
    let disks: DiskManager
    let snapshots: any SnapshotStore
    let repository: any DiskRepository
    let meter: Meter
    let clock: any ServiceClock
    let quotas: AccountQuotas

    /// Refuses a disk of `sizeGiB` for a running instance of `account` beyond its quota.
    func checkInstanceQuota(account: String, sizeGiB: Int) async throws {
        let used = try await repository.diskUsage(account: account)[.instance, default: 0]
        try AccountQuotas.check(
            "instanceDiskGiB", limit: quotas.instanceDiskGiB, used: used, more: sizeGiB, unit: " GiB", what: "of running instances' disks")
    }

    /// A retained disk of `account` made from `cache`, taken back and grown to `sizeGiB`; nil
    /// when there is none. A retained disk of a snapshot the cache has since replaced is
    /// released instead.
    func takeRetained(for instance: Instance, cache: ImageCache, snapshotID: String, sizeGiB: Int) async throws -> DiskLease? {
        try await checkInstanceQuota(account: instance.account, sizeGiB: sizeGiB)
        guard let retained = try await repository.takeRetainedDisk(account: instance.account, cacheID: cache.id, now: clock.now()) else {
            return nil
        }
        await meter.stop(retained.id, kind: .retainedDisk)
        let disk = disks.disk(id: retained.id, sizeGiB: retained.sizeGiB)
        guard retained.snapshotID == snapshotID else {
            await disks.remove(disk)
            try await repository.deleteDisk(id: retained.id)
            return nil
        }
        let grown = try await disks.grow(disk, to: sizeGiB)
        var record = retained
        record.instanceID = instance.id
        record.sizeGiB = grown.sizeGiB
        record.diskType = instance.cache.diskType
        try await repository.updateDisk(record)
        return DiskLease(disk: grown, cacheID: cache.id, reused: true)
    }

    /// A new disk cloned from the cache's snapshot, `sizeGiB` large. Throws `DiskError` when the
    /// snapshot cannot be used (then the instance pulls instead).
    func clone(for instance: Instance, cache: ImageCache, snapshotID: String, sizeGiB: Int) async throws -> DiskLease {
        try await checkInstanceQuota(account: instance.account, sizeGiB: sizeGiB)
        let snapshot = Snapshot(id: snapshotID, sizeGiB: cache.servedSize, checksum: cache.snapshotChecksum)
        let disk = try await snapshots.makeDisk(from: snapshot, sizeGiB: sizeGiB)
        var record = DiskRecord(
            id: disk.id, account: instance.account, use: .instance, instanceID: instance.id, cacheID: cache.id, sizeGiB: disk.sizeGiB,
            diskType: instance.cache.diskType, createdAt: clock.now())
        record.snapshotID = snapshotID
        record.node = disks.node
        do { try await repository.insertDisk(record) } catch {
            await disks.remove(disk)
            throw error
        }
        return DiskLease(disk: disk, cacheID: cache.id, reused: false)
    }

    /// A new, empty disk for images pulled without a cache.
    func scratch(for instance: Instance, sizeGiB: Int) async throws -> DiskLease {
        try await checkInstanceQuota(account: instance.account, sizeGiB: sizeGiB)
        let disk = try await disks.create(sizeGiB: sizeGiB)
        do {
            var record = DiskRecord(
                id: disk.id, account: instance.account, use: .instance, instanceID: instance.id, cacheID: nil, sizeGiB: sizeGiB,
                diskType: instance.cache.diskType, createdAt: clock.now())
            record.node = disks.node
            try await repository.insertDisk(record)
        } catch {
            await disks.remove(disk)
            throw error
        }
        return DiskLease(disk: disk, cacheID: nil, reused: false)
    }

    /// The lease an instance's record names (after a restart of the service).
    func existing(for instance: Instance) -> DiskLease? {
        instance.diskID.map {
            DiskLease(disk: disks.disk(id: $0, sizeGiB: instance.diskSizeGiB ?? 0), cacheID: instance.cacheID, reused: false)
        }
    }

    /// An image cache disk is billed while its instance runs; a scratch disk is not billed.
    func startMetering(_ lease: DiskLease, for instance: Instance) async {
        guard let cacheID = lease.cacheID else { return }
        await meter.start(
            .instanceDisk, account: instance.account, resource: lease.disk.id, cache: cacheID, instance: instance.id,
            quantity: lease.disk.sizeGiB, diskType: instance.cache.diskType.rawValue)
    }

    func stopMetering(_ lease: DiskLease) async {
        if lease.cacheID != nil { await meter.stop(lease.disk.id, kind: .instanceDisk) }
    }

    /// Keeps the (unmounted) disk for `minutes`, for the next instance of the same cache; it is
    /// billed as retained meanwhile. Refused (the caller releases the disk) beyond the account's
    /// quota of retained disks.
    func retain(_ lease: DiskLease, minutes: Int, for instance: Instance) async throws {
        guard var record = try await repository.disk(id: lease.disk.id) else {
            throw ServiceError.failed("disk \(lease.disk.id) has no row")
        }
        let retained = try await repository.diskUsage(account: instance.account)[.retained, default: 0]
        try AccountQuotas.check(
            "retainedDiskGiB", limit: quotas.retainedDiskGiB, used: retained, more: record.sizeGiB, unit: " GiB", what: "of retained disks")
        record.use = .retained
        record.instanceID = nil
        record.retainUntil = clock.now().addingTimeInterval(Double(minutes) * 60)
        try await repository.updateDisk(record)
        await meter.start(
            .retainedDisk, account: instance.account, resource: lease.disk.id, cache: lease.cacheID, instance: instance.id,
            quantity: record.sizeGiB, diskType: record.diskType.rawValue)
    }

    /// Removes the (unmounted) disk and its row.
    func release(_ lease: DiskLease) async {
        await disks.remove(lease.disk)
        try? await repository.deleteDisk(id: lease.disk.id)
    }
}
