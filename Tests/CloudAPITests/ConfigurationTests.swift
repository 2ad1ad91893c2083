import Foundation
import IMCDoors
import IMCService
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
        // The name the count of caches had before quotas.
        #expect(try ServiceConfiguration.parse("limits: {maximumCachesPerAccount: 7}", source: "c.yaml").quotas.caches == 7)
    }

    @Test(arguments: [
        ("quotas: {cachez: 1}", "quotas.cachez"),
        ("quotas: {caches: -1}", "quotas.caches"),
        ("instances: {runtimeClass: kata}", "instances.runtimeClass"),
        ("instances: {pidsLimit: 1}", "instances.pidsLimit"),
        ("builds: {deadlineMinutes: 0}", "builds.deadlineMinutes"),
        ("registries: {allowedNetworks: [not-a-network]}", "not-a-network"),
        ("tls: {certificate: /x}", "tls"),
        ("walls: {}", "walls"),
        ("defaultAnnotations: {eks.tke.cloud.tencent.com/use-image-cache: sometimes}", "sometimes"),
        ("defaultAnnotations: {example.com/other: x}", "example.com/other"),
        ("defaultAnnotations: {eks.tke.cloud.tencent.com/image-cache-disk-size: -3}", "image-cache-disk-size"),
    ])
    func aBadValueIsRefusedNamingTheField(text: String, named: String) {
        #expect {
            _ = try ServiceConfiguration.parse(text, source: "c.yaml")
        } throws: { error in
            "\(error)".contains(named)
        }
    }
}
