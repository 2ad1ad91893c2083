import Foundation
import IMCModel
import Synchronization

/// A clock tests move by hand: it reads the machine's time plus an offset the test advances, and
/// its sleeps advance the offset instead of waiting (back-offs and grace periods pass at once,
/// and the time they took shows in `now()`).
public final class TestClock: ServiceClock {
    private let offset = Mutex<TimeInterval>(0)
    private let start: Date?

    /// With `start`, the clock stands at `start` until advanced; without, it follows the
    /// machine's time, plus what it was advanced by.
    public init(start: Date? = nil) { self.start = start }

    public func now() -> Date { (start ?? Date()).addingTimeInterval(offset.withLock { $0 }) }

    /// Moves the clock forward.
    public func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        advance(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        // Let whatever the sleeper waited for (a process's end) be seen first.
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// A clock that stands still at `date` (exact times in tests).
public struct FixedClock: ServiceClock {
    public let date: Date
    public init(_ date: Date) { self.date = date }
    public func now() -> Date { date }
    public func sleep(for duration: Duration) async throws { try Task.checkCancellation() }
}
