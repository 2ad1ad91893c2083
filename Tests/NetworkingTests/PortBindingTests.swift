import Foundation
import IMCOS
import IMCRuntime
import IMCTestSupport
import Testing

@testable import IMCNetworking

/// An instance's port bound to its addresses: the MAC derived from the address, the counters read
/// back from nftables, and what the readings become (metrics, warnings), as tables.
struct PortBindingTests {
    @Test(
        arguments: [
            ("10.240.0.5", "0a:58:0a:f0:00:05"), ("10.255.255.254", "0a:58:0a:ff:ff:fe"), ("not an address", "0a:58:00:00:00:00"),
        ])
    func anInstancesMACIsItsAddressAfterTheCNIPrefix(address: String, mac: String) {
        #expect(VPCNetworks.mac(for: address) == mac)
    }

    @Test func countersAreReadByInstanceAndReasonAndOnlyImcsCount() throws {
        let listing = """
            {"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
             {"counter": {"family": "bridge", "name": "drops-abcd1234-source-ip", "table": "imc", "handle": 5, "packets": 3, "bytes": 120}},
             {"counter": {"family": "bridge", "name": "drops-abcd1234-arp", "table": "imc", "handle": 6, "packets": 2, "bytes": 56}},
             {"counter": {"family": "ip", "name": "drops-abcd1234-connection-limit", "table": "imc", "handle": 7, "packets": 9, "bytes": 540}},
             {"counter": {"family": "bridge", "name": "drops-ffff0000-protocol", "table": "imc", "handle": 8, "packets": 1, "bytes": 40}},
             {"counter": {"family": "bridge", "name": "drops-ffff0000-unknown-reason", "table": "imc", "handle": 9, "packets": 7, "bytes": 40}},
             {"counter": {"family": "ip", "name": "drops-abcd1234-source-ip", "table": "someone-else", "handle": 2, "packets": 99, "bytes": 1}}]}
            """
        let drops = try #require(VPCNetworks.parseCounters(Array(listing.utf8)))
        #expect(drops == ["abcd1234": [.sourceIP: 3, .arp: 2, .connectionLimit: 9], "ffff0000": [.otherProtocol: 1]])
        #expect(VPCNetworks.parseCounters(Array("not json".utf8)) == nil)
    }

    @Test func theFirstSpoofedFrameWarnsThenAtMostOncePerQuietInterval() {
        var ledger = PortDropLedger(quiet: 600)
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        // Nothing dropped: nothing counted, nobody warned.
        var r = ledger.observe(["k1": [.sourceIP: 0]], at: t0)
        #expect(r.increments.isEmpty && r.warnings.isEmpty)
        // The first forged frames: counted and warned of.
        r = ledger.observe(["k1": [.sourceIP: 2, .arp: 1]], at: t0 + 2)
        #expect(r.increments == [.sourceIP: 2, .arp: 1])
        #expect(r.warnings == [.init(key: "k1", kind: .spoofing, counts: [.sourceIP: 2, .arp: 1])])
        // More within the quiet interval: counted, kept for the next warning.
        r = ledger.observe(["k1": [.sourceIP: 5, .arp: 1]], at: t0 + 60)
        #expect(r.increments == [.sourceIP: 3] && r.warnings.isEmpty)
        // After it: one warning with what came since the last one.
        r = ledger.observe(["k1": [.sourceIP: 6, .arp: 1]], at: t0 + 700)
        #expect(r.increments == [.sourceIP: 1])
        #expect(r.warnings == [.init(key: "k1", kind: .spoofing, counts: [.sourceIP: 4])])
        // Nothing new: nothing said, however long after.
        r = ledger.observe(["k1": [.sourceIP: 6, .arp: 1]], at: t0 + 5000)
        #expect(r.increments.isEmpty && r.warnings.isEmpty)
    }

    @Test func otherProtocolsAreCountedNeverWarnedAndTheCapWarnsOnItsOwn() {
        var ledger = PortDropLedger(quiet: 600)
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        var r = ledger.observe(["k1": [.otherProtocol: 4]], at: t0)
        #expect(r.increments == [.otherProtocol: 4] && r.warnings.isEmpty)
        r = ledger.observe(["k1": [.otherProtocol: 4, .connectionLimit: 100, .sourceMAC: 1]], at: t0 + 1)
        #expect(
            Set(r.warnings.map(\.kind)) == [.spoofing, .connectionLimit]
                && r.warnings.first { $0.kind == .connectionLimit }?.counts == [.connectionLimit: 100])
    }

    @Test func aCounterMadeAnewCountsWholeAndAGoneInstanceIsForgotten() {
        var ledger = PortDropLedger(quiet: 600)
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        _ = ledger.observe(["k1": [.sourceIP: 10]], at: t0)
        // Bound again (counters start over): the 3 are new.
        var r = ledger.observe(["k1": [.sourceIP: 3]], at: t0 + 1)
        #expect(r.increments == [.sourceIP: 3])
        // Gone, then back: a new instance with that key is warned at once.
        _ = ledger.observe([:], at: t0 + 2)
        r = ledger.observe(["k1": [.sourceIP: 1]], at: t0 + 3)
        #expect(r.increments == [.sourceIP: 1] && r.warnings.count == 1)
    }

    @Test func aWarningReadsAsASentence() {
        let spoofing = PortDropLedger.Warning(key: "k", kind: .spoofing, counts: [.sourceIP: 2, .arp: 1])
        #expect(
            PortDropLedger.message(spoofing, address: "10.240.0.5", connectionLimit: 64)
                == "Dropped 3 frames sent as another address: 2 with a source IPv4 address not the instance's (10.240.0.5), "
                + "1 ARP claiming another address. An instance sends only as itself.")
        let cap = PortDropLedger.Warning(key: "k", kind: .connectionLimit, counts: [.connectionLimit: 7])
        #expect(PortDropLedger.message(cap, address: nil, connectionLimit: 64).hasPrefix("Dropped 7 new connections: the instance has 64"))
    }

    /// The scripts against the real nftables: a binding made twice is one binding; a leftover of
    /// the address (another instance's, after a crash) gives way; unbinding leaves nothing, and
    /// unbinding what is half gone still removes the rest.
    @Test(.enabled(if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"), "needs root and nft"))
    func bindingsApplyAgainAndGoWhole() async throws {
        let networks = VPCNetworks(connectionLimit: 64)
        try #require(await VPCNetworks.nft(VPCNetworks.bindingTables) == 0)
        try #require(await VPCNetworks.nft(VPCNetworks.bindingTables) == 0, "the tables made again")
        let first = "eksci-" + String(UUID().uuidString.lowercased().prefix(8))
        let second = "eksci-" + String(UUID().uuidString.lowercased().prefix(8))
        let address = "10.255.254.\(Int.random(in: 2..<250))"
        func listed() async throws -> String {
            try await Command.run(["/usr/sbin/nft", "list", "ruleset"], captureOutput: true).output
        }
        try await networks.bind(instance: first, address: address)
        try await networks.bind(instance: first, address: address)
        var rules = try await listed()
        #expect(rules.components(separatedBy: "ether saddr != \(VPCNetworks.mac(for: address))").count == 2, "one rule, bound twice")
        #expect(rules.contains("ct count over 64"))
        let drops = try #require(await VPCNetworks.portDrops())
        #expect(drops[VPCNetworks.bindingKey(first)] == Dictionary(uniqueKeysWithValues: PortDrop.allCases.map { ($0, 0) }))
        // Another instance given the address while the first's binding is left over.
        try await networks.bind(instance: second, address: address)
        rules = try await listed()
        #expect(rules.contains("\(address) : jump instance-\(VPCNetworks.bindingKey(second))"))
        await networks.unbind(instance: second, address: address)
        // The first's element went with the second's binding: its chains and counters are left.
        await networks.unbind(instance: first, address: address)
        rules = try await listed()
        for key in [first, second].map(VPCNetworks.bindingKey) { #expect(!rules.contains(key), "nothing of \(key) is left") }
    }
}
