import Foundation
import IMCContent
import IMCModel
import IMCOS
import IMCObservability
import IMCPull
import IMCRegistry
import IMCUnpack
import Logging

/// An image ready to run: its layer directories (bottom first) and its config.
struct ReadyImage: Sendable {
    var reference: String
    var layers: [String]
    var config: ImageConfig
    /// What the reference resolved to when the image was stored (index or manifest digest).
    var resolvedDigest: Digest?
}

/// Where an instance's images come from: a cache disk's manifest, or a pull.
enum InstanceImages {
    /// The manifest a cache build wrote at the disk's root, by normalised reference.
    static func diskManifest(at root: String) -> [String: CacheBuilder.DiskManifest.Image] {
        guard let data = FileManager.default.contents(atPath: root + "/imc-manifest.json"),
            let manifest = try? JSONDecoder().decode(CacheBuilder.DiskManifest.self, from: data)
        else { return [:] }
        var byReference: [String: CacheBuilder.DiskManifest.Image] = [:]
        for image in manifest.images { byReference[image.normalized] = image }
        return byReference
    }

    /// An image the disk holds: nothing is downloaded or unpacked, its layers are read where
    /// the build put them.
    static func fromDisk(_ entry: CacheBuilder.DiskManifest.Image, root: String) throws -> ReadyImage {
        let store = try OCILayoutStore(root: root + "/images")
        let manifestDigest = try Digest(parsing: entry.manifestDigest)
        let document = try ManifestDocument.parse(try store.read(manifestDigest, maxSize: ManifestDocument.maxSize), mediaType: nil)
        guard case .manifest(let manifest) = document else {
            throw RuntimeFailure("image \(entry.reference) on the cache disk has no manifest")
        }
        let config = try ManifestDocument.parseConfig(try store.read(manifest.config.digest, maxSize: ManifestDocument.maxSize))
        let layers = config.rootfs.diff_ids.map { "\(root)/layers/sha256/\($0.hex)" }
        for path in layers where access(path, F_OK) != 0 {
            throw RuntimeFailure("layer \(path) of image \(entry.reference) is missing from the cache disk")
        }
        let resolved = try? store.resolve(entry.normalized)?.digest
        return ReadyImage(reference: entry.reference, layers: layers, config: config, resolvedDigest: resolved ?? manifestDigest)
    }

    /// Pulls `reference` into the stores under `root` (`images/`, `layers/`).
    static func pull(_ reference: String, into root: String, registry: RegistryConfig, options: RegistryClientOptions, logger: Logger)
        async throws -> (ReadyImage, PullResult)
    {
        try await pull(
            reference, store: try OCILayoutStore(root: root + "/images"), layers: try LayerStore(root: root + "/layers"),
            registry: registry,
            options: options, logger: logger)
    }

    /// Pulls `reference` into open stores (which several pulls may share at once).
    static func pull(
        _ reference: String, store: OCILayoutStore, layers: LayerStore, registry: RegistryConfig, options: RegistryClientOptions,
        logger: Logger
    ) async throws -> (ReadyImage, PullResult) {
        let ref = try ImageReference(parsing: reference)
        let client = RegistryClient(config: registry, options: options, logger: logger)
        let puller = Puller(client: client, store: store, layers: layers, logger: logger)
        do {
            let result = try await puller.pull(ref)
            Metrics.shared.increment("imc_pulled_bytes_total", by: Double(result.layers.filter { !$0.reused }.reduce(0) { $0 + $1.size }))
            try await client.shutdown()
            let config = try ManifestDocument.parseConfig(try store.read(result.configDigest, maxSize: ManifestDocument.maxSize))
            let image = ReadyImage(
                reference: reference, layers: result.layers.compactMap(\.path), config: config,
                resolvedDigest: try? store.resolve(ref.description)?.digest)
            return (image, result)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// A failure while preparing or running an instance, said for a person.
struct RuntimeFailure: Error, CustomStringConvertible, Sendable {
    var description: String
    init(_ description: String) { self.description = description }
}

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

    /// Registers an instance of `account` as a user of its store.
    func acquire(account: String) { users[account, default: 0] += 1 }

    /// Ends an instance's use; the last one out removes the account's store.
    func release(account: String) {
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
