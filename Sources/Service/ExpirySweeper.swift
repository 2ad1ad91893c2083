import Logging
import ServiceLifecycle

/// Deletes expired caches (`RetentionDays` run out) and their snapshots, every `interval`.
public struct ExpirySweeper: Service {
    let service: CacheService
    let interval: Duration
    let logger: Logger

    public init(service: CacheService, interval: Duration = .seconds(60), logger: Logger) {
        self.service = service
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            do {
                for id in try service.sweepExpired() {
                    logger.notice("Expired: image cache deleted at the end of its retention", metadata: ["cache": "\(id)"])
                }
            } catch {
                logger.error("expiry sweep failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
