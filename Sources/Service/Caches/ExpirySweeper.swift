import Logging
import ServiceLifecycle

/// Deletes expired caches (`RetentionDays` run out) and their snapshots, releases retained disks
/// whose time is up, and compacts the store's history of changes, every `interval`.
public struct ExpirySweeper: Service {
    let service: CacheService
    /// Releases retained disks whose time is up (the instances' service's), on the same beat.
    let releaseRetainedDisks: (@Sendable () async throws -> [String])?
    let interval: Duration
    let logger: Logger

    public init(
        service: CacheService, releaseRetainedDisks: (@Sendable () async throws -> [String])? = nil, interval: Duration = .seconds(60),
        logger: Logger
    ) {
        self.service = service
        self.releaseRetainedDisks = releaseRetainedDisks
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                for id in try await service.sweepExpired() {
                    logger.notice("Expired: image cache deleted at the end of its retention", metadata: ["cache": "\(id)"])
                }
                // Watches resume from the store's history of changes; the newest 10,000 are kept.
                try await service.repository.compactHistory(keeping: 10_000)
                for id in try await releaseRetainedDisks?() ?? [] {
                    logger.notice("Retained disk released at the end of its retention", metadata: ["disk": "\(id)"])
                }
            } catch {
                logger.error("expiry sweep failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
