import Foundation
import IMCCache
import IMCInstance

/// Values that carry registry credentials, whose passwords the store seals.
protocol CarriesCredentials {
    var credentials: [CacheCredential] { get set }
}

extension ImageCache: CarriesCredentials {}
extension Instance: CarriesCredentials {}

extension SecretBox {
    /// The value with its passwords sealed (or, with `open`, opened); unchanged without a box.
    /// A password that cannot be opened fails that value's credential alone: it is kept sealed
    /// (`unopenedPassword`) and written back so, never failing a listing or another row.
    static func sealing<T: CarriesCredentials>(_ value: T, with box: SecretBox?, open: Bool = false) throws -> T {
        guard let box, !value.credentials.isEmpty else { return value }
        var out = value
        out.credentials = try value.credentials.map {
            var c = $0
            if open {
                do { c.password = try box.open(c.password) } catch {
                    c.unopenedPassword = c.password
                    c.password = ""
                }
            } else if let sealed = c.unopenedPassword {
                c.password = sealed
            } else {
                c.password = try box.seal(c.password)
            }
            return c
        }
        return out
    }

    /// The value with only its passwords left in clear by an earlier version sealed (rows
    /// written before encryption at rest).
    func sealingClearPasswords<T: CarriesCredentials>(_ value: T) throws -> T {
        var out = value
        out.credentials = try value.credentials.map {
            var c = $0
            if !SecretBox.isSealed(c.password) { c.password = try seal(c.password) }
            return c
        }
        return out
    }
}
