import Foundation
import IMCModel

/// A parsed `WWW-Authenticate` header: `Bearer realm="...",service="...",scope="..."` or
/// `Basic realm="..."`.
public struct AuthChallenge: Equatable, Sendable {
    public enum Scheme: String, Sendable {
        case bearer
        case basic
    }
    public var scheme: Scheme
    public var parameters: [String: String]

    /// Parses the header; nil when it names a scheme imc does not speak.
    public init?(header: String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            guard let s = Scheme(rawValue: trimmed.lowercased()) else { return nil }
            scheme = s
            parameters = [:]
            return
        }
        guard let s = Scheme(rawValue: trimmed[..<space].lowercased()) else { return nil }
        scheme = s
        parameters = Self.parseParameters(String(trimmed[trimmed.index(after: space)...]))
    }

    static func parseParameters(_ s: String) -> [String: String] {
        var result: [String: String] = [:]
        var chars = Substring(s)
        while !chars.isEmpty {
            chars = chars.drop { $0 == " " || $0 == "," }
            guard let eq = chars.firstIndex(of: "=") else { break }
            let key = chars[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            chars = chars[chars.index(after: eq)...]
            var value = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                var escaped = false
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if escaped {
                        value.append(c)
                        escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        break
                    } else {
                        value.append(c)
                    }
                }
            } else {
                let end = chars.firstIndex(of: ",") ?? chars.endIndex
                value = chars[..<end].trimmingCharacters(in: .whitespaces)
                chars = chars[end...]
            }
            result[key] = value
        }
        return result
    }
}

/// Decides whether imc may send a token request (with the user's credentials) to a bearer
/// `realm`. Refused: a realm that is not `https` unless the registry itself is listed as plain
/// HTTP, and a realm on a loopback, link-local or private address unless the user configured
/// that host (it is the registry's own host, or listed as plain HTTP or skip-verify).
public enum RealmPolicy {
    /// Checks `realm` for a challenge from `registryHost`. `addresses` are the realm host's
    /// resolved IP addresses in text form.
    public static func check(realm: URL, registryHost: String, config: RegistryConfig, addresses: [String]) throws(RegistryError) {
        guard let scheme = realm.scheme?.lowercased(), let host = realm.host?.lowercased() else {
            throw RegistryError(.refused, "registry \(registryHost) sent a token realm that is not a URL")
        }
        let registryIsPlain = config.isPlainHTTP(registryHost)
        guard scheme == "https" || (scheme == "http" && registryIsPlain) else {
            throw RegistryError(
                .refused,
                "registry \(registryHost) sent a token realm over \(scheme), not https; list the registry in RegistryHttpEndPointList to allow it"
            )
        }
        let realmHostPort = realm.port.map { "\(host):\($0)" } ?? host
        let registryHostname = hostname(of: registryHost)
        let configured =
            host == registryHostname || config.isPlainHTTP(realmHostPort) || config.isPlainHTTP(host)
            || config.skipsVerify(realmHostPort) || config.skipsVerify(host)
        if configured { return }
        if let bad = addresses.first(where: isInternal) {
            throw RegistryError(
                .refused, "registry \(registryHost) sent a token realm on \(host) (\(bad)), an internal address it was not configured with")
        }
    }

    /// The host part of `host:port` or `[v6]:port`.
    static func hostname(of hostPort: String) -> String {
        var s = Substring(hostPort.lowercased())
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            return String(s[s.index(after: s.startIndex)..<close])
        }
        if let colon = s.firstIndex(of: ":") { s = s[..<colon] }
        return String(s)
    }

    /// Loopback, link-local, private, unspecified or carrier-grade NAT addresses.
    public static func isInternal(_ address: String) -> Bool {
        let a = address.lowercased()
        if a.contains(":") {
            if a == "::1" || a == "::" { return true }
            if a.hasPrefix("fe8") || a.hasPrefix("fe9") || a.hasPrefix("fea") || a.hasPrefix("feb") { return true }
            if a.hasPrefix("fc") || a.hasPrefix("fd") { return true }
            if a.hasPrefix("::ffff:") { return isInternal(String(a.dropFirst(7))) }
            return false
        }
        let parts = a.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 4 else { return false }
        switch (parts[0], parts[1]) {
        case (127, _), (10, _), (0, _): return true
        case (169, 254), (192, 168): return true
        case (172, 16...31): return true
        case (100, 64...127): return true
        default: return false
        }
    }
}
