import Foundation

/// When to try a request again: on 429, 5xx and connection faults, with jittered exponential
/// backoff, honouring `Retry-After` (seconds or an HTTP date) up to a cap, for a bounded number
/// of attempts. Other 4xx answers are final. A pure value: the client does the waiting.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int = 5
    /// The first backoff; each later one doubles.
    public var baseDelay: Double = 0.25
    /// No single wait is longer than this.
    public var maxDelay: Double = 20
    /// A `Retry-After` longer than this is cut to it.
    public var maxRetryAfter: Double = 60

    public init() {}

    /// What went wrong with one attempt.
    public enum Outcome: Sendable {
        case status(Int, retryAfter: String?)
        case connectionFault
    }

    /// What to do next.
    public enum Decision: Equatable, Sendable {
        case retry(afterSeconds: Double)
        case giveUp
    }

    /// Decides after attempt number `attempt` (1-based) ended with `outcome`. `random` gives a
    /// number in 0..<1 for jitter; `now` parses HTTP-date `Retry-After` values.
    public func decide(attempt: Int, outcome: Outcome, random: Double, now: Date) -> Decision {
        guard attempt < maxAttempts else { return .giveUp }
        let backoff = min(maxDelay, baseDelay * pow(2, Double(attempt - 1))) * (0.5 + random / 2)
        switch outcome {
        case .connectionFault:
            return .retry(afterSeconds: backoff)
        case .status(let code, let retryAfter):
            guard code == 429 || (500...599).contains(code) else { return .giveUp }
            if code == 501 || code == 505 { return .giveUp }
            if let retryAfter, let wait = Self.parseRetryAfter(retryAfter, now: now) {
                return .retry(afterSeconds: min(maxRetryAfter, max(0, wait)))
            }
            return .retry(afterSeconds: backoff)
        }
    }

    /// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, as seconds from `now`.
    public static func parseRetryAfter(_ value: String, now: Date) -> Double? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(v), seconds.isFinite, seconds >= 0 { return seconds }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: v) else { return nil }
        return date.timeIntervalSince(now)
    }
}
