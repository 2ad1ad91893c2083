import Foundation
import Testing

@testable import IMCConsole

/// The sign-in brake: bounded in memory whatever is sent, per address and per address and
/// SecretId, so that a guesser is slowed and the SecretId's owner is not locked out.
struct ThrottleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aGuesserIsSlowedOnItsOwnAddressAndTheOwnerSignsInFromTheirs() {
        let throttle = Throttle()
        for _ in 0..<Throttle.perSecretID { throttle.failed(address: "203.0.113.9", secretID: "AKIDvictim", now: now) }
        #expect(throttle.blocked(address: "203.0.113.9", secretID: "AKIDvictim", now: now) != nil)
        #expect(throttle.blocked(address: "198.51.100.7", secretID: "AKIDvictim", now: now) == nil, "the owner is not locked out")
        #expect(throttle.blocked(address: "203.0.113.9", secretID: "AKIDvictim", now: now + Throttle.window) == nil, "and it ends")
    }

    @Test func anAddressThatGuessesManySecretIdsWaits() {
        let throttle = Throttle()
        for i in 0..<Throttle.perAddress { throttle.failed(address: "203.0.113.9", secretID: "AKID\(i)", now: now) }
        let wait = throttle.blocked(address: "203.0.113.9", secretID: "AKIDfresh", now: now + 10)
        #expect(wait == Throttle.window - 10)
        #expect(throttle.blocked(address: "203.0.113.10", secretID: "AKIDfresh", now: now) == nil)
    }

    @Test func memoryStaysBoundedUnderAFloodOfDistinctSecretIds() {
        let throttle = Throttle(capacity: 1000)
        for i in 0..<50_000 {
            throttle.failed(
                address: "10.0.\(i % 256).\(i / 256 % 256)", secretID: String(repeating: "x", count: 128) + "\(i)",
                now: now + Double(i) / 1000)
        }
        #expect(throttle.count <= 1000)
    }

    @Test func aSuccessClearsThatSecretIdsCounterOnly() {
        let throttle = Throttle()
        for _ in 0..<4 { throttle.failed(address: "a", secretID: "AKIDme", now: now) }
        throttle.succeeded(address: "a", secretID: "AKIDme")
        for _ in 0..<4 { throttle.failed(address: "a", secretID: "AKIDme", now: now) }
        #expect(throttle.blocked(address: "a", secretID: "AKIDme", now: now) == nil)
    }
}
