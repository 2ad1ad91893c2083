import Foundation
import IMCModel
import Synchronization

/// The console's sessions, in memory: a random token in an HttpOnly, SameSite=Strict cookie.
final class Sessions: Sendable {
    private let table = Mutex<[String: Console.Session]>([:])

    func open(_ s: Console.Session) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var g = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &g) }
        let token = Hex.encode(bytes)
        table.withLock { $0[token] = s }
        return token
    }

    func get(_ token: String, now: Date) -> Console.Session? {
        table.withLock { t in
            guard let s = t[token] else { return nil }
            if s.expires < now {
                t[token] = nil
                return nil
            }
            return s
        }
    }

    func close(_ token: String) { _ = table.withLock { $0.removeValue(forKey: token) } }
}

/// A brake on guessing keys at sign-in, bounded in memory: failures are counted per client
/// address (20 in 5 minutes, then that address waits) and per address and SecretId (5 in 5
/// minutes), so that a guesser is slowed down while the owner of a SecretId, signing in from
/// elsewhere, never is. At most `capacity` counters are kept; the stalest go first.
final class Throttle: Sendable {
    struct Counter {
        var failures: Int
        var since: Date
    }
    private let counters = Mutex<[String: Counter]>([:])
    static let window: TimeInterval = 300
    static let perAddress = 20
    static let perSecretID = 5
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    static func keys(address: String?, secretID: String) -> (String, String) {
        let a = address ?? "unknown"
        return ("a " + a, "s " + a + " " + secretID)
    }

    /// Seconds until `address` may try `secretID` again, or nil when it may now.
    func blocked(address: String?, secretID: String, now: Date) -> TimeInterval? {
        let (a, s) = Self.keys(address: address, secretID: secretID)
        return counters.withLock { c -> TimeInterval? in
            for (key, limit) in [(a, Self.perAddress), (s, Self.perSecretID)] {
                guard let counter = c[key] else { continue }
                let age = now.timeIntervalSince(counter.since)
                if age >= Self.window {
                    c[key] = nil
                } else if counter.failures >= limit {
                    return Self.window - age
                }
            }
            return nil
        }
    }

    func failed(address: String?, secretID: String, now: Date) {
        let (a, s) = Self.keys(address: address, secretID: secretID)
        counters.withLock { c in
            for key in [a, s] {
                if var counter = c[key], now.timeIntervalSince(counter.since) < Self.window {
                    counter.failures += 1
                    c[key] = counter
                } else {
                    c[key] = Counter(failures: 1, since: now)
                }
            }
            if c.count > capacity {
                // The expired first, then the stalest, until a tenth is free.
                c = c.filter { now.timeIntervalSince($0.value.since) < Self.window }
                if c.count > capacity * 9 / 10 {
                    for key in c.sorted(by: { $0.value.since < $1.value.since }).prefix(c.count - capacity * 9 / 10).map(\.key) {
                        c[key] = nil
                    }
                }
            }
        }
    }

    func succeeded(address: String?, secretID: String) {
        _ = counters.withLock { $0.removeValue(forKey: Self.keys(address: address, secretID: secretID).1) }
    }

    /// Counters kept now (for tests of the bound).
    var count: Int { counters.withLock { $0.count } }
}
