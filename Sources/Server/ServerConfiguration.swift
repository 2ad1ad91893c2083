import Foundation
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
/// ```
public struct ServerConfiguration: Sendable {
    public var regions: Set<String> = ["ap-guangzhou"]
    public var keys: [APIKey] = []
    public var limits = CacheLimits()

    public init() {}

    /// Parses the YAML; errors name the field.
    public static func parse(_ text: String, source: String) throws -> ServerConfiguration {
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch { throw ServerError("\(source): not valid YAML: \(error)") }
        var config = ServerConfiguration()
        guard let root = node as? [String: Any] else {
            if node == nil { return config }
            throw ServerError("\(source): expected a mapping at the top")
        }
        let known: Set<String> = ["regions", "accounts", "limits"]
        if let unknown = root.keys.sorted().first(where: { !known.contains($0) }) {
            throw ServerError("\(source): unknown field \(unknown)")
        }
        if let regions = root["regions"] {
            guard let list = regions as? [String], !list.isEmpty else {
                throw ServerError("\(source): regions must be a non-empty list of names")
            }
            config.regions = Set(list)
        }
        if let accounts = root["accounts"] {
            guard let list = accounts as? [[String: Any]] else { throw ServerError("\(source): accounts must be a list of mappings") }
            for (i, a) in list.enumerated() {
                guard let id = a["secretId"] as? String, let key = a["secretKey"] as? String, !id.isEmpty, !key.isEmpty else {
                    throw ServerError("\(source): accounts[\(i)] needs secretId and secretKey")
                }
                let account = (a["account"] as? String) ?? (a["account"] as? Int).map(String.init) ?? "account-\(i + 2)"
                config.keys.append(APIKey(account: account, secretID: id, secretKey: key))
            }
        }
        if let limits = root["limits"] {
            guard let l = limits as? [String: Any] else { throw ServerError("\(source): limits must be a mapping") }
            for (k, v) in l {
                guard let n = v as? Int else { throw ServerError("\(source): limits.\(k) must be an integer") }
                switch k {
                case "minimumSize": config.limits.minimumSize = n
                case "maximumSize": config.limits.maximumSize = n
                case "defaultSize": config.limits.defaultSize = n
                case "maximumImages": config.limits.maximumImages = n
                case "maximumRetentionDays": config.limits.maximumRetentionDays = n
                case "maximumCachesPerAccount": config.limits.maximumCachesPerAccount = n
                default: throw ServerError("\(source): unknown field limits.\(k)")
                }
            }
        }
        return config
    }
}
