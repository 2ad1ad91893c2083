import Foundation
import IMCConfiguration
import IMCDoors
import IMCNetworking
import IMCRuntime
import Testing

/// The service's config: every section read, every bad value refused naming the field.
struct ConfigurationTests {
    @Test func everySectionIsRead() throws {
        let c = try ServiceConfiguration.parse(
            """
            quotas: {caches: 5, instances: 6, cacheDiskGiB: 100, instanceDiskGiB: 200, retainedDiskGiB: 50, nodeStoreGiB: 10}
            instances: {pidsLimit: 512, logMaxBytes: 65536, logFiles: 2, runtimeClass: gvisor}
            builds: {perAccount: 2, deadlineMinutes: 30, stallSeconds: 15}
            registries: {allowedNetworks: ["10.0.0.0/8", "127.0.0.1/32"]}
            disks: {reserveGiB: 4}
            tls: {certificate: /etc/imc/tls.crt, key: /etc/imc/tls.key}
            defaultAnnotations: {eks.tke.cloud.tencent.com/use-image-cache: auto}
            networks: {first: 16, count: 32, connectionsPerInstance: 2048}
            securityGroups:
              sg-locked: {egress: false}
              sg-web:
                egress: [{to: 10.1.2.3/8, protocol: TCP, ports: "443,8000-8100"}]
                ingress: [{from: vpc, protocol: tcp, ports: 80}, {from: sg-locked}, {from: 192.168.0.0/16, protocol: icmp}]
            accounts:
              - {account: "100000000002", secretId: AKIDx, secretKey: k,
                 defaultAnnotations: {eks.tke.cloud.tencent.com/use-image-cache: "off", eks.tke.cloud.tencent.com/image-cache-disk-size: 40}}
            """, source: "c.yaml")
        #expect(c.quotas.caches == 5 && c.quotas.instances == 6 && c.quotas.cacheDiskGiB == 100 && c.quotas.nodeStoreGiB == 10)
        #expect(c.instances.pidsPerInstance == 512 && c.instances.logMaxBytes == 65536 && c.instances.logFiles == 2)
        #expect(c.instances.defaultRuntimeClass.rawValue == "gvisor")
        #expect(c.builds.perAccount == 2 && c.builds.deadline == .seconds(1800) && c.builds.stall == .seconds(15))
        #expect(c.allowedNetworks.map(\.description) == ["10.0.0.0/8", "127.0.0.1/32"])
        #expect(c.reserveGiB == 4 && c.tls?.certificate == "/etc/imc/tls.crt")
        #expect(c.defaults.annotations(for: "100000000001") == ["eks.tke.cloud.tencent.com/use-image-cache": "auto"])
        #expect(
            c.defaults.annotations(for: "100000000002") == [
                "eks.tke.cloud.tencent.com/use-image-cache": "off", "eks.tke.cloud.tencent.com/image-cache-disk-size": "40",
            ], "an account's own win")
        #expect(c.network.networks.first == 16 && c.network.networks.count == 32 && c.network.networks.connectionLimit == 2048)
        let locked = try #require(c.network.securityGroups["sg-locked"])
        #expect(locked.egress.isEmpty && locked.ingressRules(id: "sg-locked") == [SecurityRule(peer: .group("sg-locked"))])
        let web = try #require(c.network.securityGroups["sg-web"])
        #expect(
            web.egress == [SecurityRule(peer: .cidr("10.0.0.0/8"), proto: .tcp, ports: "443,8000-8100")], "the block's host bits cleared")
        #expect(
            web.ingress == [
                SecurityRule(peer: .vpc, proto: .tcp, ports: "80"), SecurityRule(peer: .group("sg-locked")),
                SecurityRule(peer: .cidr("192.168.0.0/16"), proto: .icmp),
            ])
        #expect(c.network.securityGroups["default"] == SecurityGroup(), "default always exists: all egress, ingress from its own")
        // The name the count of caches had before quotas.
        #expect(try ServiceConfiguration.parse("limits: {maximumCachesPerAccount: 7}", source: "c.yaml").quotas.caches == 7)
    }

    @Test(arguments: [
        ("quotas: {cachez: 1}", "quotas.cachez"),
        ("quotas: {caches: -1}", "quotas.caches"),
        ("instances: {runtimeClass: kata}", "instances.runtimeClass"),
        ("instances: {pidsLimit: 1}", "instances.pidsLimit"),
        ("networks: {connectionsPerInstance: 0}", "networks.connectionsPerInstance"),
        ("builds: {deadlineMinutes: 0}", "builds.deadlineMinutes"),
        ("registries: {allowedNetworks: [not-a-network]}", "not-a-network"),
        ("tls: {certificate: /x}", "tls"),
        ("walls: {}", "walls"),
        ("defaultAnnotations: {eks.tke.cloud.tencent.com/use-image-cache: sometimes}", "sometimes"),
        ("defaultAnnotations: {example.com/other: x}", "example.com/other"),
        ("defaultAnnotations: {eks.tke.cloud.tencent.com/image-cache-disk-size: -3}", "image-cache-disk-size"),
        ("securityGroups: {sg-a: {ingres: []}}", "securityGroups.sg-a.ingres"),
        ("securityGroups: {sg-a: {ingress: [{from: sg-nowhere}]}}", "securityGroups.sg-a.ingress[0].from sg-nowhere"),
        ("securityGroups: {sg-a: {egress: [{to: vpc}]}}", "securityGroups.sg-a.egress[0].to vpc"),
        ("securityGroups: {sg-a: {egress: [{to: 10.0.0.0/33}]}}", "10.0.0.0/33"),
        ("securityGroups: {sg-a: {ingress: [{from: vpc, ports: 80}]}}", "ingress[0].ports need protocol tcp or udp"),
        ("securityGroups: {sg-a: {ingress: [{from: vpc, protocol: tcp, ports: 70000}]}}", "ingress[0].ports 70000"),
        ("securityGroups: {sg-a: {ingress: [{from: vpc, protocol: tcp, ports: 90-80}]}}", "90-80"),
        ("securityGroups: {sg-a: {ingress: [{from: vpc, protocol: sctp}]}}", "ingress[0].protocol"),
        ("securityGroups: {sg-a: {ingress: [{protocol: tcp}]}}", "ingress[0] must name `from`"),
        ("securityGroups: {sg-a: {ingress: [{from: vpc, to: 10.0.0.0/8}]}}", "securityGroups.sg-a.ingress[0].to is not a field"),
        ("securityGroups: {sg-a: {egress: yes-please}}", "securityGroups.sg-a.egress must be a list"),
        ("limits: {minimumSize: big}", "limits.minimumSize must be an integer, not \"big\""),
        ("limits: {minimumSize: 20.5}", "limits.minimumSize must be an integer"),
        ("accounts: [{secretId: a, secretKey: b, colour: red}]", "accounts[0].colour is not a field"),
        ("accounts: [{secretId: a}]", "accounts[0] needs secretId and secretKey"),
        ("prices: [{builder: cheap}]", "prices[0].builder must be a price"),
        ("prices: [{disk: {CLOUD_TAPE: 1}}]", "prices[0].disk.CLOUD_TAPE is not a disk type"),
        ("regions: ap-guangzhou", "regions must be a list of strings"),
        ("[1, 2]", "expected a mapping at the top"),
    ])
    func aBadValueIsRefusedNamingTheField(text: String, named: String) {
        #expect {
            _ = try ServiceConfiguration.parse(text, source: "c.yaml")
        } throws: { error in
            "\(error)".contains(named)
        }
    }
}
