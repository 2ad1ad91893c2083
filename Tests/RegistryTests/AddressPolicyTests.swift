import Foundation
import IMCModel
import IMCRegistry
import IMCTestSupport
import NIOCore
import Testing

/// Which registry addresses the service may connect to: the rules on their own, then a real
/// registry on loopback reached (or not) through the client, its DNS answers and its redirects.
@Suite struct AddressPolicyTests {
    @Test(arguments: [
        ("127.0.0.1", AddressPolicy.Rule.loopback), ("127.8.9.10", .loopback), ("::1", .loopback), ("::ffff:127.0.0.1", .loopback),
        ("169.254.169.254", .linkLocal), ("fe80::1", .linkLocal), ("10.1.2.3", .privateNetwork), ("172.16.0.1", .privateNetwork),
        ("172.31.255.255", .privateNetwork), ("192.168.1.1", .privateNetwork), ("100.64.0.1", .privateNetwork),
        ("fd00::1", .privateNetwork), ("0.0.0.0", .unspecified), ("::", .unspecified), ("224.0.0.1", .multicast), ("ff02::1", .multicast),
    ])
    func internalAddressesAreRefusedByTheirRule(address: String, rule: AddressPolicy.Rule) throws {
        let ip = try #require(IPAddress(address))
        #expect(AddressPolicy().refusal(ip) == rule)
    }

    @Test(arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "192.169.0.1"])
    func publicAddressesAreAllowed(address: String) throws {
        #expect(AddressPolicy().refusal(try #require(IPAddress(address))) == nil)
    }

    @Test func theOperatorsNetworksAreAllowedAndTheHostsOwnAddressesAreNot() throws {
        let host = try #require(IPAddress("203.0.113.7"))
        var policy = AddressPolicy(allowed: [try #require(CIDR("10.20.0.0/16"))], hostAddresses: [host])
        #expect(policy.refusal(try #require(IPAddress("10.20.3.4"))) == nil)
        #expect(policy.refusal(try #require(IPAddress("10.21.3.4"))) == .privateNetwork)
        #expect(policy.refusal(host) == .hostAddress)
        policy.allowed.append(try #require(CIDR("203.0.113.7/32")))
        #expect(policy.refusal(host) == nil)
        #expect(CIDR("10.0.0.0/33") == nil && CIDR("nonsense") == nil && IPAddress("1.2.3") == nil && IPAddress("1.2.3.256") == nil)
    }

    static func client(_ registry: FaultRegistry, policy: AddressPolicy) -> RegistryClient {
        var options = RegistryClientOptions()
        options.addressPolicy = policy
        options.sleep = { _ in }
        return RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host, registry.otherHost]), options: options)
    }

    @Test func aRegistryOnLoopbackIsRefusedBeforeAnyConnectionNamingTheRule() async throws {
        let registry = try await FaultRegistry.start()
        let image = try FaultRegistryTests.image(size: 1000)
        registry.add(image, repository: "a/b", tag: "v1")
        for host in [registry.host, registry.otherHost] {
            let client = Self.client(registry, policy: .service(allowing: []))
            defer { Task { try await client.shutdown() } }
            await #expect {
                _ = try await client.fetchManifest(try ImageReference(parsing: "\(host)/a/b:v1"))
            } throws: { error in
                guard let e = error as? RegistryError else { return false }
                return e.code == .addressRefused && e.message.contains("\"loopback\"") && e.message.contains("RegistryAllowedNetworks")
            }
        }
        #expect(registry.requests.isEmpty, "nothing was sent to a refused address")
    }

    @Test func anAllowedNetworkIsReachedAndARedirectOutOfItIsRefused() async throws {
        let registry = try await FaultRegistry.start()
        let image = try FaultRegistryTests.image(size: 1000)
        registry.add(image, repository: "a/b", tag: "v1")
        let allowed = AddressPolicy.service(allowing: [try #require(CIDR("127.0.0.1/32"))])
        let client = Self.client(registry, policy: allowed)
        defer { Task { try await client.shutdown() } }
        let ref = try ImageReference(parsing: "\(registry.host)/a/b:v1")
        #expect(try await client.fetchManifest(ref).digest == image.manifestDescriptor.digest)
        // A redirect to another loopback address (127.0.0.2 is not in the allowed /32).
        registry.script(.redirect("http://127.0.0.2:\(registry.port)/redirected/{digest}"), on: .blob)
        await #expect {
            _ = try await FaultRegistryTests.fetchLayer(client, registry, image)
        } throws: { error in
            (error as? RegistryError)?.code == .addressRefused && "\(error)".contains("127.0.0.2")
        }
        #expect(!registry.requests.contains { $0.path.hasPrefix("/redirected/") })
    }
}
