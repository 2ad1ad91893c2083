import Synchronization

/// A doorbell between the API and the build workers: creating or changing a cache rings it, and
/// a worker waiting for work wakes at once instead of at its next poll. A ring with no one
/// waiting is kept for the next wait.
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            guard !s.waiters.isEmpty else {
                s.pending = true
                return []
            }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: true) }
    }

    /// Returns when rung (true), or after `timeout` (false).
    @discardableResult
    public func wait(upTo timeout: Duration) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let id = state.withLock { s -> UInt64? in
                if s.pending {
                    s.pending = false
                    return nil
                }
                s.next += 1
                s.waiters[s.next] = c
                return s.next
            }
            guard let id else { return c.resume(returning: true) }
            Task {
                try? await Task.sleep(for: timeout)
                if let waiter = self.state.withLock({ $0.waiters.removeValue(forKey: id) }) { waiter.resume(returning: false) }
            }
        }
    }
}
