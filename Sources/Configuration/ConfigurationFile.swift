import Foundation
import IMCBilling
import IMCDocuments
import IMCDoors
import IMCInstance
import IMCNetworking
import IMCRegistry
import IMCRuntime
import IMCServiceSupport

/// The config file's shape, read by the strict decoder: a field it does not have is refused by
/// its path, as is a value of the wrong type. Ranges and cross-field rules are checked after, by
/// `ServiceConfiguration.init(_:)`, naming the field too.
struct ConfigurationFile: Decodable {
    var regions: [String]?
    var accounts: [Account]?
    var defaultAnnotations: [String: TextOrNumber]?
    var limits: Limits?
    var quotas: [String: Int]?
    var instances: Instances?
    var builds: Builds?
    var registries: Registries?
    var disks: Disks?
    var tls: TLS?
    var networks: Networks?
    var securityGroups: [String: Group]?
    var prices: [Prices]?
    var eips: EIPs?

    struct Account: Decodable {
        var account: TextOrNumber?
        var secretId: String?
        var secretKey: String?
        var defaultAnnotations: [String: TextOrNumber]?
    }

    struct Limits: Decodable {
        var minimumSize: Int?
        var maximumSize: Int?
        var defaultSize: Int?
        var maximumImages: Int?
        var maximumRetentionDays: Int?
        /// The name before `quotas.caches`.
        var maximumCachesPerAccount: Int?
    }

    struct Instances: Decodable {
        var pidsLimit: Int?
        var logMaxBytes: Int?
        var logFiles: Int?
        var runtimeClass: String?
    }

    struct Builds: Decodable {
        var perAccount: Int?
        var deadlineMinutes: Int?
        var stallSeconds: Int?
    }

    struct Registries: Decodable { var allowedNetworks: [String]? }

    struct Disks: Decodable { var reserveGiB: Int? }

    struct TLS: Decodable {
        var certificate: String
        var key: String
    }

    struct Networks: Decodable {
        var first: Int?
        var count: Int?
        var connectionsPerInstance: Int?
    }

    /// A security group: `egress` true, false or a list of rules with `to`; `ingress` a list of
    /// rules with `from` (`vpc`, an IPv4 block or a group of the config).
    struct Group: Decodable {
        var egress: Egress?
        var ingress: [Rule]?
    }

    enum Egress: Decodable {
        case all(Bool)
        case rules([Rule])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if case .bool(let all) = try c.decode(JSONValue.self) { self = .all(all) } else { self = .rules(try c.decode([Rule].self)) }
        }
    }

    struct Rule: Decodable {
        var from: String?
        var to: String?
        var `protocol`: String?
        var ports: TextOrNumber?
    }

    /// Prices are decimal: written quoted ("0.0004") or as plain numbers.
    struct Prices: Decodable {
        var from: String?
        var currency: String?
        var builder: TextOrNumber?
        var buildDisk: TextOrNumber?
        var snapshot: TextOrNumber?
        var disk: [String: TextOrNumber]?
        var eip: TextOrNumber?
    }

    /// Elastic IPs: the operator's pool of addresses (routed to the hosts), and how many one
    /// account may hold.
    struct EIPs: Decodable {
        var pool: String
        var perAccount: Int?
    }
}

/// A value written either as text or as a number (`"10"` or `10`), kept as the text.
struct TextOrNumber: Decodable {
    var text: String

    init(from decoder: any Decoder) throws {
        switch try decoder.singleValueContainer().decode(JSONValue.self) {
        case .string(let s): text = s
        case .number(let n) where n == n.rounded() && abs(n) < 1e15: text = String(Int64(n))
        case .number(let n): text = "\(n)"
        case let other: throw decoder.problem(.wrongType(expected: "a string or a number"), value: other)
        }
    }
}

extension ServiceConfiguration {
    /// The configuration a decoded file describes, each value checked; a problem names the field.
    init(_ file: ConfigurationFile) throws(DecodingProblem) {
        self.init()
        if let regions = file.regions {
            guard !regions.isEmpty else { throw DecodingProblem(.invalid("must be a non-empty list of names"), at: "regions") }
            self.regions = Set(regions)
        }
        for (i, a) in (file.accounts ?? []).enumerated() {
            let at = FieldPath("accounts").index(i)
            guard let id = a.secretId, let key = a.secretKey, !id.isEmpty, !key.isEmpty else {
                throw DecodingProblem(.invalid("needs secretId and secretKey"), at: at)
            }
            let account = a.account?.text ?? "account-\(i + 2)"
            keys.append(APIKey(account: account, secretID: id, secretKey: key))
            if let own = a.defaultAnnotations {
                defaults.perAccount[account] = try Self.annotations(own, at.key("defaultAnnotations"))
            }
        }
        if let every = file.defaultAnnotations { defaults.everyAccount = try Self.annotations(every, "defaultAnnotations") }
        if let n = file.networks {
            network.networks = VPCNetworks(
                first: try Self.check(n.first, "networks.first", in: 0...4095) ?? 0,
                count: try Self.check(n.count, "networks.count", in: 1...4096) ?? 4096,
                connectionLimit: try Self.check(n.connectionsPerInstance, "networks.connectionsPerInstance", in: 16...(1 << 22))
                    ?? VPCNetworks.defaultConnectionLimit)
        }
        if let eips = file.eips {
            switch EIPPool.parse(eips.pool, perAccount: try Self.check(eips.perAccount, "eips.perAccount", in: 1...4096) ?? 16) {
            case .success(let pool): network.eips = pool
            case .failure(let e): throw DecodingProblem(.invalid(e.description), at: FieldPath("eips").key("pool"))
            }
        }
        if let groups = file.securityGroups {
            let ids = Set(groups.keys).union(["default"])
            for (id, group) in groups {
                network.securityGroups[id] = try Self.securityGroup(group, FieldPath("securityGroups").key(id), groups: ids)
            }
        }
        if let l = file.limits {
            if let n = l.minimumSize { limits.minimumSize = n }
            if let n = l.maximumSize { limits.maximumSize = n }
            if let n = l.defaultSize { limits.defaultSize = n }
            if let n = l.maximumImages { limits.maximumImages = n }
            if let n = l.maximumRetentionDays { limits.maximumRetentionDays = n }
            if let n = l.maximumCachesPerAccount { quotas.caches = n }
        }
        for (k, v) in (file.quotas ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let key = AccountQuotas.keys.first(where: { $0.0 == k })?.1 else {
                throw DecodingProblem(
                    .invalid("is not a quota; use \(AccountQuotas.keys.map(\.0).joined(separator: ", "))"), at: FieldPath("quotas").key(k))
            }
            quotas[keyPath: key] = try Self.check(v, FieldPath("quotas").key(k), in: 0...(1 << 40))!
        }
        if let i = file.instances {
            if let n = try Self.check(i.pidsLimit, "instances.pidsLimit", in: 16...(1 << 22)) { instances.pidsPerInstance = Int64(n) }
            if let n = try Self.check(i.logMaxBytes, "instances.logMaxBytes", in: 4096...(1 << 40)) { instances.logMaxBytes = Int64(n) }
            if let n = try Self.check(i.logFiles, "instances.logFiles", in: 1...100) { instances.logFiles = n }
            if let text = i.runtimeClass {
                guard let runtime = RuntimeClass(rawValue: text) else {
                    throw DecodingProblem(
                        .invalid("must be one of \(RuntimeClass.allCases.map(\.rawValue).joined(separator: ", ")), not \(text)"),
                        at: "instances.runtimeClass")
                }
                instances.defaultRuntimeClass = runtime
            }
        }
        if let b = file.builds {
            if let n = try Self.check(b.perAccount, "builds.perAccount", in: 1...64) { builds.perAccount = n }
            if let n = try Self.check(b.deadlineMinutes, "builds.deadlineMinutes", in: 1...10080) { builds.deadline = .seconds(60 * n) }
            if let n = try Self.check(b.stallSeconds, "builds.stallSeconds", in: 1...3600) { builds.stall = .seconds(n) }
        }
        for (i, text) in (file.registries?.allowedNetworks ?? []).enumerated() {
            guard let network = CIDR(text) else {
                throw DecodingProblem(
                    .invalid("has \(text), not a network like 10.0.0.0/8"), at: FieldPath("registries.allowedNetworks").index(i))
            }
            allowedNetworks.append(network)
        }
        if let n = try Self.check(file.disks?.reserveGiB, "disks.reserveGiB", in: 0...(1 << 20)) { reserveGiB = n }
        if let t = file.tls { tls = (t.certificate, t.key) }
        if let list = file.prices {
            guard !list.isEmpty else { throw DecodingProblem(.invalid("must be a list of price mappings"), at: "prices") }
            prices = try Self.prices(list)
        }
    }

    static func check(_ value: Int?, _ path: FieldPath, in range: ClosedRange<Int>) throws(DecodingProblem) -> Int? {
        guard let value else { return nil }
        guard range.contains(value) else {
            throw DecodingProblem(.invalid("must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value)"), at: path)
        }
        return value
    }

    /// A mapping of cache annotations to values, each checked.
    static func annotations(_ values: [String: TextOrNumber], _ path: FieldPath) throws(DecodingProblem) -> [String: String] {
        let out = values.mapValues(\.text)
        do { try CacheAnnotation.validate(out) } catch { throw DecodingProblem(.invalid("is not valid: \(error.message)"), at: path) }
        return out
    }

    static func securityGroup(_ group: ConfigurationFile.Group, _ path: FieldPath, groups: Set<String>) throws(DecodingProblem)
        -> SecurityGroup
    {
        var out = SecurityGroup()
        switch group.egress {
        case .all(let all): out.egress = all ? [.anywhere] : []
        case .rules(let rules): out.egress = try Self.rules(rules, path.key("egress"), ingress: false, groups: groups)
        case nil: break
        }
        if let ingress = group.ingress { out.ingress = try Self.rules(ingress, path.key("ingress"), ingress: true, groups: groups) }
        return out
    }

    static func rules(_ rules: [ConfigurationFile.Rule], _ path: FieldPath, ingress: Bool, groups: Set<String>) throws(DecodingProblem)
        -> [SecurityRule]
    {
        var out: [SecurityRule] = []
        for (i, rule) in rules.enumerated() {
            let at = path.index(i)
            let peerKey = ingress ? "from" : "to"
            if ingress ? rule.to != nil : rule.from != nil {
                throw DecodingProblem(.unknownField, at: at.key(ingress ? "to" : "from"))
            }
            guard let text = ingress ? rule.from : rule.to else { throw DecodingProblem(.invalid("must name `\(peerKey)`"), at: at) }
            let peer: SecurityRule.Peer
            switch SecurityRule.peer(text, groups: groups, ingress: ingress) {
            case .success(let p): peer = p
            case .failure(let e): throw DecodingProblem(.invalid("\(e)"), at: at.key(peerKey))
            }
            var proto = SecurityRule.Proto.all
            if let text = rule.protocol {
                guard let p = SecurityRule.Proto(rawValue: text.lowercased()) else {
                    throw DecodingProblem(.invalid("must be all, tcp, udp or icmp, not \(text)"), at: at.key("protocol"))
                }
                proto = p
            }
            var ports: String?
            if let text = rule.ports?.text {
                switch SecurityRule.ports(text, proto: proto) {
                case .success(let p): ports = p
                case .failure(let e): throw DecodingProblem(.invalid("\(e)"), at: at.key("ports"))
                }
            }
            out.append(SecurityRule(peer: peer, proto: proto, ports: ports))
        }
        return out
    }

    /// Price lists; each entry starts from the one before (the first from imc's defaults).
    static func prices(_ list: [ConfigurationFile.Prices]) throws(DecodingProblem) -> [PriceList] {
        var out: [PriceList] = []
        var previous = PriceList.defaults
        for (i, entry) in list.enumerated() {
            let at = FieldPath("prices").index(i)
            var p = previous
            p.from = nil
            func decimal(_ value: TextOrNumber?, _ path: FieldPath) throws(DecodingProblem) -> Decimal? {
                guard let text = value?.text else { return nil }
                guard let d = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), d >= 0,
                    text.allSatisfy({ $0.isNumber || $0 == "." })
                else { throw DecodingProblem(.invalid("must be a price like \"0.0004\", not \(text)"), at: path) }
                return d
            }
            if let text = entry.from {
                guard let date = try? Date(text, strategy: .iso8601) else {
                    throw DecodingProblem(.invalid("must be an ISO-8601 time like 2027-01-01T00:00:00Z, not \(text)"), at: at.key("from"))
                }
                p.from = date
            }
            if let c = entry.currency {
                guard !c.isEmpty else { throw DecodingProblem(.invalid("must be a currency code"), at: at.key("currency")) }
                p.currency = c
            }
            if let d = try decimal(entry.builder, at.key("builder")) { p.builder = d }
            if let d = try decimal(entry.buildDisk, at.key("buildDisk")) { p.buildDisk = d }
            if let d = try decimal(entry.snapshot, at.key("snapshot")) { p.snapshot = d }
            if let d = try decimal(entry.eip, at.key("eip")) { p.eip = d }
            for (type, price) in (entry.disk ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard PriceList.defaults.disk[type] != nil else {
                    throw DecodingProblem(
                        .invalid("is not a disk type; use \(PriceList.defaults.disk.keys.sorted().joined(separator: ", "))"),
                        at: at.key("disk").key(type))
                }
                p.disk[type] = try decimal(price, at.key("disk").key(type))
            }
            if i > 0 && p.from == nil { throw DecodingProblem(.invalid("is required for every entry after the first"), at: at.key("from")) }
            if let last = out.last, let f = p.from, f <= (last.from ?? .distantPast) {
                throw DecodingProblem(.invalid("must come after the entry before it"), at: at.key("from"))
            }
            out.append(p)
            previous = p
        }
        return out
    }
}
