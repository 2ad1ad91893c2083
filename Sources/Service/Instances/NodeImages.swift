import Foundation
import IMCContent
import IMCDisks
import IMCModel
import IMCOS
import IMCRegistry
import IMCServiceSupport
import IMCUnpack
import Logging

/// Images pulled for instances that no cache served, per account (an account never runs what
/// another account pulled with its credentials). Each account's store is a disk of its own, of
/// the account's `nodeStoreGiB` quota, mounted while any instance of the account uses it: a pull
/// that fills it fails that pull, never the host's filesystem. Two instances that need an image
/// at the same time share one pull; when the last instance of an account that used the store
/// ends, the store's disk goes, so the next cold start is cold again, as on a fresh node.
actor NodeImages {
    let root: String
    let disks: DiskManager
    let sizeGiB: Int
    private var inFlight: [String: Task<ReadyImage, any Error>] = [:]
    private var users: [String: Int] = [:]
    /// Each account's store disk, made and mounted once (the first user waits for it, the others
    /// wait for the same task).
    private var mounting: [String: Task<Disk, any Error>] = [:]
    /// Each account's stores, opened once: opening a store clears its temporary files, so two
    /// pulls at once must share one opening, not make their own.
    private var stores: [String: (OCILayoutStore, LayerStore)] = [:]

    init(root: String, disks: DiskManager, sizeGiB: Int) {
        self.root = root
        self.disks = disks
        self.sizeGiB = sizeGiB
    }

    nonisolated func directory(for account: String) -> String { "\(root)/\(account)" }

    /// An instance's use of its account's store, from `acquire` to `release`.
    struct Use: Sendable {
        let account: String
    }

    /// Registers an instance of `account` as a user of its store, making and mounting the
    /// store's disk for the first one.
    func acquire(account: String) async throws -> Use {
        users[account, default: 0] += 1
        let use = Use(account: account)
        let task: Task<Disk, any Error>
        if let existing = mounting[account] {
            task = existing
        } else {
            let (disks, size, target) = (disks, sizeGiB, directory(for: account))
            task = Task {
                let disk = try await disks.create(sizeGiB: size)
                do {
                    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                    try await disks.mount(disk, at: target)
                    chmod(target, 0o700)
                } catch {
                    await disks.remove(disk)
                    throw error
                }
                return disk
            }
            mounting[account] = task
        }
        do { _ = try await task.value } catch {
            await release(use)
            throw ServiceError.failed("the account's image store (quota nodeStoreGiB, \(sizeGiB) GiB) could not be made: \(error)")
        }
        return use
    }

    /// Ends an instance's use; the last one out removes the account's store and its disk.
    func release(_ use: Use) async {
        let account = use.account
        let left = users[account, default: 1] - 1
        users[account] = left > 0 ? left : nil
        guard left <= 0, let task = mounting.removeValue(forKey: account) else { return }
        stores[account] = nil
        guard let disk = try? await task.value else { return }
        let target = directory(for: account)
        try? await disks.unmount(target)
        await disks.remove(disk)
        rmdir(target)
    }

    /// Pulls an image for `account`, joining a pull of the same image already under way.
    func pull(_ reference: String, account: String, registry: RegistryConfig, options: RegistryClientOptions, logger: Logger)
        async throws -> ReadyImage
    {
        let key = account + " " + ((try? ImageReference(parsing: reference).description) ?? reference)
        if let running = inFlight[key] { return try await running.value }
        let opened: (OCILayoutStore, LayerStore)
        if let existing = stores[account] {
            opened = existing
        } else {
            let dir = directory(for: account)
            opened = (try OCILayoutStore(root: dir + "/images"), try LayerStore(root: dir + "/layers"))
            stores[account] = opened
        }
        let task = Task {
            try await InstanceImages.pull(
                reference, store: opened.0, layers: opened.1, registry: registry, options: options, logger: logger
            ).0
        }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        return try await task.value
    }

    /// Removes every store (at start, when no instance runs); their disks, which no row names,
    /// go with the pool's orphans.
    func removeAll() {
        Mount.unmountAll(under: root)
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        chmod(root, 0o700)
    }
}
