import Foundation
import IMCBilling
import IMCModel
import IMCStore
import Logging

/// Records what is billed as it happens: a resource's interval opens when it starts costing and
/// closes when it stops. Metering never fails the work it meters: a failure to record is
/// logged as an error.
public struct Meter: Sendable {
    let usage: (any UsageRepository)?
    let clock: any ServiceClock
    let logger: Logger

    public init(usage: (any UsageRepository)?, clock: any ServiceClock = SystemClock(), logger: Logger? = nil) {
        self.usage = usage
        self.clock = clock
        self.logger = logger ?? Logger(label: "imc.meter", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// A meter that records nothing (tests of other things).
    public static let off = Meter(usage: nil)

    public func start(
        _ kind: UsageKind, account: String, resource: String, cache: String?, instance: String? = nil, quantity: Int,
        diskType: String? = nil
    ) async {
        guard let usage else { return }
        do {
            try await usage.start(
                Usage(
                    account: account, kind: kind, resourceID: resource, cacheID: cache, instanceID: instance, quantity: quantity,
                    diskType: diskType, start: clock.now()))
        } catch {
            logger.error("usage not recorded", metadata: ["resource": "\(resource)", "error": "\(error)"])
        }
    }

    public func stop(_ resource: String, kind: UsageKind? = nil) async {
        guard let usage else { return }
        do { try await usage.stop(resourceID: resource, kind: kind, at: clock.now()) } catch {
            logger.error("usage end not recorded", metadata: ["resource": "\(resource)", "error": "\(error)"])
        }
    }

    public func stopAll(_ kinds: [UsageKind]) async {
        try? await usage?.stopAll(kinds: kinds, at: clock.now())
    }
}
