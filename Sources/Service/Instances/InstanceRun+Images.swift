import Foundation
import IMCCache
import IMCInstance
import IMCModel
import IMCPull
import IMCRegistry
import IMCServiceSupport

/// The instance's images: from the cache's disk (nothing downloaded, nothing unpacked), or
/// pulled onto that disk (an image a manual cache lacks), or pulled into the account's node
/// store (no cache); and, once running, a check that the cached tags have not moved.
extension InstanceRun {
    func readyImages(cache: ImageCache?) async throws {
        let manifest = cache != nil ? InstanceImages.diskManifest(at: diskRoot) : nil
        let onDisk = manifest?.byReference ?? [:]
        // A disk built before user-namespace builds (version 1) marks its layers `trusted.` only;
        // images pulled onto it may share those layers, so they are mounted the same way.
        let userXattrs = manifest.map(\.userOverlayXattrs) ?? true
        for image in instance.images {
            guard !life.isStopping else { return }
            let normalized = (try? ImageReference(parsing: image).description) ?? image
            if let entry = onDisk[normalized] {
                held.images[image] = try InstanceImages.fromDisk(entry, root: diskRoot)
                held.images[image]?.userXattrs = userXattrs
                held.fromCache.insert(image)
                await event(.pulled, "Container image \"\(image)\" already present on machine")
            } else {
                if let why = CacheCredential.unreadable((cache?.credentials ?? []) + instance.credentials) {
                    throw ServiceError(.secretUnreadable, "Failed to pull image \"\(image)\": \(why)")
                }
                await event(.pulling, "Pulling image \"\(image)\"")
                await save()
                let t0 = ContinuousClock.now
                var fromDisk = ""
                do {
                    if let cache {
                        let (ready, result) = try await InstanceImages.pull(
                            image, into: diskRoot, registry: registryConfig(cache: cache), options: parts.images.clientOptions,
                            logger: parts.logger)
                        held.images[image] = ready
                        held.images[image]?.userXattrs = userXattrs
                        let reused = result.layers.filter(\.reused)
                        let pulled = result.layers.filter { !$0.reused }
                        fromDisk =
                            ": \(pulled.reduce(0) { $0 + $1.size }) bytes pulled (\(pulled.count) layers), \(reused.reduce(0) { $0 + $1.size }) bytes (\(reused.count) layers) from image cache \(cache.id)'s disk"
                    } else {
                        if held.nodeImages == nil { held.nodeImages = try await parts.images.nodeImages.acquire(account: account) }
                        held.images[image] = try await parts.images.nodeImages.pull(
                            image, account: account, registry: registryConfig(cache: nil), options: parts.images.clientOptions,
                            logger: parts.logger)
                    }
                } catch {
                    var message = (error as? PullError)?.message ?? "\(error)"
                    if cache == nil, (error as? PullError)?.code == .diskFull {
                        message = "the account's image store is full (quota nodeStoreGiB, \(parts.images.nodeStoreGiB) GiB): \(message)"
                    }
                    life.imagePullFailed(image)
                    throw ServiceError.failed("Failed to pull image \"\(image)\": \(message.prefix(400))", cause: error as? PullError)
                }
                await event(
                    .pulled,
                    String(format: "Successfully pulled image \"%@\" in %.3fs", image, (ContinuousClock.now - t0).seconds) + fromDisk)
            }
            life.mark(StartupPhase.imageReady(image), at: now)
        }
    }

    /// The node's registry settings with the cache's and the instance's credentials and hosts.
    func registryConfig(cache: ImageCache?) -> RegistryConfig {
        var config = parts.images.registry
        let credentials = (cache?.credentials ?? []) + instance.credentials
        config.credentials += credentials.map { RegistryCredential(server: $0.server, username: $0.username, password: $0.password) }
        let plain = instance.registryHttpEndPointList + (cache?.registryHttpEndPointList ?? [])
        let skip = instance.registrySkipVerifyList + (cache?.registrySkipVerifyList ?? [])
        config.plainHTTPHosts.formUnion(plain.map(RegistryCredential.normaliseServer))
        config.skipVerifyHosts.formUnion(skip.map(RegistryCredential.normaliseServer))
        return config
    }

    /// For each image the cache served by tag, asks the registry what the tag is now; a moved
    /// tag still runs the cached version, with a Warning that names both digests.
    func checkStale() {
        let checks: [(String, Digest)] = held.fromCache.compactMap { image in
            guard let ref = try? ImageReference(parsing: image), ref.digest == nil, let d = held.images[image]?.resolvedDigest else {
                return nil
            }
            return (image, d)
        }
        guard !checks.isEmpty, let cacheID = instance.cacheID else { return }
        let config = registryConfig(cache: nil)
        let options = parts.images.clientOptions
        let logger = parts.logger
        Task.detached { [self] in
            let client = RegistryClient(config: config, options: options, logger: logger)
            for (image, cached) in checks {
                guard let ref = try? ImageReference(parsing: image), let now = try? await client.fetchManifest(ref) else { continue }
                if now.digest != cached {
                    await self.warnStale(image: image, cacheID: cacheID, cached: cached, current: now.digest)
                }
            }
            try? await client.shutdown()
        }
    }

    private func warnStale(image: String, cacheID: String, cached: Digest, current: Digest) async {
        await event(
            .imageCacheStale,
            "Image \(image) in image cache \(cacheID) is \(cached); the registry now serves \(current). The cached version runs; update the cache to use the new one"
        )
        await save()
    }
}

/// Layer-level use: when no cache holds an instance's images, the cache holding the most bytes
/// of their layers (a shared base image) becomes its disk; the images are pulled onto it, and
/// the layers it holds are not downloaded again.
extension InstanceRun {
    /// Not when the instance asked for a perfect match (`image-cache-match: perfect`) or for a
    /// minimum number of images: those are about whole images.
    func layerSelection() async -> CacheSelection? {
        guard instance.cache.use == "auto", instance.cache.partialMatch != false, instance.cache.minMatchedImages == nil else { return nil }
        let candidates = await ((try? parts.caches.records.serving(account: account, region: instance.region, now: now)) ?? []).filter {
            $0.platformName == Platform.host.description && !($0.snapshotLayers ?? [:]).isEmpty
        }
        guard !candidates.isEmpty else { return nil }
        let client = RegistryClient(config: registryConfig(cache: nil), options: parts.images.clientOptions, logger: parts.logger)
        defer { Task { try? await client.shutdown() } }
        var wanted: [String: Int64] = [:]
        for image in Set(instance.images) {
            // An image whose manifest cannot be read here is pulled as usual (and fails there with why).
            guard let layers = await Self.remoteLayers(image, client: client) else { return nil }
            wanted.merge(layers) { a, _ in a }
        }
        let totalBytes = wanted.values.reduce(0, +)
        func shared(_ c: ImageCache) -> (count: Int, bytes: Int64) {
            let held = c.snapshotLayers ?? [:]
            let common = wanted.filter { held[$0.key] != nil }
            return (common.count, common.values.reduce(0, +))
        }
        let best = candidates.map { ($0, shared($0)) }.filter { $0.1.count > 0 }.min { a, b in
            if a.1.bytes != b.1.bytes { return a.1.bytes > b.1.bytes }
            if a.0.servedSize != b.0.servedSize { return a.0.servedSize < b.0.servedSize }
            return a.0.id < b.0.id
        }
        guard let (cache, common) = best else { return nil }
        return CacheSelection.sharingLayers(
            cache, images: instance.images, layers: common.count, of: wanted.count, bytes: common.bytes, ofBytes: totalBytes)
    }

    /// An image's layers for this host's platform (compressed digest -> size), from its
    /// registry's manifest; nil when it cannot be read.
    static func remoteLayers(_ image: String, client: RegistryClient) async -> [String: Int64]? {
        guard let ref = try? ImageReference(parsing: image), var fetched = try? await client.fetchManifest(ref) else { return nil }
        if case .index(let index) = fetched.document,
            let entry = index.manifests.first(where: { $0.platform.map(Platform.host.matches) ?? false }),
            let m = try? await client.fetchManifest(ref, reference: entry.digest.description)
        {
            fetched = m
        }
        guard case .manifest(let manifest) = fetched.document else { return nil }
        return Dictionary(manifest.layers.map { ($0.digest.description, $0.size) }, uniquingKeysWith: { a, _ in a })
    }
}
