import Foundation

/// One rule of a security group: traffic from (ingress) or to (egress) a peer, of a protocol,
/// to some ports. What no rule allows is dropped.
public struct SecurityRule: Sendable, Equatable {
    public enum Peer: Sendable, Equatable {
        /// The instances of a security group (ingress only: members of the same VPC).
        case group(String)
        /// Every instance of the VPC (ingress only).
        case vpc
        /// An IPv4 block, `a.b.c.d/n`.
        case cidr(String)
    }
    public enum Proto: String, Sendable, CaseIterable { case all, tcp, udp, icmp }
    public var peer: Peer
    public var proto: Proto
    /// Destination ports: `80`, `80,443`, `8000-8100` (tcp and udp only); nil: every port.
    public var ports: String?

    public init(peer: Peer, proto: Proto = .all, ports: String? = nil) {
        self.peer = peer
        self.proto = proto
        self.ports = ports
    }

    /// Every address.
    public static let anywhere = SecurityRule(peer: .cidr("0.0.0.0/0"))

    /// Checks a peer written in the config: `vpc`, an IPv4 block, or the id of a group in
    /// `groups`. The error says what is wrong.
    public static func peer(_ text: String, groups: Set<String>, ingress: Bool) -> Result<Peer, RuleError> {
        if ingress, text == "vpc" { return .success(.vpc) }
        if let cidr = canonicalCIDR(text) { return .success(.cidr(cidr)) }
        if ingress, groups.contains(text) { return .success(.group(text)) }
        let allowed = ingress ? "`vpc`, an IPv4 block (10.0.0.0/8) or a security group of the config" : "an IPv4 block (0.0.0.0/0)"
        return .failure(RuleError("\(text.prefix(64)) is not \(allowed)"))
    }

    /// Checks ports for `proto`: at most 15 entries, each a port or a range `a-b` of 1...65535.
    public static func ports(_ text: String, proto: Proto) -> Result<String, RuleError> {
        guard proto == .tcp || proto == .udp else { return .failure(RuleError("need protocol tcp or udp")) }
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...15).contains(entries.count) else { return .failure(RuleError("\(text.prefix(64)) has more than 15 entries")) }
        for entry in entries {
            let ends = entry.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(ends.count), ends.allSatisfy({ $0.map { (1...65535).contains($0) } ?? false }),
                ends.count == 1 || ends[0]! <= ends[1]!
            else { return .failure(RuleError("\(entry.prefix(32)) is not a port (1-65535) or a range of them (8000-8100)")) }
        }
        return .success(entries.joined(separator: ","))
    }

    /// `a.b.c.d/n` with the host bits cleared, or nil when `text` is not an IPv4 block (a
    /// lone address is a /32).
    public static func canonicalCIDR(_ text: String) -> String? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        let prefix = parts.count == 2 ? Int(parts[1]) : 32
        guard let prefix, (0...32).contains(prefix) else { return nil }
        var address = in_addr()
        guard inet_pton(AF_INET, String(parts[0]), &address) == 1 else { return nil }
        let value = UInt32(bigEndian: address.s_addr) & (prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix))
        return "\(value >> 24).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)/\(prefix)"
    }

    /// The iptables match of the rule (without its peer when the peer is a group or the VPC).
    func match(ingress: Bool) -> [String] {
        var m: [String] = []
        if case .cidr(let cidr) = peer, cidr != "0.0.0.0/0" { m += [ingress ? "-s" : "-d", cidr] }
        if proto != .all { m += ["-p", proto.rawValue] }
        if let ports { m += ["-m", "multiport", "--dports", ports.replacingOccurrences(of: "-", with: ":")] }
        return m
    }
}

public struct RuleError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A security group's rules, from the config. Ingress rules decide what reaches an instance
/// from the instances of its VPC (nothing else can reach one); egress rules decide what an
/// instance reaches beyond its VPC (the host's addresses and the outside world). An instance
/// in several groups gets what any of them allows.
public struct SecurityGroup: Sendable, Equatable {
    public var egress: [SecurityRule]
    /// nil: from the group's own instances (the default group's rule).
    public var ingress: [SecurityRule]?

    /// `egress` true: everything out; false: nothing out.
    public init(egress: Bool = true, ingress: [SecurityRule]? = nil) {
        self.egress = egress ? [.anywhere] : []
        self.ingress = ingress
    }

    public init(egressRules: [SecurityRule], ingress: [SecurityRule]?) {
        self.egress = egressRules
        self.ingress = ingress
    }

    /// The ingress rules, the group's own instances when it names none.
    public func ingressRules(id: String) -> [SecurityRule] { ingress ?? [SecurityRule(peer: .group(id))] }

    /// The chain holding the addresses of a group's instances (`-s address -j ACCEPT` each).
    public static func membersChain(_ id: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in id.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return String(format: "IMC-SG-%08x", hash)
    }
}
