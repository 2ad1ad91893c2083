import Foundation
import IMCBilling
import IMCCaches
import IMCDocuments
import IMCDoors
import IMCInstance
import IMCInstances
import IMCRegistry
import IMCRuntime
import IMCServiceSupport

/// Everything `imc serve` takes from its config file (`--config`, YAML): regions, accounts and
/// limits. Every field is optional; the embedded defaults serve one region, `ap-guangzhou`.
///
/// ```yaml
/// regions: [ap-guangzhou, ap-shanghai]
/// accounts:
///   - {account: "100000000002", secretId: AKIDexample, secretKey: example-key,
///      defaultAnnotations: {eks.tke.cloud.tencent.com/image-cache-disk-retain-minute: "10"}}
/// defaultAnnotations:          # every account's instances, where the request does not say
///   eks.tke.cloud.tencent.com/use-image-cache: auto
/// limits: {minimumSize: 20, maximumSize: 2048}
/// quotas:                      # per account
///   {caches: 10000, instances: 1000, cacheDiskGiB: 20480, instanceDiskGiB: 20480,
///    retainedDiskGiB: 4096, nodeStoreGiB: 50, autoCreatedCaches: 10}
/// instances: {pidsLimit: 4096, logMaxBytes: 10485760, logFiles: 5, runtimeClass: runc}
/// builds: {perAccount: 1, deadlineMinutes: 60, stallSeconds: 30}
/// registries: {allowedNetworks: ["127.0.0.1/32", "10.0.0.0/8"]}   # refused by default
/// disks: {reserveGiB: 2}       # free space kept on the pool and the data root
/// tls: {certificate: /etc/imc/tls.crt, key: /etc/imc/tls.key}     # else generated at first start
/// networks:                    # which /24s of 10.240.0.0/12 this service gives VPCs, and the
///   {first: 0, count: 4096, connectionsPerInstance: 8192}  # connections an instance may have tracked
/// securityGroups:              # `default` (all egress, ingress from its own) always exists
///   sg-locked: {egress: false}                       # nothing out of its VPC
///   sg-web:
///     egress: [{to: 10.0.0.0/8, protocol: tcp, ports: "443,8000-8100"}]
///     ingress: [{from: vpc, protocol: tcp, ports: 80}, {from: sg-web}]  # absent: from its own
/// prices:                      # per hour; each entry changes the prices from its `from` on
///   - {currency: CNY, builder: "0.32", buildDisk: "0.0004", snapshot: "0.00017",
///      disk: {CLOUD_PREMIUM: "0.0004", CLOUD_SSD: "0.0011"}}
///   - {from: "2027-01-01T00:00:00Z", snapshot: "0.00015"}
/// ```
public struct ServiceConfiguration: Sendable {
    public var regions: Set<String> = ["ap-guangzhou"]
    public var keys: [APIKey] = []
    public var limits = CacheLimits()
    public var prices: [PriceList] = [.defaults]
    public var quotas = AccountQuotas()
    public var instances = InstanceLimits()
    public var builds = BuildPolicy()
    /// Registry networks allowed although the address rules refuse them.
    public var allowedNetworks: [CIDR] = []
    public var reserveGiB = 2
    /// The API's certificate and key (PEM files); nil: generated under the data root.
    public var tls: (certificate: String, key: String)?
    /// Annotations instances get when their request does not say otherwise.
    public var defaults = InstanceDefaults()
    /// VPC networks (which of 10.240.0.0/12's /24s this service gives out) and security groups.
    public var network = NetworkSettings()

    public init() {}

    /// Parses the YAML through the strict decoder (`ConfigurationFile`), then checks each value's
    /// range; every error names the file and the field.
    public static func parse(_ text: String, source: String) throws -> ServiceConfiguration {
        let document: JSONValue?
        do { document = try JSONValue.parseYAML(text) } catch { throw ConfigurationError("\(source): not valid YAML: \(error)") }
        guard let document, document != .null else { return ServiceConfiguration() }
        guard case .object = document else { throw ConfigurationError("\(source): expected a mapping at the top") }
        let file: ConfigurationFile
        do { file = try StrictDecoder().decode(ConfigurationFile.self, from: document) } catch {
            throw ConfigurationError("\(source): \(error.message)")
        }
        do { return try ServiceConfiguration(file) } catch { throw ConfigurationError("\(source): \(error.message)") }
    }
}
