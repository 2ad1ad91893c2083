import Foundation
import IMCOS
import IMCRuntime
import Synchronization

/// Elastic IPs on the host: an EIP bound 1:1 to an instance's private address, in chains of
/// imc's own. What comes to the EIP is sent on to the instance (DNAT, `IMC-EIP-PRE`, from
/// PREROUTING and the host's OUTPUT) and reaches it only as its security groups' rules for
/// address blocks allow (`IMC-EIP-IN`: rules naming the VPC or a group are for the VPC's own
/// instances, never for the outside); what the instance sends out leaves from the EIP (SNAT,
/// `IMC-EIP-POST`, before the masquerade every instance has otherwise), capped at the EIP's
/// bandwidth (`IMC-EIP-OUT`, from FORWARD itself). The operator routes the pool to its hosts, as a provider's edge
/// routes its addresses; no EIP is an address of a host interface.
extension VPCNetworks {
    /// The chain of DNAT'd traffic for one instance: its groups' rules for address blocks.
    static func eipIngressChain(_ instance: String) -> String { "IMC-EIN-" + String(instance.suffix(8)) }

    /// The EIP chains and their jumps, made idempotently (with `prepareHost`).
    static func prepareEIPChains() async throws(RuntimeError) {
        for chain in ["IMC-EIP-PRE", "IMC-EIP-POST"] { _ = await iptables(["-t", "nat", "-N", chain]) }
        for chain in ["IMC-EIP-IN", "IMC-EIP-OUT"] { _ = await iptables(["-N", chain]) }
        try await ensure(["PREROUTING", "-t", "nat", "-j", "IMC-EIP-PRE"], insertAt: 1)
        try await ensure(["OUTPUT", "-t", "nat", "-j", "IMC-EIP-PRE"], insertAt: 1)
        try await ensure(["POSTROUTING", "-t", "nat", "-j", "IMC-EIP-POST"], insertAt: 1)
        // Ahead of imc's forwarding chain (whose first rule accepts established connections, and
        // whose bridges' rules go right after it): a cap counts every packet out.
        _ = await iptables(["-D", "IMC-FORWARD", "-i", "imcb+", "!", "-o", "imcb+", "-j", "IMC-EIP-OUT"])
        try await ensure(["FORWARD", "-i", "imcb+", "!", "-o", "imcb+", "-j", "IMC-EIP-OUT"], insertAt: 1)
        // Connections from outside to an EIP, before the drop of everything else into a VPC.
        if await iptables(["-C", "IMC-FORWARD", "-o", "imcb+", "-m", "conntrack", "--ctstate", "DNAT", "-j", "IMC-EIP-IN"]) != 0 {
            let rules = (try? await Command.run(["/usr/sbin/iptables", "-w", "-S", "IMC-FORWARD"], captureOutput: true))?.output ?? ""
            let lines = rules.split(separator: "\n").filter { $0.hasPrefix("-A IMC-FORWARD") }
            let drop = lines.firstIndex { $0 == "-A IMC-FORWARD -o imcb+ -j DROP" }.map { $0 + 1 } ?? 1
            try await ensure(
                ["IMC-FORWARD", "-o", "imcb+", "-m", "conntrack", "--ctstate", "DNAT", "-j", "IMC-EIP-IN"], insertAt: drop)
        }
    }

    /// The rules binding `eip` to the instance at `privateIP`, in `iptables-restore` form.
    static func eipRules(
        instance: String, privateIP: String, eip: String, bandwidthMbps: Int?, groups: [(id: String, group: SecurityGroup)]
    ) -> String {
        let chain = eipIngressChain(instance)
        var lines = ["*nat"]
        lines.append("-A IMC-EIP-PRE -d \(eip)/32 -j DNAT --to-destination \(privateIP)")
        lines.append("-A IMC-EIP-POST -s \(privateIP)/32 ! -o imcb+ -j SNAT --to-source \(eip)")
        lines += ["COMMIT", "*filter", ":\(chain) - [0:0]"]
        for (id, group) in groups {
            for rule in group.ingressRules(id: id) {
                guard case .cidr = rule.peer else { continue }
                lines.append((["-A", chain] + rule.match(ingress: true) + ["-j", "ACCEPT"]).joined(separator: " "))
            }
        }
        lines.append("-A \(chain) -j DROP")
        lines.append("-A IMC-EIP-IN -d \(privateIP)/32 -j \(chain)")
        if let mbps = bandwidthMbps {
            // Kilobytes a second, with a burst of a second and a quarter (iptables takes no less than a second).
            let rate = mbps * 125
            lines.append(
                "-A IMC-EIP-OUT -s \(privateIP)/32 -m hashlimit --hashlimit-above \(rate)kb/s --hashlimit-burst \(rate + rate / 4)kb --hashlimit-name \(hashlimitName(instance)) -j DROP"
            )
        }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether this process has made the EIP chains and their jumps.
    static let eipChainsReady = Mutex(false)

    static func hashlimitName(_ instance: String) -> String { "imc-eip-" + String(instance.suffix(8)) }

    /// Binds `eip` to the instance at `privateIP` (after `attach`). Done again for the same
    /// instance, the old binding goes first.
    public func bindEIP(
        instance: String, privateIP: String, eip: String, bandwidthMbps: Int?, groups: [(id: String, group: SecurityGroup)]
    ) async throws(RuntimeError) {
        if !Self.eipChainsReady.withLock({ $0 }) {
            try await Self.prepareEIPChains()
            Self.eipChainsReady.withLock { $0 = true }
        }
        // A binding left by a crash (its chain is there) goes first; a new instance has none.
        if await Self.iptables(["-S", Self.eipIngressChain(instance)]) == 0 {
            await unbindEIP(instance: instance, privateIP: privateIP, eip: eip)
        }
        let rules = Self.eipRules(instance: instance, privateIP: privateIP, eip: eip, bandwidthMbps: bandwidthMbps, groups: groups)
        guard await Self.iptablesRestore(rules) == 0 else {
            await unbindEIP(instance: instance, privateIP: privateIP, eip: eip)
            throw RuntimeError(.runtime, "cannot bind EIP \(eip) to instance \(instance)")
        }
    }

    /// Removes whatever of the binding exists, and the connections the host tracked through
    /// the EIP (the address's next holder inherits none).
    public func unbindEIP(instance: String, privateIP: String, eip: String) async {
        let chain = Self.eipIngressChain(instance)
        let nat: [[String]] = [
            ["-t", "nat", "-D", "IMC-EIP-PRE", "-d", "\(eip)/32", "-j", "DNAT", "--to-destination", privateIP],
            ["-t", "nat", "-D", "IMC-EIP-POST", "-s", "\(privateIP)/32", "!", "-o", "imcb+", "-j", "SNAT", "--to-source", eip],
            ["-D", "IMC-EIP-IN", "-d", "\(privateIP)/32", "-j", chain],
        ]
        for rule in nat { while await Self.iptables(rule) == 0 {} }
        let limits = (try? await Command.run(["/usr/sbin/iptables", "-w", "-S", "IMC-EIP-OUT"], captureOutput: true))?.output ?? ""
        for line in limits.split(separator: "\n") where line.contains("--hashlimit-name \(Self.hashlimitName(instance)) ") {
            let words = line.split(separator: " ").map(String.init)
            _ = await Self.iptables(["-D"] + words.dropFirst(1))
        }
        _ = await Self.iptables(["-F", chain])
        _ = await Self.iptables(["-X", chain])
        for direction in ["-d", "--reply-src"] { _ = try? await Command.run(["/usr/sbin/conntrack", "-D", direction, eip]) }
    }
}
