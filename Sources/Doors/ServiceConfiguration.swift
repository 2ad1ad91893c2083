import Foundation
import IMCBilling
import IMCInstance
import IMCRegistry
import IMCRuntime
import IMCService
import Yams

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

    /// Parses the YAML; errors name the field.
    public static func parse(_ text: String, source: String) throws -> ServiceConfiguration {
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch { throw ConfigurationError("\(source): not valid YAML: \(error)") }
        var config = ServiceConfiguration()
        guard let root = node as? [String: Any] else {
            if node == nil { return config }
            throw ConfigurationError("\(source): expected a mapping at the top")
        }
        let known: Set<String> = [
            "regions", "accounts", "limits", "prices", "quotas", "instances", "builds", "registries", "disks", "tls", "defaultAnnotations",
            "networks", "securityGroups",
        ]
        if let unknown = root.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError("\(source): unknown field \(unknown)")
        }
        if let regions = root["regions"] {
            guard let list = regions as? [String], !list.isEmpty else {
                throw ConfigurationError("\(source): regions must be a non-empty list of names")
            }
            config.regions = Set(list)
        }
        if let accounts = root["accounts"] {
            guard let list = accounts as? [[String: Any]] else {
                throw ConfigurationError("\(source): accounts must be a list of mappings")
            }
            for (i, a) in list.enumerated() {
                guard let id = a["secretId"] as? String, let key = a["secretKey"] as? String, !id.isEmpty, !key.isEmpty else {
                    throw ConfigurationError("\(source): accounts[\(i)] needs secretId and secretKey")
                }
                let account = (a["account"] as? String) ?? (a["account"] as? Int).map(String.init) ?? "account-\(i + 2)"
                config.keys.append(APIKey(account: account, secretID: id, secretKey: key))
                if let own = a["defaultAnnotations"] {
                    config.defaults.perAccount[account] = try annotations(own, "accounts[\(i)].defaultAnnotations", source)
                }
            }
        }
        if let every = root["defaultAnnotations"] {
            config.defaults.everyAccount = try annotations(every, "defaultAnnotations", source)
        }
        if let networks = root["networks"] {
            var first = 0
            var count = 4096
            var connections = VPCNetworks.defaultConnectionLimit
            for (k, v) in try mapping(networks, "networks", source) {
                switch k {
                case "first": first = try integer(v, "networks.first", source, in: 0...4095)
                case "count": count = try integer(v, "networks.count", source, in: 1...4096)
                case "connectionsPerInstance":
                    connections = try integer(v, "networks.connectionsPerInstance", source, in: 16...(1 << 22))
                default: throw ConfigurationError("\(source): unknown field networks.\(k)")
                }
            }
            config.network.networks = VPCNetworks(first: first, count: count, connectionLimit: connections)
        }
        if let groups = root["securityGroups"] {
            let entries = try mapping(groups, "securityGroups", source)
            let ids = Set(entries.map(\.key)).union(["default"])
            for (id, rules) in entries {
                config.network.securityGroups[id] = try securityGroup(rules, "securityGroups.\(id)", source, groups: ids)
            }
        }
        if let limits = root["limits"] {
            guard let l = limits as? [String: Any] else { throw ConfigurationError("\(source): limits must be a mapping") }
            for (k, v) in l {
                guard let n = v as? Int else { throw ConfigurationError("\(source): limits.\(k) must be an integer") }
                switch k {
                case "minimumSize": config.limits.minimumSize = n
                case "maximumSize": config.limits.maximumSize = n
                case "defaultSize": config.limits.defaultSize = n
                case "maximumImages": config.limits.maximumImages = n
                case "maximumRetentionDays": config.limits.maximumRetentionDays = n
                case "maximumCachesPerAccount": config.quotas.caches = n  // the name before quotas.caches
                default: throw ConfigurationError("\(source): unknown field limits.\(k)")
                }
            }
        }
        if let quotas = root["quotas"] {
            for (k, v) in try mapping(quotas, "quotas", source) {
                guard let key = AccountQuotas.keys.first(where: { $0.0 == k })?.1 else {
                    throw ConfigurationError(
                        "\(source): unknown field quotas.\(k); use \(AccountQuotas.keys.map(\.0).joined(separator: ", "))")
                }
                config.quotas[keyPath: key] = try integer(v, "quotas.\(k)", source, in: 0...(1 << 40))
            }
        }
        if let instances = root["instances"] {
            for (k, v) in try mapping(instances, "instances", source) {
                switch k {
                case "pidsLimit": config.instances.pidsPerInstance = Int64(try integer(v, "instances.pidsLimit", source, in: 16...1 << 22))
                case "logMaxBytes":
                    config.instances.logMaxBytes = Int64(try integer(v, "instances.logMaxBytes", source, in: 4096...(1 << 40)))
                case "logFiles": config.instances.logFiles = try integer(v, "instances.logFiles", source, in: 1...100)
                case "runtimeClass":
                    guard let text = v as? String, let runtime = RuntimeClass(rawValue: text) else {
                        throw ConfigurationError(
                            "\(source): instances.runtimeClass must be one of \(RuntimeClass.allCases.map(\.rawValue).joined(separator: ", ")), not \(v)"
                        )
                    }
                    config.instances.defaultRuntimeClass = runtime
                default: throw ConfigurationError("\(source): unknown field instances.\(k)")
                }
            }
        }
        if let builds = root["builds"] {
            for (k, v) in try mapping(builds, "builds", source) {
                switch k {
                case "perAccount": config.builds.perAccount = try integer(v, "builds.perAccount", source, in: 1...64)
                case "deadlineMinutes":
                    config.builds.deadline = .seconds(60 * (try integer(v, "builds.deadlineMinutes", source, in: 1...10080)))
                case "stallSeconds": config.builds.stall = .seconds(try integer(v, "builds.stallSeconds", source, in: 1...3600))
                default: throw ConfigurationError("\(source): unknown field builds.\(k)")
                }
            }
        }
        if let registries = root["registries"] {
            for (k, v) in try mapping(registries, "registries", source) {
                guard k == "allowedNetworks" else { throw ConfigurationError("\(source): unknown field registries.\(k)") }
                guard let list = v as? [String] else {
                    throw ConfigurationError("\(source): registries.allowedNetworks must be a list of networks like 10.0.0.0/8")
                }
                config.allowedNetworks = try list.map { text in
                    guard let network = CIDR(text) else {
                        throw ConfigurationError("\(source): registries.allowedNetworks has \(text), not a network like 10.0.0.0/8")
                    }
                    return network
                }
            }
        }
        if let disks = root["disks"] {
            for (k, v) in try mapping(disks, "disks", source) {
                guard k == "reserveGiB" else { throw ConfigurationError("\(source): unknown field disks.\(k)") }
                config.reserveGiB = try integer(v, "disks.reserveGiB", source, in: 0...(1 << 20))
            }
        }
        if let tls = root["tls"] {
            let m = try mapping(tls, "tls", source)
            if let unknown = m.keys.sorted().first(where: { !["certificate", "key"].contains($0) }) {
                throw ConfigurationError("\(source): unknown field tls.\(unknown)")
            }
            guard let certificate = m["certificate"] as? String, let key = m["key"] as? String else {
                throw ConfigurationError("\(source): tls needs certificate and key (paths of PEM files)")
            }
            config.tls = (certificate, key)
        }
        if let prices = root["prices"] {
            guard let list = prices as? [[String: Any]], !list.isEmpty else {
                throw ConfigurationError("\(source): prices must be a list of price mappings")
            }
            config.prices = try Self.prices(list, source: source)
        }
        return config
    }

    static func mapping(_ value: Any, _ field: String, _ source: String) throws -> [String: Any] {
        guard let m = value as? [String: Any] else { throw ConfigurationError("\(source): \(field) must be a mapping") }
        return m
    }

    /// A security group: `egress` (true, false, or a list of rules with `to`), `ingress` (a list
    /// of rules with `from`: `vpc`, an IPv4 block or a group of `groups`); each rule may name a
    /// `protocol` (all, tcp, udp, icmp) and `ports`.
    static func securityGroup(_ value: Any, _ field: String, _ source: String, groups: Set<String>) throws -> SecurityGroup {
        var group = SecurityGroup()
        func rules(_ value: Any, _ field: String, ingress: Bool) throws -> [SecurityRule] {
            guard let list = value as? [Any] else { throw ConfigurationError("\(source): \(field) must be a list of rules") }
            return try list.enumerated().map { i, item in
                let path = "\(field)[\(i)]"
                let peerKey = ingress ? "from" : "to"
                var peer: SecurityRule.Peer?
                var proto = SecurityRule.Proto.all
                var ports: String?
                for (k, v) in try mapping(item, path, source) {
                    switch k {
                    case peerKey:
                        guard let text = v as? String else { throw ConfigurationError("\(source): \(path).\(k) must be a string") }
                        switch SecurityRule.peer(text, groups: groups, ingress: ingress) {
                        case .success(let p): peer = p
                        case .failure(let e): throw ConfigurationError("\(source): \(path).\(k) \(e)")
                        }
                    case "protocol":
                        guard let text = v as? String, let p = SecurityRule.Proto(rawValue: text.lowercased()) else {
                            throw ConfigurationError("\(source): \(path).protocol must be all, tcp, udp or icmp, not \(v)")
                        }
                        proto = p
                    case "ports":
                        guard let text = (v as? String) ?? (v as? Int).map(String.init) else {
                            throw ConfigurationError("\(source): \(path).ports must be a string (\"80,443\", \"8000-8100\"), not \(v)")
                        }
                        ports = text
                    default: throw ConfigurationError("\(source): unknown field \(path).\(k)")
                    }
                }
                guard let peer else { throw ConfigurationError("\(source): \(path) must name `\(peerKey)`") }
                if let text = ports {
                    switch SecurityRule.ports(text, proto: proto) {
                    case .success(let p): ports = p
                    case .failure(let e): throw ConfigurationError("\(source): \(path).ports \(e)")
                    }
                }
                return SecurityRule(peer: peer, proto: proto, ports: ports)
            }
        }
        for (k, v) in try mapping(value, field, source) {
            switch k {
            case "egress":
                if let all = v as? Bool {
                    group.egress = all ? [.anywhere] : []
                } else {
                    group.egress = try rules(v, "\(field).egress", ingress: false)
                }
            case "ingress": group.ingress = try rules(v, "\(field).ingress", ingress: true)
            default: throw ConfigurationError("\(source): unknown field \(field).\(k); a group has egress and ingress")
            }
        }
        return group
    }

    /// A mapping of cache annotations to values (numbers written plain or quoted), each checked.
    static func annotations(_ value: Any, _ field: String, _ source: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in try mapping(value, field, source) {
            guard let text = (v as? String) ?? (v as? Int).map(String.init) else {
                throw ConfigurationError("\(source): \(field).\(k) must be a string, not \(v)")
            }
            out[k] = text
        }
        do { try CacheAnnotation.validate(out) } catch { throw ConfigurationError("\(source): \(field): \(error.message)") }
        return out
    }

    static func integer(_ value: Any, _ field: String, _ source: String, in range: ClosedRange<Int>) throws -> Int {
        guard let n = value as? Int, range.contains(n) else {
            throw ConfigurationError("\(source): \(field) must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
        return n
    }

    /// Price lists; each entry starts from the one before (the first from imc's defaults).
    /// Prices are decimal: write them quoted ("0.0004") or as plain numbers.
    static func prices(_ list: [[String: Any]], source: String) throws -> [PriceList] {
        var out: [PriceList] = []
        var previous = PriceList.defaults
        for (i, entry) in list.enumerated() {
            let at = "\(source): prices[\(i)]"
            var p = previous
            p.from = nil
            func decimal(_ value: Any, _ field: String) throws -> Decimal {
                let text = (value as? String) ?? (value as? Int).map(String.init) ?? (value as? Double).map { "\($0)" } ?? ""
                guard let d = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), d >= 0,
                    text.allSatisfy({ $0.isNumber || $0 == "." })
                else { throw ConfigurationError("\(at).\(field) must be a price like \"0.0004\", not \(value)") }
                return d
            }
            for (k, v) in entry {
                switch k {
                case "from":
                    guard let text = v as? String, let date = try? Date(text, strategy: .iso8601) else {
                        throw ConfigurationError("\(at).from must be an ISO-8601 time like 2027-01-01T00:00:00Z, not \(v)")
                    }
                    p.from = date
                case "currency":
                    guard let c = v as? String, !c.isEmpty else { throw ConfigurationError("\(at).currency must be a currency code") }
                    p.currency = c
                case "builder": p.builder = try decimal(v, k)
                case "buildDisk": p.buildDisk = try decimal(v, k)
                case "snapshot": p.snapshot = try decimal(v, k)
                case "disk":
                    guard let types = v as? [String: Any] else { throw ConfigurationError("\(at).disk must map disk types to prices") }
                    for (type, price) in types {
                        guard PriceList.defaults.disk[type] != nil else {
                            throw ConfigurationError(
                                "\(at).disk.\(type) is not a disk type; use \(PriceList.defaults.disk.keys.sorted().joined(separator: ", "))"
                            )
                        }
                        p.disk[type] = try decimal(price, "disk.\(type)")
                    }
                default: throw ConfigurationError("\(at): unknown field \(k)")
                }
            }
            if i > 0 && p.from == nil { throw ConfigurationError("\(at).from is required for every entry after the first") }
            if let last = out.last, let f = p.from, f <= (last.from ?? .distantPast) {
                throw ConfigurationError("\(at).from must come after the entry before it")
            }
            out.append(p)
            previous = p
        }
        return out
    }
}
