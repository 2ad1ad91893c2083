import Foundation

/// Time as the services see it: the wall clock that records and events carry, and sleeping
/// (back-offs, grace periods, timers). Injected everywhere time matters, so that tests set the
/// time and do not wait for it.
public protocol ServiceClock: Sendable {
    /// The current wall-clock time.
    func now() -> Date
    /// Returns after `duration` (of this clock's time), or throws when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The machine's clock.
public struct SystemClock: ServiceClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
