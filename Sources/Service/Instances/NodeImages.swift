import Foundation
import IMCContent
import IMCModel
import IMCOS
import IMCRegistry
import IMCUnpack
import Logging

/// Images pulled for instances that no cache served, per account (an account never runs what
/// another account pulled with its credentials). Two instances that need an image at the same
/// time share one pull; when the last instance of an account that used the store ends, the
/// store goes, so the next cold start is cold again, as on a fresh node.
actor NodeImages {
    let root: String
    private var inFlight: [String: Task<ReadyImage, any Error>] = [:]
    private var users: [String: Int] = [:]
    /// Each account's stores, opened once: opening a store clears its temporary files, so two
    /// pulls at once must share one opening, not make their own.
    private var stores: [String: (OCILayoutStore, LayerStore)] = [:]

    init(root: String) { self.root = root }

    func directory(for account: String) -> String { "\(root)/\(account)" }

    /// An instance's use of its account's store, from `acquire` to `release`.
    struct Use: Sendable {
        let account: String
    }

    /// Registers an instance of `account` as a user of its store.
    func acquire(account: String) -> Use {
        users[account, default: 0] += 1
        return Use(account: account)
    }

    /// Ends an instance's use; the last one out removes the account's store.
    func release(_ use: Use) {
        let account = use.account
        let left = users[account, default: 1] - 1
        users[account] = left > 0 ? left : nil
        guard left <= 0 else { return }
        stores[account] = nil
        let dir = directory(for: account)
        let trash = "\(root)/.trash-\(account)-\(UInt32.random(in: 0...UInt32.max))"
        if rename(dir, trash) == 0 { Task { await BlockingPool.shared.run { try? FileManager.default.removeItem(atPath: trash) } } }
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

    /// Removes every store (at start, when no instance runs).
    func removeAll() {
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
}
