import Foundation
import IMCInstance
import IMCModel
import IMCNetworking
import IMCObservability
import IMCRuntime
import IMCServiceSupport
import ServiceLifecycle
import Synchronization

/// What this host's instances' ports dropped, read from their counters: counted by reason in
/// the metrics, and told to the instance that sent it as a Warning event (`PortDropLedger`).
final class PortDropCounts: Sendable {
    private let state = Mutex<(ledger: PortDropLedger, read: Int, applied: Int)>((PortDropLedger(), 0, 0))

    /// A number for a reading about to be taken: readings are applied in the order they were
    /// taken, and one overtaken by a later one is dropped (it would count again what the later
    /// one counted).
    func nextReading() -> Int {
        state.withLock {
            $0.read += 1
            return $0.read
        }
    }

    func apply(_ reading: [String: [PortDrop: UInt64]], number: Int, at now: Date) -> (
        increments: [PortDrop: UInt64], warnings: [PortDropLedger.Warning]
    )? {
        state.withLock {
            guard number > $0.applied else { return nil }
            $0.applied = number
            return $0.ledger.observe(reading, at: now)
        }
    }
}

/// Reads the ports' counters once (when an instance of this host has been on a VPC) and does
/// what they say: the metrics counted, the instances that sent as another address (or past
/// their connection cap) warned.
final class PortDropCollector: Sendable {
    /// The host prepared for VPCs (at the first attach); nothing is read before.
    let host = HostPreparation()
    let counts = PortDropCounts()
    let runs: Runs
    let network: NetworkSettings
    let clock: any ServiceClock

    init(runs: Runs, network: NetworkSettings, clock: any ServiceClock) {
        self.runs = runs
        self.network = network
        self.clock = clock
    }

    func collect() async {
        guard await host.prepared else { return }
        let number = counts.nextReading()
        guard let reading = await VPCNetworks.portDrops(),
            let (increments, warnings) = counts.apply(reading, number: number, at: clock.now())
        else { return }
        for (drop, count) in increments { IMCMetrics.portDropped(reason: drop.rawValue, count: count) }
        for warning in warnings {
            guard let run = runs.all().first(where: { String($0.id.suffix(8)) == warning.key }) else { continue }
            await run.warn(warning, connectionLimit: network.networks.connectionLimit)
        }
    }
}

extension InstanceService {
    /// Reads the ports' counters once and does what they say (`PortDropCollector`).
    public func collectPortDrops() async { await parts.isolation.portDrops.collect() }
}

extension InstanceRun {
    /// Tells the instance what its port dropped.
    func warn(_ warning: PortDropLedger.Warning, connectionLimit: Int) async {
        let reason: InstanceEventReason = warning.kind == .spoofing ? .spoofedTrafficDropped : .connectionLimitReached
        await event(reason, PortDropLedger.message(warning, address: instance.privateIP, connectionLimit: connectionLimit))
        await save()
    }
}

/// Reads the ports' drop counters every `interval` (one `nft` process a beat, only once an
/// instance has been on a VPC here).
public struct PortDropWatch: Service {
    let service: InstanceService
    let interval: Duration

    public init(service: InstanceService, interval: Duration = .seconds(2)) {
        self.service = service
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            await service.collectPortDrops()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
