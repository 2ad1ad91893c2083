import Foundation

/// Which addresses a registry (or a token realm, or a redirect) may be reached at: the public
/// internet, unless the operator allows more. Checked on the address a connection actually goes
/// to (every DNS answer, every redirect), so that a tenant cannot point the builder at the
/// host's own services or at the network behind it.
public struct AddressPolicy: Sendable, Equatable {
    /// Why an address is refused, named in the event a person reads.
    public enum Rule: String, Sendable, CaseIterable {
        case loopback
        case linkLocal = "link-local"
        case privateNetwork = "private"
        case hostAddress = "host-address"
        case unspecified
        case multicast
    }

    /// Networks the operator allows although a rule would refuse them (`127.0.0.1/32`,
    /// `10.0.0.0/8`, `::1/128`).
    public var allowed: [CIDR]
    /// The host's own addresses (its interfaces'): refused like loopback.
    public var hostAddresses: Set<IPAddress>

    public init(allowed: [CIDR] = [], hostAddresses: Set<IPAddress> = []) {
        self.allowed = allowed
        self.hostAddresses = hostAddresses
    }

    /// Every address is allowed (tests of other things, `imc pull` on the command line).
    public static let open = AddressPolicy(allowed: [CIDR("0.0.0.0/0")!, CIDR("::/0")!])

    /// The rule that refuses `address`, or nil when it may be reached.
    public func refusal(_ address: IPAddress) -> Rule? {
        if allowed.contains(where: { $0.contains(address) }) { return nil }
        if let rule = address.rule { return rule }
        return hostAddresses.contains(address) ? .hostAddress : nil
    }
}

/// An IPv4 or IPv6 address, as 4 or 16 bytes.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
        if let v4 = Self.parseIPv4(text) {
            bytes = v4
        } else if let v6 = Self.parseIPv6(text) {
            // An IPv4-mapped IPv6 address is the IPv4 address it maps.
            bytes = v6[0..<10].allSatisfy { $0 == 0 } && v6[10] == 0xff && v6[11] == 0xff ? Array(v6[12...]) : v6
        } else {
            return nil
        }
    }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }

    /// The rule that refuses this address by its kind, or nil for a public address.
    var rule: AddressPolicy.Rule? {
        if isIPv4 {
            let (a, b) = (bytes[0], bytes[1])
            if a == 127 { return .loopback }
            if a == 0 { return .unspecified }
            if a == 169 && b == 254 { return .linkLocal }
            if a == 10 || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168) || (a == 100 && (64...127).contains(b)) {
                return .privateNetwork
            }
            if a >= 224 { return .multicast }
            return nil
        }
        if bytes.allSatisfy({ $0 == 0 }) { return .unspecified }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return .loopback }
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return .linkLocal }
        if bytes[0] & 0xfe == 0xfc { return .privateNetwork }
        if bytes[0] == 0xff { return .multicast }
        return nil
    }

    static func parseIPv4(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let n = UInt8(p) else { return nil }
            out.append(n)
        }
        return out
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        guard s.contains(":") else { return nil }
        var text = Substring(s)
        var tail: [UInt8] = []
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseIPv4(String(text[text.index(after: lastColon)...])) else { return nil }
            tail = v4
            text = text[..<lastColon] + ":0:0"
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let n = UInt16(g, radix: 16) else { return nil }
                out.append(n)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let back = groups(halves[1]), head.count + back.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - back.count) + back
        }
        guard all.count == 8 else { return nil }
        var bytes = all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
        if !tail.isEmpty { bytes.replaceSubrange(12..<16, with: tail) }
        return bytes
    }
}

/// A network, `ADDRESS/PREFIX`.
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    public let address: IPAddress
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let bits = address.isIPv4 ? 32 : 128
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...bits).contains(p) else { return nil }
            prefix = p
        } else {
            prefix = bits
        }
        self.address = address
    }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.bytes.count == address.bytes.count else { return false }
        var remaining = prefix
        for i in 0..<address.bytes.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xff : ~(0xff >> UInt8(take))
            if address.bytes[i] & mask != other.bytes[i] & mask { return false }
            remaining -= take
        }
        return true
    }

    public var description: String { "\(address)/\(prefix)" }
}

extension AddressPolicy {
    /// The policy a service starts with: every rule on, `allowed` let through, and the host's
    /// own interface addresses refused.
    public static func service(allowing allowed: [CIDR]) -> AddressPolicy {
        AddressPolicy(allowed: allowed, hostAddresses: interfaceAddresses())
    }

    /// Whether every address is allowed (no check, no pinning needed).
    public var isOpen: Bool {
        allowed.contains { $0.prefix == 0 && $0.address.isIPv4 } && allowed.contains { $0.prefix == 0 && !$0.address.isIPv4 }
    }

    /// The addresses of this host's interfaces.
    public static func interfaceAddresses() -> Set<IPAddress> {
        var result = Set<IPAddress>()
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return result }
        defer { freeifaddrs(first) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = p {
            if let address = entry.pointee.ifa_addr, let ip = IPAddress(socketAddress: address) { result.insert(ip) }
            p = entry.pointee.ifa_next
        }
        return result
    }

    /// Why `address` of `host` is refused, in words for an event: the rule, never anything the
    /// far side said (it was not asked).
    public func explain(host: String, address: IPAddress, rule: Rule) -> String {
        let shown = host == address.description ? host : "\(host) (\(address))"
        return "registry address \(shown) is refused by the rule \"\(rule.rawValue)\": \(rule.meaning); "
            + "an operator can allow it with RegistryAllowedNetworks in the service's config"
    }
}

extension AddressPolicy.Rule {
    var meaning: String {
        switch self {
        case .loopback: "a loopback address reaches the host itself"
        case .linkLocal: "a link-local address reaches the host's network neighbours (and metadata services)"
        case .privateNetwork: "a private address reaches the network behind the host"
        case .hostAddress: "an address of this host reaches the host itself"
        case .unspecified: "the unspecified address reaches the host itself"
        case .multicast: "a multicast address is not a registry"
        }
    }
}

extension IPAddress {
    /// The address in a `sockaddr` of family AF_INET or AF_INET6.
    public init?(socketAddress: UnsafePointer<sockaddr>) {
        switch Int32(socketAddress.pointee.sa_family) {
        case AF_INET:
            let v4 = UnsafeRawPointer(socketAddress).assumingMemoryBound(to: sockaddr_in.self).pointee
            self.init(bytes: withUnsafeBytes(of: v4.sin_addr.s_addr) { Array($0) })
        case AF_INET6:
            let v6 = UnsafeRawPointer(socketAddress).assumingMemoryBound(to: sockaddr_in6.self).pointee
            let bytes = withUnsafeBytes(of: v6.sin6_addr) { Array($0) }
            self.init(bytes: bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff ? Array(bytes[12...]) : bytes)
        default:
            return nil
        }
    }

    /// Every address `host` resolves to (an address literal is itself).
    public static func resolve(_ host: String) -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if let address = ai.pointee.ai_addr, let ip = IPAddress(socketAddress: address), !out.contains(ip) { out.append(ip) }
            p = ai.pointee.ai_next
        }
        return out
    }
}

extension AddressPolicy {
    /// A URL's host without the brackets of an IPv6 literal.
    static func bare(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}
