import Foundation
import IMCOS

/// Instances' networks. Each VPC of each account is a network of its own: a Linux bridge
/// (`imcb` + its index) with a /24 of `10.240.0.0/12` (index n is `10.240.0.0 + 256 n`, the
/// bridge the `.1`); an instance is a veth pair, one end on its VPC's bridge, the other its Pod's
/// `eth0` with an address of the /24 and a default route through the bridge.
///
/// What the host enforces (iptables, chains of imc's own, made idempotently): instances of one
/// VPC reach each other; traffic between VPCs, and from anywhere into a VPC, is dropped; egress
/// leaves through NAT; link-local addresses (metadata services) are dropped; the host itself is
/// reached only as the outside world is: not through its bridge addresses and never on imc's
/// own API ports. An instance whose security groups allow no egress has its traffic out of the
/// VPC dropped.
public struct VPCNetworks: Sendable {
    /// The first network this service gives out, and how many: bridges and /24s are named by
    /// `first + n`, so that services sharing a host (tests) can keep apart.
    public let first: Int
    public let count: Int
    /// Ports of imc's API on this host, unreachable from instances on any address.
    public let apiPorts: [Int]
    static let base: UInt32 = 0x0AF0_0000  // 10.240.0.0
    public static let cidr = "10.240.0.0/12"

    public init(first: Int = 0, count: Int = 4096, apiPorts: [Int] = []) {
        self.first = max(0, min(first, 4095))
        self.count = max(1, min(count, 4096 - self.first))
        self.apiPorts = apiPorts
    }

    public func bridge(_ network: Int) -> String { String(format: "imcb%04x", first + network) }
    func octets(_ network: Int, _ host: Int) -> String {
        let a = Self.base + UInt32(first + network) * 256 + UInt32(host)
        return "\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)"
    }
    public func address(network: Int, host: Int) -> String { octets(network, host) }
    public func gateway(_ network: Int) -> String { octets(network, 1) }
    /// The host end of an instance's veth pair.
    public static func hostEnd(_ instance: String) -> String { "imcv" + String(instance.suffix(8)) }

    /// Forwarding on and imc's chains in place; safe to run again (rules are added only when
    /// missing, never flushed: another service on the host keeps its own).
    public func prepareHost() async throws(RuntimeError) {
        do {
            try "1\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
        } catch { throw RuntimeError(.runtime, "cannot turn on IPv4 forwarding: \(error)") }
        for chain in ["IMC-FORWARD", "IMC-INPUT", "IMC-EGRESS"] { _ = await Self.iptables(["-N", chain]) }
        try await Self.ensure(["FORWARD", "-i", "imcb+", "-j", "IMC-FORWARD"], insertAt: 1)
        try await Self.ensure(["FORWARD", "-o", "imcb+", "-j", "IMC-FORWARD"], insertAt: 1)
        try await Self.ensure(["INPUT", "-i", "imcb+", "-j", "IMC-INPUT"], insertAt: 1)
        for rule in [
            ["IMC-FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ["IMC-FORWARD", "-d", "169.254.0.0/16", "-j", "DROP"],
            ["IMC-FORWARD", "-i", "imcb+", "-j", "IMC-EGRESS"],
            ["IMC-FORWARD", "-o", "imcb+", "-j", "DROP"],
            ["IMC-FORWARD", "-i", "imcb+", "-j", "ACCEPT"],
            ["IMC-INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ["IMC-INPUT", "-d", Self.cidr, "-j", "DROP"],
            ["IMC-INPUT", "-d", "169.254.0.0/16", "-j", "DROP"],
        ] {
            try await Self.ensure(rule)
        }
        for port in apiPorts { try await Self.ensure(["IMC-INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"]) }
        // The last word of IMC-INPUT: what is left is egress (the host as the outside world).
        _ = await Self.iptables(["-D", "IMC-INPUT", "-j", "IMC-EGRESS"])
        _ = await Self.iptables(["-D", "IMC-INPUT", "-j", "ACCEPT"])
        try await Self.ensure(["IMC-INPUT", "-j", "IMC-EGRESS"])
        try await Self.ensure(["IMC-INPUT", "-j", "ACCEPT"])
        try await Self.ensure(["POSTROUTING", "-t", "nat", "-s", Self.cidr, "!", "-o", "imcb+", "-j", "MASQUERADE"])
    }

    /// The VPC's bridge, made when missing, with the rule that lets its instances reach each
    /// other. The caller remembers which bridges it has made ready (`attach` assumes it).
    public func ensureBridge(_ network: Int) async throws(RuntimeError) {
        let name = bridge(network)
        if !FileManager.default.fileExists(atPath: "/sys/class/net/\(name)") {
            let batch = "link add \(name) type bridge\naddr add \(gateway(network))/24 dev \(name)\nlink set \(name) up\n"
            let status = await Self.ipBatch(batch, namespace: nil)
            guard status == 0 || FileManager.default.fileExists(atPath: "/sys/class/net/\(name)") else {
                throw RuntimeError(.runtime, "cannot make the bridge \(name) of a VPC network")
            }
        }
        try await Self.ensure(["IMC-FORWARD", "-i", name, "-o", name, "-j", "ACCEPT"], insertAt: 2)
    }

    /// Connects the named network namespace to the VPC network as `host`: `eth0` inside with
    /// its address and default route. `egress` false drops its traffic out of the VPC.
    public func attach(namespace: String, instance: String, network: Int, host: Int, egress: Bool) async throws(RuntimeError) {
        let end = Self.hostEnd(instance)
        _ = await Self.ipBatch("link delete \(end)\n", namespace: nil)
        let outside = "link add \(end) type veth peer name eth0 netns \(namespace)\nlink set \(end) master \(bridge(network)) up\n"
        guard await Self.ipBatch(outside, namespace: nil) == 0 else {
            throw RuntimeError(.runtime, "cannot connect instance \(instance) to its VPC network")
        }
        let inside =
            "addr add \(address(network: network, host: host))/24 dev eth0\nlink set eth0 up\nroute add default via \(gateway(network))\n"
        guard await Self.ipBatch(inside, namespace: namespace) == 0 else {
            _ = await Self.ipBatch("link delete \(end)\n", namespace: nil)
            throw RuntimeError(.runtime, "cannot give instance \(instance) its address")
        }
        if !egress {
            try await Self.ensure(["IMC-EGRESS", "-s", address(network: network, host: host) + "/32", "-j", "DROP"])
        }
    }

    /// Disconnects the instance (its veth goes with its namespace too) and drops its rules.
    public func detach(instance: String, network: Int, host: Int) async {
        _ = await Self.ipBatch("link delete \(Self.hostEnd(instance))\n", namespace: nil)
        while await Self.iptables(["-D", "IMC-EGRESS", "-s", address(network: network, host: host) + "/32", "-j", "DROP"]) == 0 {}
    }

    /// Adds `rule` (chain first, `-t table` allowed after it) unless it is there.
    static func ensure(_ rule: [String], insertAt position: Int? = nil) async throws(RuntimeError) {
        var spec = rule
        var table: [String] = []
        if let t = spec.firstIndex(of: "-t"), t + 1 < spec.count {
            table = ["-t", spec[t + 1]]
            spec.removeSubrange(t...(t + 1))
        }
        let chain = spec.removeFirst()
        if await iptables(table + ["-C", chain] + spec) == 0 { return }
        let add = position.map { table + ["-I", chain, "\($0)"] + spec } ?? table + ["-A", chain] + spec
        guard await iptables(add) == 0 else {
            throw RuntimeError(.runtime, "cannot add the firewall rule \(rule.joined(separator: " "))")
        }
    }

    static func iptables(_ arguments: [String]) async -> Int32 {
        (try? await Command.run(["/usr/sbin/iptables", "-w"] + arguments))?.status ?? -1
    }

    /// Runs iproute2 commands in one process (`ip -batch`), in `namespace` when given.
    static func ipBatch(_ commands: String, namespace: String?) async -> Int32 {
        let file = NSTemporaryDirectory() + "imc-ip-\(UUID().uuidString)"
        guard (try? commands.write(toFile: file, atomically: false, encoding: .utf8)) != nil else { return -1 }
        defer { unlink(file) }
        let ns = namespace.map { ["-n", $0] } ?? []
        return (try? await Command.run(["/usr/sbin/ip"] + ns + ["-batch", file]))?.status ?? -1
    }
}
