import Synchronization

/// How builds share the builders: no account has more than `perAccount` builds running, the next
/// build goes to the account served least recently, and no build runs past its deadline.
public struct BuildPolicy: Sendable, Equatable {
    /// Builds of one account running at once.
    public var perAccount = 1
    /// A build still running at this age is stopped and its cache fails.
    public var deadline: Duration = .seconds(3600)
    /// A registry transfer that makes too little progress for this long is cut.
    public var stall: Duration = .seconds(30)

    public init() {}
}

/// The builds under way, shared by the copies of a worker, and the choice of the next one:
/// fair between accounts, first come first served within one.
public final class BuildQueue: Sendable {
    private struct State {
        var building: Set<String> = []
        var running: [String: Int] = [:]
        var lastServed: [String: UInt64] = [:]
        var tick: UInt64 = 0
    }
    private let state = Mutex(State())
    public let policy: BuildPolicy

    public init(policy: BuildPolicy) { self.policy = policy }

    /// Claims the next cache to build from `queued` (oldest first): among accounts below their
    /// share, the one with the fewest builds running, then the one served least recently.
    public func claimNext<C: Sendable>(from queued: [C], id: (C) -> String, account: (C) -> String) -> C? {
        state.withLock { s in
            var best: (C, (Int, UInt64))?
            for c in queued where !s.building.contains(id(c)) {
                let a = account(c)
                let running = s.running[a, default: 0]
                guard running < policy.perAccount else { continue }
                let key = (running, s.lastServed[a, default: 0])
                if let current = best, !(key < current.1) { continue }
                best = (c, key)
            }
            guard let (pick, _) = best else { return nil }
            s.building.insert(id(pick))
            s.running[account(pick), default: 0] += 1
            s.tick += 1
            s.lastServed[account(pick)] = s.tick
            return pick
        }
    }

    public func release(id: String, account: String) {
        state.withLock { s in
            s.building.remove(id)
            let left = s.running[account, default: 1] - 1
            s.running[account] = left > 0 ? left : nil
        }
    }

    /// Builds running now, by account.
    public var running: [String: Int] { state.withLock { $0.running } }
}
