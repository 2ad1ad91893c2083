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

/// Failed sign-ins by SecretId: after 5 within 5 minutes, that SecretId is refused for the rest
/// of those 5 minutes (a password-guessing brake; the API's signatures need no such thing, a
/// guess there costs a SecretKey).
final class Throttle: Sendable {
    private let failures = Mutex<[String: [Date]]>([:])
    static let window: TimeInterval = 300
    static let limit = 5

    func blocked(_ id: String, now: Date) -> TimeInterval? {
        failures.withLock { f in
            let recent = (f[id] ?? []).filter { now.timeIntervalSince($0) < Self.window }
            f[id] = recent
            guard recent.count >= Self.limit, let first = recent.first else { return nil }
            return Self.window - now.timeIntervalSince(first)
        }
    }

    func failed(_ id: String, now: Date) { failures.withLock { $0[id, default: []].append(now) } }
    func succeeded(_ id: String) { _ = failures.withLock { $0.removeValue(forKey: id) } }
}
