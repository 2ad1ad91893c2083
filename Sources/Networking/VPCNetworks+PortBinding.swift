import Foundation
import IMCOS
import IMCRuntime

/// Why a frame or a connection from an instance was dropped on its port.
public enum PortDrop: String, Sendable, CaseIterable, Codable {
    /// An Ethernet frame whose source address is not the instance's.
    case sourceMAC = "source-mac"
    /// An ARP request or reply whose sender (IPv4 or Ethernet address) is not the instance's.
    case arp
    /// An IPv4 packet whose source address is not the instance's.
    case sourceIP = "source-ip"
    /// A frame that is neither IPv4 nor ARP: IPv6 (off on instance ports), VLAN tags, anything else.
    case otherProtocol = "protocol"
    /// A new connection past the instance's cap of tracked connections.
    case connectionLimit = "connection-limit"

    /// Whether the drop is of traffic sent as another address (the rest are frames of other
    /// protocols and connections past the cap).
    public var isSpoofing: Bool { self == .sourceMAC || self == .arp || self == .sourceIP }
}

/// An instance sends only as itself: on its port (the host end of its veth), every frame whose
/// Ethernet source is not its MAC, every ARP packet whose sender is not its address and MAC,
/// every IPv4 packet whose source is not its address, and every frame of another protocol
/// (IPv6 included) is dropped before the bridge forwards or routes it, whatever made it (a raw
/// socket, a packet socket, gVisor's netstack), and counted by reason. Its new connections are
/// capped (`ct count`), so that it cannot fill the host's connection tracking.
///
/// nftables, in two tables named `imc` shared by every imc service on the host (each instance
/// adds elements and chains of its own, keyed by its id's last 8 characters):
/// - `bridge imc`: the `ports` verdict map (port name to the port's chain), looked up in the
///   bridge's prerouting hook for every frame entering the bridge;
/// - `ip imc`: the `instances` verdict map (address to the instance's chain), looked up at
///   prerouting after connection tracking, for packets that entered from a VPC bridge.
/// Each drop goes through a named counter `drops-KEY-REASON` (`PortDrop`), read back by
/// `portDrops()` (an object's name must start with a letter; a key may start with a digit).
extension VPCNetworks {
    /// The instance's Ethernet address, derived from its IPv4 address as Kubernetes' CNI bridge
    /// derives it (`0a:58:` and the four octets): fixed for the address, locally administered.
    public static func mac(for address: String) -> String {
        let octets = address.split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return "0a:58:00:00:00:00" }
        return (["0a", "58"] + octets.map { String(format: "%02x", $0) }).joined(separator: ":")
    }

    /// The key of an instance's chains and counters.
    static func bindingKey(_ instance: String) -> String { String(instance.suffix(8)) }

    static func counterName(_ key: String, _ drop: PortDrop) -> String { "drops-\(key)-\(drop.rawValue)" }

    /// The tables, maps and hooks, made when missing (the hooks' one rule replaced in the same
    /// transaction, so a second run leaves one).
    static let bindingTables = """
        add table bridge imc
        add map bridge imc ports { type ifname : verdict ; }
        add chain bridge imc prerouting { type filter hook prerouting priority -300 ; policy accept ; }
        flush chain bridge imc prerouting
        add rule bridge imc prerouting iifname vmap @ports
        add table ip imc
        add map ip imc instances { type ipv4_addr : verdict ; }
        add chain ip imc prerouting { type filter hook prerouting priority mangle ; policy accept ; }
        flush chain ip imc prerouting
        add rule ip imc prerouting iifname "imcb*" ip saddr vmap @instances

        """

    /// One instance's binding, in `nft -f` form: its port's chain and its connection cap.
    static func binding(instance: String, address: String, connectionLimit: Int) -> String {
        let key = bindingKey(instance)
        let port = hostEnd(instance)
        let mac = mac(for: address)
        func counter(_ drop: PortDrop) -> String { "counter name \"\(counterName(key, drop))\" drop" }
        let family = { (drop: PortDrop) in drop == .connectionLimit ? "ip" : "bridge" }
        var lines = PortDrop.allCases.map { "add counter \(family($0)) imc \(counterName(key, $0))" }
        lines += [
            "add chain bridge imc port-\(key)",
            "flush chain bridge imc port-\(key)",
            "add rule bridge imc port-\(key) ether saddr != \(mac) \(counter(.sourceMAC))",
            "add rule bridge imc port-\(key) ether type arp arp saddr ether != \(mac) \(counter(.arp))",
            "add rule bridge imc port-\(key) ether type arp arp saddr ip != \(address) \(counter(.arp))",
            "add rule bridge imc port-\(key) ether type ip ip saddr != \(address) \(counter(.sourceIP))",
            "add rule bridge imc port-\(key) ether type != { ip, arp } \(counter(.otherProtocol))",
            "add element bridge imc ports { \"\(port)\" : jump port-\(key) }",
            "add chain ip imc instance-\(key)",
            "flush chain ip imc instance-\(key)",
            "add rule ip imc instance-\(key) ct state new ct count over \(connectionLimit) \(counter(.connectionLimit))",
            "add element ip imc instances { \(address) : jump instance-\(key) }",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// What `binding` made, removed (elements first, then the chains, then their counters).
    static func unbinding(instance: String, address: String) -> [String] {
        let key = bindingKey(instance)
        return [
            "delete element bridge imc ports { \"\(hostEnd(instance))\" }",
            "flush chain bridge imc port-\(key)",
            "delete chain bridge imc port-\(key)",
            "delete element ip imc instances { \(address) }",
            "flush chain ip imc instance-\(key)",
            "delete chain ip imc instance-\(key)",
        ] + PortDrop.allCases.map { "delete counter \($0 == .connectionLimit ? "ip" : "bridge") imc \(counterName(key, $0))" }
    }

    /// Binds the instance's port to its addresses. A leftover element of its address (another
    /// instance's, after a crash) is removed and the binding tried once more.
    func bind(instance: String, address: String) async throws(RuntimeError) {
        let script = Self.binding(instance: instance, address: address, connectionLimit: connectionLimit)
        if await Self.nft(script) == 0 { return }
        _ = await Self.nft("delete element ip imc instances { \(address) }\n")
        guard await Self.nft(script) == 0 else {
            throw RuntimeError(.runtime, "cannot bind instance \(instance)'s port to its addresses (nftables)")
        }
    }

    /// Why `bind` failed, or nil when it did not.
    func bindingFailure(instance: String, address: String) async -> RuntimeError? {
        do { try await bind(instance: instance, address: address) } catch { return error }
        return nil
    }

    /// Removes the instance's binding, whatever of it exists (after a crash, some may not).
    func unbind(instance: String, address: String) async {
        let lines = Self.unbinding(instance: instance, address: address)
        if await Self.nft(lines.joined(separator: "\n") + "\n") == 0 { return }
        for line in lines { _ = await Self.nft(line + "\n") }
    }

    /// What every instance's port has dropped so far, by the instance's key and reason (the
    /// counters of imc's tables; an instance whose binding is gone is absent). Nil when the
    /// counters cannot be read.
    public static func portDrops() async -> [String: [PortDrop: UInt64]]? {
        guard let listed = try? await Command.run(["/usr/sbin/nft", "-j", "list", "counters"], captureOutput: true),
            listed.status == 0
        else { return nil }
        return parseCounters(Array(listed.output.utf8))
    }

    /// The counters of `nft -j list counters` that are imc's, by key and reason.
    public static func parseCounters(_ json: [UInt8]) -> [String: [PortDrop: UInt64]]? {
        struct Listing: Decodable {
            struct Item: Decodable { var counter: Counter? }
            struct Counter: Decodable {
                var table: String
                var name: String
                var packets: UInt64
            }
            var nftables: [Item]
        }
        guard let listing = try? JSONDecoder().decode(Listing.self, from: Data(json)) else { return nil }
        var drops: [String: [PortDrop: UInt64]] = [:]
        for case let counter? in listing.nftables.map(\.counter) where counter.table == "imc" && counter.name.hasPrefix("drops-") {
            let name = counter.name.dropFirst("drops-".count)
            guard let dash = name.firstIndex(of: "-"), let reason = PortDrop(rawValue: String(name[name.index(after: dash)...])) else {
                continue
            }
            drops[String(name[..<dash]), default: [:]][reason, default: 0] += counter.packets
        }
        return drops
    }

    /// Applies an `nft -f` script in one transaction.
    static func nft(_ script: String) async -> Int32 {
        let file = NSTemporaryDirectory() + "imc-nft-\(UUID().uuidString)"
        guard (try? script.write(toFile: file, atomically: false, encoding: .utf8)) != nil else { return -1 }
        defer { unlink(file) }
        return (try? await Command.run(["/usr/sbin/nft", "-f", file]))?.status ?? -1
    }
}
