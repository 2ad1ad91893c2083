import Foundation
import IMCModel
import IMCRegistry
import Testing

struct RetryPolicyTests {
    let policy = RetryPolicy()
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func retriesThrottlingServerErrorsAndConnectionFaults() {
        for code in [429, 500, 502, 503, 504] {
            #expect(policy.decide(attempt: 1, outcome: .status(code, retryAfter: nil), random: 0, now: now) != .giveUp)
        }
        #expect(policy.decide(attempt: 1, outcome: .connectionFault, random: 0.5, now: now) != .giveUp)
    }

    @Test func otherClientErrorsAreFinal() {
        for code in [400, 401, 403, 404, 405, 416] {
            #expect(policy.decide(attempt: 1, outcome: .status(code, retryAfter: nil), random: 0, now: now) == .giveUp)
        }
    }

    @Test func attemptsAreBounded() {
        #expect(policy.decide(attempt: policy.maxAttempts, outcome: .connectionFault, random: 0, now: now) == .giveUp)
        #expect(policy.decide(attempt: policy.maxAttempts - 1, outcome: .connectionFault, random: 0, now: now) != .giveUp)
    }

    @Test func backoffGrowsWithJitterAndIsCapped() {
        func wait(_ attempt: Int, _ random: Double) -> Double {
            guard case .retry(let s) = policy.decide(attempt: attempt, outcome: .connectionFault, random: random, now: now) else {
                return -1
            }
            return s
        }
        #expect(wait(1, 0) == 0.125 && wait(1, 1) == 0.25)
        #expect(wait(2, 1) == 0.5 && wait(3, 1) == 1.0)
        var p = policy
        p.maxAttempts = 100
        guard case .retry(let late) = p.decide(attempt: 50, outcome: .connectionFault, random: 1, now: now) else { return }
        #expect(late == p.maxDelay)
    }

    @Test func honoursRetryAfterInBothFormsCapped() {
        #expect(policy.decide(attempt: 1, outcome: .status(429, retryAfter: "7"), random: 0, now: now) == .retry(afterSeconds: 7))
        #expect(
            policy.decide(attempt: 1, outcome: .status(503, retryAfter: "100000"), random: 0, now: now)
                == .retry(afterSeconds: policy.maxRetryAfter))
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        #expect(
            policy.decide(attempt: 1, outcome: .status(429, retryAfter: "Tue, 14 Nov 2023 22:13:30 GMT"), random: 0, now: now)
                == .retry(afterSeconds: 10))
        #expect(RetryPolicy.parseRetryAfter("soon", now: now) == nil)
    }
}

struct AuthPolicyTests {
    @Test func parsesChallenges() throws {
        let c = try #require(
            AuthChallenge(
                header: #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#))
        #expect(c.scheme == .bearer)
        #expect(c.parameters["realm"] == "https://auth.docker.io/token")
        #expect(c.parameters["scope"] == "repository:library/nginx:pull")
        #expect(AuthChallenge(header: #"Basic realm="x""#)?.scheme == .basic)
        #expect(AuthChallenge(header: "Negotiate abc") == nil)
        #expect(AuthChallenge(header: #"Bearer realm="a\"b",x=y"#)?.parameters == ["realm": "a\"b", "x": "y"])
    }

    let plain = RegistryConfig(plainHTTPHosts: ["127.0.0.1:5000"])

    @Test func realmMustBeHTTPSUnlessTheRegistryIsPlainHTTP() throws {
        #expect(throws: RegistryError.self) {
            try RealmPolicy.check(
                realm: URL(string: "http://auth.example.com/token")!, registryHost: "r.example.com", config: RegistryConfig(),
                addresses: ["93.184.216.34"])
        }
        try RealmPolicy.check(
            realm: URL(string: "https://auth.example.com/token")!, registryHost: "r.example.com", config: RegistryConfig(),
            addresses: ["93.184.216.34"])
        try RealmPolicy.check(
            realm: URL(string: "http://127.0.0.1:5000/token")!, registryHost: "127.0.0.1:5000", config: plain, addresses: ["127.0.0.1"])
    }

    @Test(arguments: [
        "127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "fd00::5", "100.64.0.1", "0.0.0.0",
        "::ffff:10.0.0.1",
    ])
    func realmOnAnInternalAddressIsRefusedUnlessConfigured(address: String) {
        #expect(RealmPolicy.isInternal(address))
        #expect(throws: RegistryError.self) {
            try RealmPolicy.check(
                realm: URL(string: "https://metadata.internal/token")!, registryHost: "r.example.com", config: RegistryConfig(),
                addresses: [address])
        }
    }

    @Test func publicAddressesAreNotInternal() {
        for a in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111"] { #expect(!RealmPolicy.isInternal(a)) }
    }

    @Test func redirectsNeverGoFromHTTPSToHTTPNorPastTheLimit() throws {
        let https = URL(string: "https://r.example.com/v2/a/blobs/x")!
        #expect(throws: RegistryError.self) {
            try RedirectPolicy.next(from: https, location: "http://cdn.example.com/x", count: 1, maxRedirects: 10, host: "r")
        }
        #expect(throws: RegistryError.self) {
            try RedirectPolicy.next(from: https, location: "https://cdn.example.com/x", count: 11, maxRedirects: 10, host: "r")
        }
        #expect(throws: RegistryError.self) {
            try RedirectPolicy.next(from: https, location: "file:///etc/passwd", count: 1, maxRedirects: 10, host: "r")
        }
        #expect(throws: RegistryError.self) { try RedirectPolicy.next(from: https, location: nil, count: 1, maxRedirects: 10, host: "r") }
        let relative = try RedirectPolicy.next(from: https, location: "/other?sig=SECRET", count: 1, maxRedirects: 10, host: "r")
        #expect(relative.absoluteString == "https://r.example.com/other?sig=SECRET")
        do {
            _ = try RedirectPolicy.next(
                from: https, location: "http://cdn.example.com/x?X-Amz-Signature=SECRET", count: 1, maxRedirects: 10, host: "r")
        } catch {
            #expect(!error.message.contains("SECRET"), "signed query strings are never in messages")
        }
    }
}
