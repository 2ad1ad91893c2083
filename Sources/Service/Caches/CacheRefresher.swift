import Foundation
import IMCCache
import IMCModel
import IMCRegistry
import IMCStore
import Logging
import ServiceLifecycle

/// Rebuilds caches whose tags moved: every `interval`, each Ready cache with a refresh interval
/// (`RefreshIntervalMinutes`) that is due has its images' references resolved at their
/// registries (one manifest request each, under the same address rules as builds), and when one
/// resolves to another digest than the snapshot was built from, the cache is rebuilt in place:
/// Updating, still serving its snapshot until the new one is Ready.
public struct CacheRefresher: Service {
    let service: CacheService
    let clientOptions: RegistryClientOptions
    /// Registries the service speaks plain HTTP to (beside each cache's own list).
    let plainHTTPHosts: Set<String>
    let interval: Duration
    let logger: Logger

    public init(
        service: CacheService, clientOptions: RegistryClientOptions, plainHTTPHosts: Set<String> = [], interval: Duration = .seconds(60),
        logger: Logger
    ) {
        self.service = service
        self.clientOptions = clientOptions
        self.plainHTTPHosts = plainHTTPHosts
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelledOrShuttingDown { return }
            await check()
        }
    }

    /// One pass over the due caches; returns the ids of those sent to be rebuilt.
    @discardableResult
    public func check() async -> [String] {
        let now = service.clock.now()
        var rebuilt: [String] = []
        for cache in await (try? service.repository.all(in: [.ready])) ?? [] {
            guard let minutes = cache.refreshMinutes, minutes > 0, cache.snapshotID != nil else { continue }
            let last = cache.lastRefreshCheck ?? cache.creationTime
            guard now >= last.addingTimeInterval(Double(minutes) * 60) else { continue }
            let (moved, failures) = await movedTags(of: cache)
            do {
                if try await service.refreshChecked(cache, moved: moved, failures: failures, at: now) {
                    rebuilt.append(cache.id)
                    logger.notice(
                        "tag moved: image cache rebuilt", metadata: ["cache": "\(cache.id)", "images": "\(moved.map(\.image))"])
                }
            } catch {
                logger.error("refresh check not recorded", metadata: ["cache": "\(cache.id)", "error": "\(error)"])
            }
        }
        return rebuilt
    }

    /// The images whose reference now resolves to another digest, and those that could not be
    /// checked (with why).
    func movedTags(of cache: ImageCache) async -> (moved: [MovedTag], failures: [(String, String)]) {
        let config = RegistryConfig(
            credentials: cache.credentials.map { RegistryCredential(server: $0.server, username: $0.username, password: $0.password) },
            plainHTTPHosts: plainHTTPHosts.union(cache.registryHttpEndPointList), skipVerifyHosts: Set(cache.registrySkipVerifyList))
        let client = RegistryClient(config: config, options: clientOptions, logger: logger)
        defer { Task { try? await client.shutdown() } }
        var moved: [MovedTag] = []
        var failures: [(String, String)] = []
        for image in cache.servedImages {
            guard let ref = try? ImageReference(parsing: image), ref.digest == nil,
                let built = cache.snapshotDigests?[ref.description]
            else { continue }
            do {
                let now = try await client.fetchManifest(ref).digest.description
                if now != built { moved.append(MovedTag(image: image, built: built, now: now)) }
            } catch {
                failures.append((image, "\(PullErrorDescription.of(error))"))
            }
        }
        return (moved, failures)
    }
}

/// A tag that resolves to another digest than the snapshot was built from.
public struct MovedTag: Sendable, Equatable {
    public var image: String
    public var built: String
    public var now: String
}

/// What a failed registry call says, in a line.
enum PullErrorDescription {
    static func of(_ error: any Error) -> String {
        if let e = error as? RegistryError { return e.message }
        return "\(error)"
    }
}

extension CacheService {
    /// Records a refresh check of `cache` at `at`; when tags moved (and the cache is still Ready
    /// on the same snapshot), it is rebuilt in place. Returns whether it was.
    func refreshChecked(_ cache: ImageCache, moved: [MovedTag], failures: [(String, String)], at: Date) async throws -> Bool {
        var rebuilt = false
        try await repository.modify(id: cache.id, account: cache.account) { c in
            c.lastRefreshCheck = at
            for (image, why) in failures {
                c.record(.refreshCheckFailed, "Could not check whether tag \(image) moved: \(why)", at: at)
            }
            guard !moved.isEmpty, c.status == .ready, c.snapshotID == cache.snapshotID else { return }
            c.status = .updating
            c.buildPercent = 0
            c.record(
                .updating,
                "Image cache \(c.id) will be rebuilt: "
                    + moved.map { "tag \($0.image) moved from \($0.built) to \($0.now)" }.joined(separator: "; "), at: at)
            rebuilt = true
        }
        if rebuilt { builds?.signal() }
        return rebuilt
    }
}
