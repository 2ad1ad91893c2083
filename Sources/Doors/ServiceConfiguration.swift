import Foundation
import IMCBilling
import IMCService
import Yams

/// Everything `imc serve` takes from its config file (`--config`, YAML): regions, accounts and
/// limits. Every field is optional; the embedded defaults serve one region, `ap-guangzhou`.
///
/// ```yaml
/// regions: [ap-guangzhou, ap-shanghai]
/// accounts:
///   - {account: "100000000002", secretId: AKIDexample, secretKey: example-key}
/// limits: {minimumSize: 20, maximumSize: 2048, maximumCachesPerAccount: 10000}
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
        let known: Set<String> = ["regions", "accounts", "limits", "prices"]
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
                case "maximumCachesPerAccount": config.limits.maximumCachesPerAccount = n
                default: throw ConfigurationError("\(source): unknown field limits.\(k)")
                }
            }
        }
        if let prices = root["prices"] {
            guard let list = prices as? [[String: Any]], !list.isEmpty else {
                throw ConfigurationError("\(source): prices must be a list of price mappings")
            }
            config.prices = try Self.prices(list, source: source)
        }
        return config
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
