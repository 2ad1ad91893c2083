import IMCNetworking
import Testing

@testable import IMCNetworking

/// An EIP's binding as rules: DNAT in, SNAT out, the outside let in only by rules for address
/// blocks, and the bandwidth cap.
struct EIPRulesTests {
    @Test func theOutsideReachesOnlyWhatRulesForAddressBlocksOpen() {
        let group = SecurityGroup(
            egress: true,
            ingress: [
                SecurityRule(peer: .cidr("0.0.0.0/0"), proto: .tcp, ports: "8080"), SecurityRule(peer: .vpc, proto: .tcp, ports: "9090"),
                SecurityRule(peer: .group("sg-db"), proto: .tcp, ports: "5432"),
                SecurityRule(peer: .cidr("203.0.113.0/24"), proto: .udp, ports: "53"),
            ])
        let rules = VPCNetworks.eipRules(
            instance: "eksci-abcdefgh", privateIP: "10.240.0.5", eip: "198.51.100.17", bandwidthMbps: 2, groups: [("sg-web", group)])
        let lines = rules.split(separator: "\n").map(String.init)
        #expect(lines.contains("-A IMC-EIP-PRE -d 198.51.100.17/32 -j DNAT --to-destination 10.240.0.5"))
        #expect(lines.contains("-A IMC-EIP-POST -s 10.240.0.5/32 ! -o imcb+ -j SNAT --to-source 198.51.100.17"))
        #expect(lines.contains("-A IMC-EIN-abcdefgh -p tcp -m multiport --dports 8080 -j ACCEPT"))
        #expect(lines.contains("-A IMC-EIN-abcdefgh -s 203.0.113.0/24 -p udp -m multiport --dports 53 -j ACCEPT"))
        #expect(!rules.contains("9090") && !rules.contains("5432"), "a VPC's or a group's rule opened the EIP: \(rules)")
        #expect(lines.last { $0.hasPrefix("-A IMC-EIN-abcdefgh") } == "-A IMC-EIN-abcdefgh -j DROP")
        #expect(lines.contains { $0.hasPrefix("-A IMC-EIP-OUT -s 10.240.0.5/32 -m hashlimit --hashlimit-above 250kb/s") })
        #expect(
            !VPCNetworks.eipRules(instance: "eksci-abcdefgh", privateIP: "10.240.0.5", eip: "198.51.100.17", bandwidthMbps: nil, groups: [])
                .contains("hashlimit"))
    }
}
