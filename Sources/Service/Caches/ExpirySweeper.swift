import Logging
import ServiceLifecycle

/// Deletes expired caches (`RetentionDays` run out) and their snapshots, releases retained disks
/// whose time is up, and compacts the store's history of changes, every `interval`.
public struct ExpirySweeper: Service {
    let service: CacheService
    let instances: InstanceService?
    let interval: Duration
    let logger: Logger

    /// With `instances`, retained disks whose time is up are released on the same beat.
    public init(service: CacheService, instances: InstanceService? = nil, interval: Duration = .seconds(60), logger: Logger) {
        self.service = service
        self.instances = instances
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
                for id in try await instances?.sweepRetainedDisks() ?? [] {
                    logger.notice("Retained disk released at the end of its retention", metadata: ["disk": "\(id)"])
                }
            } catch {
                logger.error("expiry sweep failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

/// Stops every instance when the service shuts down gracefully: their containers are stopped,
/// mounts and disks released, and they end Failed with a reason (nothing keeps running
/// unsupervised after imc exits).
public struct InstanceSupervisor: Service {
    let service: InstanceService

    public init(service: InstanceService) { self.service = service }

    public func run() async throws {
        try? await gracefulShutdown()
        await service.shutdown()
    }
}
