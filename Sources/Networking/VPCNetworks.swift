import CIMCSys
import Foundation
import IMCModel
import IMCOS
import IMCRuntime

/// Instances' networks. Each VPC of each account is a Linux bridge (`imcb` + its number); each
/// subnet of a VPC a /24 of `10.240.0.0/12` (block n is `10.240.0.0 + 256 n`, its gateway the
/// `.1`, an address of the bridge); an instance is a veth pair, one end an isolated port of its
/// VPC's bridge, the other its Pod's `eth0` with an address of its subnet's /24 and a default
/// route through the gateway.
///
/// Bridge ports are isolated and the bridge answers every ARP request itself (private-VLAN
/// proxy ARP), so no frame goes from one instance to another directly: everything between
/// instances, within a subnet or across subnets, is routed by the host and passes its firewall
/// (with or without `br_netfilter`).
///
/// An instance sends only as itself (`VPCNetworks+PortBinding`): its port drops frames with
/// another source MAC, ARP claiming another address, IPv4 with another source and every other
/// protocol (IPv6 is off on instance ports), and its new connections are capped. Frames for an
/// instance go only to its port: its MAC is a static entry of the bridge's forwarding table and
/// unknown unicast is not flooded, so no instance sees another's traffic; the host's neighbour
/// entry for it is permanent, so no ARP can redirect it.
///
/// What the host enforces (iptables, chains of imc's own, made idempotently): traffic within a
/// VPC reaches an instance only as its security groups' ingress rules allow (`IMC-INGRESS`, one
/// chain per instance); traffic between VPCs, and from anywhere else into a VPC, is dropped;
/// what leaves a VPC goes only where the instance's egress rules allow (`IMC-EGRESS`), through
/// NAT; link-local addresses (metadata services) are dropped; the host itself is reached only
/// as the outside world is: not through its bridge addresses and never on imc's own API ports.
public struct VPCNetworks: Sendable {
    /// The first network this service gives out, and how many: bridges and /24s are named by
    /// `first + n`, so that services sharing a host (tests) can keep apart.
    public let first: Int
    public let count: Int
    /// Ports of imc's API on this host, unreachable from instances on any address.
    public let apiPorts: [Int]
    /// The most connections one instance may have tracked by the host at once (those it opened,
    /// to its VPC, the host or the outside world); a new one past it is dropped.
    public let connectionLimit: Int
    public static let defaultConnectionLimit = 8192
    static let base: UInt32 = 0x0AF0_0000  // 10.240.0.0
    public static let cidr = "10.240.0.0/12"

    public init(first: Int = 0, count: Int = 4096, apiPorts: [Int] = [], connectionLimit: Int = defaultConnectionLimit) {
        self.first = max(0, min(first, 4095))
        self.count = max(1, min(count, 4096 - self.first))
        self.apiPorts = apiPorts
        self.connectionLimit = max(1, connectionLimit)
    }

    public func bridge(_ network: Int) -> String { String(format: "imcb%04x", first + network) }
    /// The bridge's MAC (the gateway's, as instances see it): `0a:59:` and the network's number,
    /// apart from every instance's (`0a:58:` and its address).
    public func bridgeMAC(_ network: Int) -> String {
        let n = first + network
        return String(format: "0a:59:00:00:%02x:%02x", (n >> 8) & 255, n & 255)
    }
    func octets(_ block: Int, _ host: Int) -> String {
        let a = Self.base + UInt32(first + block) * 256 + UInt32(host)
        return "\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)"
    }
    public func address(_ at: NetworkAddress) -> String { octets(at.block, at.host) }
    public func gateway(block: Int) -> String { octets(block, 1) }
    /// The host end of an instance's veth pair.
    public static func hostEnd(_ instance: String) -> String { "imcv" + String(instance.suffix(8)) }
    /// The chains of one instance's rules: what may reach it, and where it may go.
    static func ingressChain(_ instance: String) -> String { "IMC-IN-" + String(instance.suffix(8)) }
    static func egressChain(_ instance: String) -> String { "IMC-OUT-" + String(instance.suffix(8)) }

    /// Forwarding on and imc's chains in place, with one members chain per security group of
    /// `groups`; safe to run again (rules are added only when missing, never flushed: another
    /// service on the host keeps its own).
    public func prepareHost(groups: [String]) async throws(RuntimeError) {
        do {
            try "1\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
        } catch { throw RuntimeError(.runtime, "cannot turn on IPv4 forwarding: \(error)") }
        for chain in ["IMC-FORWARD", "IMC-INPUT", "IMC-EGRESS", "IMC-INGRESS"] + groups.map(SecurityGroup.membersChain) {
            _ = await Self.iptables(["-N", chain])
        }
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
            // Within a VPC, what no instance's chain accepts (instances' jumps go before it).
            ["IMC-INGRESS", "-j", "DROP"],
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
        guard await Self.nft(Self.bindingTables) == 0 else {
            throw RuntimeError(.runtime, "cannot make imc's nftables tables (is the nftables package installed?)")
        }
    }

    /// The VPC's bridge, made when missing: it answers its ports' ARP requests itself, and
    /// traffic routed back into it goes through the instances' ingress rules. The caller
    /// remembers which bridges it has made ready (`attach` assumes it).
    public func ensureBridge(_ network: Int) async throws(RuntimeError) {
        let name = bridge(network)
        // A MAC of its own: a bridge otherwise takes its lowest port's, changing as instances come
        // and go, and each change flushes its neighbour table (the instances' permanent entries
        // too) and the gateway's address the instances hold.
        let mac = bridgeMAC(network)
        if !FileManager.default.fileExists(atPath: "/sys/class/net/\(name)") {
            let status = await Self.ipBatch("link add \(name) address \(mac) type bridge\nlink set \(name) up\n", namespace: nil)
            guard status == 0 || FileManager.default.fileExists(atPath: "/sys/class/net/\(name)") else {
                throw RuntimeError(.runtime, "cannot make the bridge \(name) of a VPC network")
            }
        }
        let current = (try? String(contentsOfFile: "/sys/class/net/\(name)/address", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if current != mac {
            guard await Self.ipBatch("link set \(name) address \(mac)\n", namespace: nil) == 0 else {
                throw RuntimeError(.runtime, "cannot give the bridge \(name) of a VPC network its address \(mac)")
            }
        }
        for (setting, value) in [
            ("ipv4/conf/\(name)/proxy_arp_pvlan", "1"), ("ipv4/neigh/\(name)/proxy_delay", "0"), ("ipv6/conf/\(name)/disable_ipv6", "1"),
        ] {
            guard (try? "\(value)\n".write(toFile: "/proc/sys/net/\(setting)", atomically: false, encoding: .utf8)) != nil else {
                throw RuntimeError(.runtime, "cannot set net.\(setting.replacingOccurrences(of: "/", with: ".")) of a VPC network")
            }
        }
        _ = await Self.iptables(["-D", "IMC-FORWARD", "-i", name, "-o", name, "-j", "ACCEPT"])
        try await Self.ensure(["IMC-FORWARD", "-i", name, "-o", name, "-j", "IMC-INGRESS"], insertAt: 2)
    }

    /// Removes the rules that keep instances off this service's API ports, when the service
    /// stops and its ports close (otherwise every port a service ever listened on stays
    /// dropped for instances, and a later service's port may be one of them).
    public func releaseAPIPorts() async {
        for port in apiPorts {
            while await Self.iptables(["-D", "IMC-INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"]) == 0 {}
        }
    }

    /// Removes the VPC's bridge and its forwarding rule when no port is left on it (no instance
    /// of any service on this host uses it); a bridge with ports is left alone. Whether it went.
    @discardableResult
    public func removeBridgeIfIdle(_ network: Int) async -> Bool {
        let name = bridge(network)
        guard FileManager.default.fileExists(atPath: "/sys/class/net/\(name)"),
            (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net/\(name)/brif"))?.isEmpty == true
        else { return false }
        guard await Self.ipBatch("link delete \(name)\n", namespace: nil) == 0 else { return false }
        while await Self.iptables(["-D", "IMC-FORWARD", "-i", name, "-o", name, "-j", "IMC-INGRESS"]) == 0 {}
        return true
    }

    /// The subnet's gateway on its VPC's bridge (its /24 routed there), added when missing.
    public func ensureSubnet(network: Int, block: Int) async throws(RuntimeError) {
        let name = bridge(network)
        let shown = (try? await Command.run(["/usr/sbin/ip", "-4", "-o", "addr", "show", "dev", name], captureOutput: true))?.output ?? ""
        if shown.contains(" \(gateway(block: block))/24 ") { return }
        guard await Self.ipBatch("addr add \(gateway(block: block))/24 dev \(name)\n", namespace: nil) == 0 else {
            throw RuntimeError(.runtime, "cannot give the bridge \(name) the subnet gateway \(gateway(block: block))")
        }
    }

    /// Connects the named network namespace to the VPC network at `at`: `eth0` inside with its
    /// address, MAC and default route, an isolated port outside bound to them, and the rules of
    /// its security groups (`groups`, each id with its rules).
    public func attach(
        namespace: String, instance: String, at: NetworkAddress, groups: [(id: String, group: SecurityGroup)]
    ) async throws(RuntimeError) {
        let end = Self.hostEnd(instance)
        let ip = address(at)
        let mac = Self.mac(for: ip)
        if FileManager.default.fileExists(atPath: "/sys/class/net/\(end)") {
            _ = await Self.ipBatch("link delete \(end)\n", namespace: nil)
        }
        // The port's binding and the groups' rules, each a transaction of its own, side by side
        // with the plumbing: nothing of the instance runs before this returns, and by then all
        // three hold (or everything is undone).
        async let bound = bindingFailure(instance: instance, address: ip)
        async let ruled = Self.iptablesRestore(Self.rules(instance: instance, address: ip, groups: groups))
        // The port: no IPv6 address of its own, no flooding of frames whose destination it does
        // not hold, and the host's neighbour entry for the instance fixed. Then eth0 inside.
        let outside = """
            link add \(end) type veth peer name eth0 address \(mac) netns \(namespace)
            link set \(end) addrgenmode none
            link set \(end) master \(bridge(at.network))
            link set dev \(end) type bridge_slave isolated on learning off flood off mcast_flood off
            link set \(end) up
            neigh replace \(ip) lladdr \(mac) dev \(bridge(at.network)) nud permanent

            """
        let inside = "addr add \(ip)/24 dev eth0\nlink set eth0 up\nroute add default via \(gateway(block: at.block))\n"
        var plumbed = await Self.ipBatch(outside, namespace: nil) == 0 && Self.addForwardingEntry(port: end, mac: mac)
        if plumbed { plumbed = await Self.ipBatch(inside, namespace: namespace) == 0 }
        let (bindingFailure, rulesStatus) = await (bound, ruled)
        guard bindingFailure == nil, rulesStatus == 0, plumbed else {
            await detach(instance: instance, at: at, groups: groups.map(\.id))
            if let bindingFailure { throw bindingFailure }
            throw RuntimeError(
                .runtime,
                rulesStatus != 0
                    ? "cannot apply the security groups of instance \(instance)" : "cannot connect instance \(instance) to its VPC network")
        }
    }

    /// The instance's MAC as a static entry of its port: frames for it go there and nowhere else.
    static func addForwardingEntry(port: String, mac: String) -> Bool {
        let bytes = mac.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard bytes.count == 6 else { return false }
        return bytes.withUnsafeBufferPointer { imc_bridge_fdb_add(port, $0.baseAddress) } == 0
    }

    /// The firewall of one instance, in `iptables-restore` form: its two chains (made, or
    /// emptied when left over), the jumps to them, and its address in its groups' members.
    static func rules(instance: String, address: String, groups: [(id: String, group: SecurityGroup)]) -> String {
        let (inChain, outChain) = (ingressChain(instance), egressChain(instance))
        var lines = ["*filter", ":\(inChain) - [0:0]", ":\(outChain) - [0:0]"]
        for (id, group) in groups {
            for rule in group.ingressRules(id: id) {
                let target: String
                switch rule.peer {
                case .group(let other): target = SecurityGroup.membersChain(other)
                case .vpc, .cidr: target = "ACCEPT"
                }
                lines.append((["-A", inChain] + rule.match(ingress: true) + ["-j", target]).joined(separator: " "))
            }
            for rule in group.egress {
                lines.append((["-A", outChain] + rule.match(ingress: false) + ["-j", "RETURN"]).joined(separator: " "))
            }
        }
        lines.append("-A \(outChain) -j DROP")
        lines.append("-I IMC-INGRESS 1 -d \(address)/32 -j \(inChain)")
        lines.append("-I IMC-EGRESS 1 -s \(address)/32 -j \(outChain)")
        for id in Set(groups.map(\.id)) { lines.append("-I \(SecurityGroup.membersChain(id)) 1 -s \(address)/32 -j ACCEPT") }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Disconnects the instance (its veth goes with its namespace too) and drops its rules,
    /// its binding and the connections the host tracked for its address (a later instance given
    /// the address inherits none), whatever of them exists (after a crash, some may not).
    public func detach(instance: String, at: NetworkAddress, groups: [String]) async {
        let ip = address(at)
        _ = await Self.ipBatch(
            "link delete \(Self.hostEnd(instance))\nneigh del \(ip) dev \(bridge(at.network))\n", namespace: nil, force: true)
        await unbind(instance: instance, address: ip)
        for direction in ["-s", "-d"] {
            _ = try? await Command.run(["/usr/sbin/conntrack", "-D", direction, ip])
        }
        let (inChain, outChain) = (Self.ingressChain(instance), Self.egressChain(instance))
        var deletions = [
            ["-D", "IMC-INGRESS", "-d", "\(ip)/32", "-j", inChain], ["-D", "IMC-EGRESS", "-s", "\(ip)/32", "-j", outChain],
        ]
        deletions += Set(groups.isEmpty ? ["default"] : groups).map {
            ["-D", SecurityGroup.membersChain($0), "-s", "\(ip)/32", "-j", "ACCEPT"]
        }
        let all = deletions + [["-F", inChain], ["-X", inChain], ["-F", outChain], ["-X", outChain]]
        let batch = (["*filter"] + all.map { $0.joined(separator: " ") } + ["COMMIT"]).joined(separator: "\n") + "\n"
        if await Self.iptablesRestore(batch) == 0 { return }
        for rule in deletions { while await Self.iptables(rule) == 0 {} }
        for rule in all.suffix(4) { _ = await Self.iptables(rule) }
        // What an instance of an older imc had: a drop of its egress.
        while await Self.iptables(["-D", "IMC-EGRESS", "-s", "\(ip)/32", "-j", "DROP"]) == 0 {}
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

    /// Applies `rules` (iptables-restore's form) in one process and one transaction, keeping
    /// every chain it does not declare.
    static func iptablesRestore(_ rules: String) async -> Int32 {
        let file = NSTemporaryDirectory() + "imc-iptables-\(UUID().uuidString)"
        guard (try? rules.write(toFile: file, atomically: false, encoding: .utf8)) != nil else { return -1 }
        defer { unlink(file) }
        return (try? await Command.run(["/usr/sbin/iptables-restore", "-w", "--noflush", file]))?.status ?? -1
    }

    /// Runs iproute2 commands in one process (`ip -batch`), in `namespace` when given; with
    /// `force`, every command is tried whatever the ones before it did.
    static func ipBatch(_ commands: String, namespace: String?, force: Bool = false) async -> Int32 {
        let file = NSTemporaryDirectory() + "imc-ip-\(UUID().uuidString)"
        guard (try? commands.write(toFile: file, atomically: false, encoding: .utf8)) != nil else { return -1 }
        defer { unlink(file) }
        let ns = namespace.map { ["-n", $0] } ?? []
        return (try? await Command.run(["/usr/sbin/ip"] + ns + (force ? ["-force"] : []) + ["-batch", file]))?.status ?? -1
    }
}
