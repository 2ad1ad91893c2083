import Foundation
import IMCCache
import IMCInstance
import IMCInstances
import IMCNetworking
import IMCOS
import IMCRuntime
import IMCServiceSupport
import IMCTestSupport
import Testing

/// VPC networks tried from inside, as a hostile tenant would: who reaches whom (security groups,
/// VPCs, the host), then what an instance sends as another address (raw sockets, packet sockets,
/// forged ARP, IPv6), whether it can read another's traffic, and whether it can fill the host's
/// connection tracking; each under runc and under gVisor, with the honest paths beside them.
@Suite(
    .serialized,
    .enabled(
        if: InstanceHarness.available && FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/conntrack"),
        "needs root, runc, busybox-static, xfsprogs, iptables, nftables and conntrack"))
struct VPCTests {
    /// A port standing for imc's API (instances must never reach it), and two ports of the host:
    /// one that `sg-web` may reach, one it may not.
    static let apiPort = Int.random(in: 40000..<45000)
    static let openPort = Int.random(in: 45000..<50000)
    static let otherPort = Int.random(in: 50000..<55000)
    /// The connection cap of the tests' instances (small, so that a flood is quick to reach it).
    static let connectionLimit = 64

    static var runtimes: [RuntimeClass] { InstanceHarness.gvisorAvailable ? [.runc, .gvisor] : [.runc] }

    /// A service whose instances use VPC networks of their own (a random range of /24s) with the
    /// groups the tests name, run through `body`, and closed whatever happens.
    func withNetwork(_ body: (Network) async throws -> Void) async throws {
        // A range no bridge on this host uses yet: a run that was killed leaves its bridges and
        // rules (its service never shut down), and an address of theirs must not be this run's.
        let first = (0..<100).lazy.map { _ in Int.random(in: 16..<4000) }.first { first in
            (first..<first + 4).allSatisfy { !FileManager.default.fileExists(atPath: "/sys/class/net/imcb\(String(format: "%04x", $0))") }
        }
        let networks = VPCNetworks(first: try #require(first), count: 4, apiPorts: [Self.apiPort], connectionLimit: Self.connectionLimit)
        let harness = try await InstanceHarness(
            network: NetworkSettings(
                networks: networks,
                securityGroups: [
                    "sg-locked": SecurityGroup(egress: false),
                    "sg-web": SecurityGroup(
                        egressRules: [SecurityRule(peer: .cidr("0.0.0.0/0"), proto: .tcp, ports: "\(Self.openPort)")],
                        ingress: [SecurityRule(peer: .vpc, proto: .tcp, ports: "7000")]),
                ]))
        let network = Network(harness: harness)
        do {
            harness.registry.add(try ProbeProgram.image(), repository: "probe", tag: "v1")
            try await body(network)
        } catch {
            await network.removeAll()
            await harness.close()
            throw error
        }
        await network.removeAll()
        await harness.close()
        for index in 0..<4 {
            let bridge = networks.bridge(index)
            #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(bridge)"), "the bridge \(bridge) went with the service")
        }
        let input = (try? CommandRunner.capture("/usr/sbin/iptables", ["-S", "IMC-INPUT"]).stdout) ?? ""
        #expect(!input.contains("--dport \(Self.apiPort) "), "the rule guarding the service's API port went with it")
    }

    /// Instances on VPCs of one harness, and what the tests read of them.
    final class Network: @unchecked Sendable {
        let harness: InstanceHarness
        private(set) var started: [String] = []
        var image: String { "\(harness.registry.host)/probe:v1" }
        var service: InstanceService { harness.service }

        init(harness: InstanceHarness) { self.harness = harness }

        /// Starts an instance of the probe image running `command` in a shell.
        func start(
            _ vpc: String, _ command: String, subnet: String? = nil, groups: [String] = [], runtime: RuntimeClass = .runc,
            drop: [String] = [], policy: RestartPolicy = .never
        ) async throws -> Instance {
            var security = ContainerSecurity()
            security.drop = drop
            var r = harness.request(image: image, command: ["/bin/sh", "-c", command], runtime: runtime, security: security, use: nil)
            r.restartPolicy = policy
            r.vpcID = vpc
            r.subnetID = subnet
            r.securityGroupIDs = groups
            let made = try await service.create(r, account: harness.account, region: harness.region)[0]
            started.append(made.id)
            return made
        }

        func log(_ i: Instance) async -> String {
            await (try? service.logs(id: i.id, account: harness.account, container: nil, tail: nil, limitBytes: nil).1) ?? ""
        }

        /// The instance's address, once it runs.
        func address(_ i: Instance) async throws -> String {
            try #require(try await harness.wait(i.id, until: { $0.status == .running || $0.status == .succeeded }).privateIP)
        }

        /// What it printed, once it has ended (and how it ended, when not well).
        func output(_ i: Instance) async throws -> String {
            let done = try await harness.wait(i.id) { $0.status == .succeeded || $0.status == .failed }
            return await done.status == .succeeded ? log(i) : log(i) + "(\(done.status): \(done.message ?? ""))"
        }

        /// Waits until the instance's log holds `text` (60 s at most).
        func waitForLog(_ i: Instance, _ text: String) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if await log(i).contains(text) { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("\(i.id) never printed \(text): \(await log(i))")
            throw CancellationError()
        }

        func events(_ i: Instance) async throws -> [CacheEvent] { try await service.get(id: i.id, account: harness.account).events }

        /// The VPC network (bridge index) the instance is on.
        func network(_ i: Instance) async throws -> Int {
            try #require(try await service.get(id: i.id, account: harness.account).networkIndex)
        }

        /// The MAC of the bridge (the gateway) of a running instance's VPC.
        func gatewayMAC(of i: Instance) async throws -> String {
            let index = try #require(try await service.get(id: i.id, account: harness.account).networkIndex)
            let bridge = service.network.networks.bridge(index)
            return try String(contentsOfFile: "/sys/class/net/\(bridge)/address", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func removeAll() async {
            try? await service.deleteAndWait(ids: started, account: harness.account)
            started = []
        }

        /// Removes the instances and checks that nothing of their networks is left.
        func removeAndCheck(_ instances: [Instance]) async throws {
            let ids = instances.map(\.id)
            try await service.deleteAndWait(ids: ids, account: harness.account)
            started.removeAll { ids.contains($0) }
            let links = try CommandRunner.capture("/usr/sbin/ip", ["-o", "link"]).stdout
            let rules = try CommandRunner.capture("/usr/sbin/iptables", ["-S"]).stdout
            let tables = try CommandRunner.capture("/usr/sbin/nft", ["list", "ruleset"]).stdout
            for id in ids {
                #expect(!links.contains(VPCNetworks.hostEnd(id)), "the veth of \(id) is gone")
                #expect(!rules.contains(String(id.suffix(8))), "the chains and rules of \(id) are gone")
                #expect(!tables.contains(String(id.suffix(8))), "the port binding of \(id) is gone")
            }
        }
    }

    /// Instances with a VpcId get an address on their VPC's network, a /24 per subnet: within a
    /// VPC, an instance is reached only as its security groups' ingress rules allow (the
    /// default group: from its own instances), within a subnet as across subnets; another VPC's
    /// instances never; the host is reached as the outside world is (its address, not imc's API
    /// port), where the groups' egress rules allow; an unknown group is refused with the real
    /// service's code; nothing of the network is left once they are gone.
    @Test func instancesOfOneVPCReachEachOtherAndNothingElse() async throws {
        try await withNetwork { net in
            // The host's own address (not loopback), with listeners on it.
            let hostIP = try CommandRunner.capture(
                "/bin/sh", ["-c", "ip -4 route get 1.1.1.1 | grep -o 'src [0-9.]*' | cut -d' ' -f2"]
            ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let ports = [Self.openPort, Self.otherPort, Self.apiPort]
            // Listeners in a session of their own, started by a shell that returns at once (no
            // long-lived Process object in the test runner), killed by their command line after
            // (with SIGKILL: the shell's loop outlived SIGTERM and every run left its listeners).
            for port in ports {
                _ = try CommandRunner.capture(
                    "/bin/sh",
                    [
                        "-c",
                        "setsid /bin/busybox sh -c 'while true; do busybox nc -l -p \(port) -e echo from-host; done' </dev/null >/dev/null 2>&1 &",
                    ])
            }
            defer {
                let alternatives = ports.map(String.init).joined(separator: "|")
                _ = try? CommandRunner.capture("/usr/bin/pkill", ["-9", "-f", "nc -l -p (\(alternatives)) -e echo from-host"])
            }
            let serve = "while true; do nc -l -p 7000 -e echo hi; done"
            // A listener serves one connection at a time: a client that finds it between two is
            // refused (a firewall here drops, never refuses), and one queued in the listen backlog
            // while the listener served another is closed unanswered when that nc exits (rc 0,
            // nothing read); either tries again, for up to 10 s (a loaded machine restarts the
            // listener slowly: a Ceph cluster starting beside this test).
            func dial(_ ip: String, _ port: Int = 7000) -> String {
                "for i in $(seq 50); do out=$(nc -w 3 \(ip) \(port) 2>&1); rc=$?; case \"$rc:$out\" in *refused*|0:) sleep 0.2;; *) break;; esac; done; "
                    + "echo \"$out\"; echo rc=$rc"
            }

            // A server of the default group, one of sg-web in another subnet of the VPC.
            let server = try await net.start("vpc-a", serve, subnet: "subnet-1", policy: .always)
            let web = try await net.start("vpc-a", serve, subnet: "subnet-2", groups: ["sg-web"], policy: .always)
            let (ip, webIP) = (try await net.address(server), try await net.address(web))
            #expect(ip.hasPrefix("10.") && webIP.hasPrefix("10."), "addresses of the VPC network: \(ip), \(webIP)")
            #expect(ip.split(separator: ".").prefix(3) != webIP.split(separator: ".").prefix(3), "a /24 per subnet: \(ip), \(webIP)")

            // Each client with what it must read: the server's "hi", the host's "from-host", or nil
            // (nothing: refused).
            let clients: [(name: String, instance: Instance, reads: String?)] = await [
                ("same group, same subnet", try net.start("vpc-a", dial(ip), subnet: "subnet-1"), "hi"),
                ("same group, no subnet named", try net.start("vpc-a", dial(ip)), "hi"),
                ("another group, same subnet", try net.start("vpc-a", dial(ip), subnet: "subnet-1", groups: ["sg-locked"]), nil),
                (
                    "another group, to sg-web's open port", try net.start("vpc-a", dial(webIP), subnet: "subnet-1", groups: ["sg-locked"]),
                    "hi"
                ),
                ("another VPC", try net.start("vpc-b", dial(ip)), nil),
                ("another VPC, to sg-web's open port", try net.start("vpc-b", dial(webIP), groups: ["sg-web"]), nil),
                // Each listener gets at most one connection that the firewall lets through.
                ("default group to the host", try net.start("vpc-a", dial(hostIP, Self.otherPort)), "from-host"),
                ("to imc's API port", try net.start("vpc-a", dial(hostIP, Self.apiPort)), nil),
                ("sg-locked to the host", try net.start("vpc-a", dial(hostIP, Self.openPort), groups: ["sg-locked"]), nil),
                ("sg-web to its allowed port", try net.start("vpc-a", dial(hostIP, Self.openPort), groups: ["sg-web"]), "from-host"),
                ("sg-web to another port", try net.start("vpc-a", dial(hostIP, Self.otherPort), groups: ["sg-web"]), nil),
            ]
            for (name, instance, reads) in clients {
                let out = try await net.output(instance)
                if let reads {
                    #expect(out == "\(reads)\nrc=0\n", "\(name) reaches: \(out)")
                } else {
                    #expect(out.contains("rc=1\n") && !out.contains("hi\n") && !out.contains("from-host"), "\(name) does not reach: \(out)")
                }
            }
            do {
                _ = try await net.start("vpc-a", "true", groups: ["sg-missing"])
                Issue.record("an unknown security group was taken")
            } catch let e as ServiceError {
                #expect(e.specificCode == "InvalidSecurityGroupId.NotFound" && e.message.contains("sg-missing"), "\(e)")
            }
            // DNS: the Pod's own (DnsConfig), else the host's resolvers that are not loopback.
            var r = net.harness.request(image: net.image, command: ["/bin/cat", "/etc/resolv.conf"], use: nil)
            r.vpcID = "vpc-a"
            r.dns = DNSSettings(nameservers: ["10.240.99.53"], searches: ["svc.local"], options: ["ndots:2"])
            let own = try await net.service.create(r, account: net.harness.account, region: net.harness.region)[0]
            #expect(try await net.output(own) == "nameserver 10.240.99.53\nsearch svc.local\noptions ndots:2\n")
            let hosts = DNSSettings.host(resolvConf: (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
            let inherited = try await net.start("vpc-a", "cat /etc/resolv.conf")
            #expect(try await net.output(inherited) == hosts.resolvConf)
            try await net.removeAndCheck([server, web, own, inherited] + clients.map(\.instance))
            await #expect(try net.harness.instances.allocatedAddresses().isEmpty, "every address given back")
        }
    }

    /// An instance sends only as itself, whatever it sends with: datagrams with a forged source
    /// (another VPC's instance's address, a sibling's, an unused one of its subnet, an outside
    /// one) from a raw socket, whole frames from a packet socket with a forged IPv4 source or a
    /// forged MAC, ARP claiming a sibling's address or its own address at another MAC, and IPv6
    /// never reach the listener; the honest datagram and the honest frame do. The sibling's
    /// address still leads to the sibling; an instance in promiscuous mode sees nobody's frames;
    /// the sender gets a `SpoofedTrafficDropped` Warning.
    @Test(arguments: runtimes)
    func anInstanceSendsOnlyAsItself(runtime: RuntimeClass) async throws {
        try await withNetwork { net in
            let listener = try await net.start("vpc-a", "/probe udp-listen 9000 120", subnet: "subnet-1")
            let sibling = try await net.start("vpc-a", "sleep 120", subnet: "subnet-1")
            let stranger = try await net.start("vpc-b", "sleep 120")
            let sniffer = try await net.start("vpc-a", "/probe sniff 120", subnet: "subnet-1")
            let (to, siblingIP, strangerIP) = (
                try await net.address(listener), try await net.address(sibling), try await net.address(stranger)
            )
            try await net.waitForLog(listener, "ready")
            try await net.waitForLog(sniffer, "ready")
            let unused = to.split(separator: ".").prefix(3).joined(separator: ".") + ".250"
            let gateway = try await net.gatewayMAC(of: listener)
            let script = [
                "/probe net-caps",
                "/probe udp-send \(to) 9000 honest",
                "/probe raw-udp \(strangerIP) \(to) 9000 forged-another-vpc",
                "/probe raw-udp \(siblingIP) \(to) 9000 forged-sibling",
                "/probe raw-udp \(unused) \(to) 9000 forged-unused",
                "/probe raw-udp 198.51.100.7 \(to) 9000 forged-outside",
                "/probe packet-udp \(gateway) own own \(to) 9000 packet-honest",
                "/probe packet-udp \(gateway) own \(siblingIP) \(to) 9000 packet-forged-ip",
                "/probe packet-udp \(gateway) 0a:58:de:ad:be:ef own \(to) 9000 packet-forged-mac",
                "/probe arp own \(siblingIP)",
                "/probe arp 0a:58:de:ad:be:ef own",
                "/probe ipv6 33:33:00:00:00:01",
                "sleep 1",
            ].joined(separator: "; ")
            let attacker = try await net.start("vpc-a", script, subnet: "subnet-1", runtime: runtime)
            let said = try await net.output(attacker)
            let attackerIP = try await #require(try net.service.get(id: attacker.id, account: net.harness.account).privateIP)
            // The host sends the listener a datagram too: the sniffer must not see it either.
            _ = try CommandRunner.capture("/bin/sh", ["-c", "echo from-the-host | busybox nc -u -w 1 \(to) 9000"])
            try await Task.sleep(for: .milliseconds(300))
            let heard = await net.log(listener)
            print("\(runtime.rawValue) attacker said:\n\(said)\nlistener heard:\n\(heard)")

            #expect(heard.contains("from \(attackerIP) honest"), "the honest datagram arrives: \(heard)")
            #expect(!heard.contains("forged"), "no forged datagram arrives: \(heard)")
            if said.contains("packet-udp sent") {
                #expect(heard.contains("from \(attackerIP) packet-honest"), "the honest frame arrives: \(heard)")
            }
            // Every forged datagram left the instance (and under runc every frame too): the port is
            // what stopped them. gVisor's netstack sends no frame from a packet socket.
            #expect(said.components(separatedBy: "raw-udp sent").count == 5, "\(said)")
            if runtime == .runc {
                #expect(said.components(separatedBy: "packet-udp sent").count == 4, "\(said)")
                #expect(said.components(separatedBy: "arp sent").count == 3 && said.contains("ipv6 sent"), "\(said)")
            }
            // The counters of the attacker's port say why.
            let drops = try #require(await VPCNetworks.portDrops()?[String(attacker.id.suffix(8))])
            if said.contains("raw-udp sent") { #expect((drops[.sourceIP] ?? 0) >= 4, "\(drops)") }
            if said.contains("packet-udp sent") { #expect((drops[.sourceMAC] ?? 0) >= 1, "\(drops)") }
            if said.contains("arp sent") { #expect((drops[.arp] ?? 0) >= 2, "\(drops)") }
            if said.contains("ipv6 sent") { #expect((drops[.otherProtocol] ?? 0) >= 1, "\(drops)") }
            // The host still takes the sibling's address to the sibling.
            let neighbours = try CommandRunner.capture("/usr/sbin/ip", ["neigh", "show", "to", siblingIP]).stdout
            let all = try CommandRunner.capture("/usr/sbin/ip", ["neigh"]).stdout
            #expect(neighbours.contains(VPCNetworks.mac(for: siblingIP)) && neighbours.contains("PERMANENT"), "\(neighbours) \(all)")
            // The sender is told, once.
            await net.service.collectPortDrops()
            if drops.filter({ $0.key.isSpoofing }).values.contains(where: { $0 > 0 }) {
                let warnings = try await net.events(attacker).filter { $0.reason == InstanceEventReason.spoofedTrafficDropped.rawValue }
                #expect(warnings.count == 1 && warnings[0].type == .warning, "\(warnings)")
                #expect(warnings.first?.message.contains("sent as another address") == true)
            }
            // Nobody read anybody else's frames.
            try await Task.sleep(for: .milliseconds(600))
            let sniffed = await net.log(sniffer).split(separator: "\n").last { $0.hasPrefix("sniff ") }.map(String.init) ?? ""
            #expect(sniffed.contains("promiscuous=yes others=0 "), "\(sniffed)")
            try await net.removeAndCheck([listener, sibling, stranger, sniffer, attacker])
        }
    }

    /// Raw and packet sockets are the container's as Docker's and Kubernetes' defaults give them
    /// (`CAP_NET_RAW`), and gone when its `capabilities.drop` names `NET_RAW` (or `ALL`).
    @Test(arguments: runtimes)
    func droppingNetRawTakesRawSocketsAway(runtime: RuntimeClass) async throws {
        try await withNetwork { net in
            let kept = try await net.start("vpc-a", "/probe net-caps", runtime: runtime)
            let dropped = try await net.start("vpc-a", "/probe net-caps", runtime: runtime, drop: ["CAP_NET_RAW"])
            let all = try await net.start("vpc-a", "/probe net-caps", runtime: runtime, drop: ["ALL"])
            let keptSays = try await net.output(kept)
            #expect(keptSays.contains("raw-socket allowed") && keptSays.contains("packet-socket allowed"), "\(keptSays)")
            for instance in [dropped, all] {
                let says = try await net.output(instance)
                #expect(
                    says.contains("raw-socket Operation not permitted") && says.contains("packet-socket Operation not permitted"), "\(says)"
                )
            }
            try await net.removeAndCheck([kept, dropped, all])
        }
    }

    /// One instance opening connections as fast as it can (a SYN flood into the outside world,
    /// which never answers) is held to its cap of tracked connections, and is told so; another
    /// instance's new connections (to its VPC, and out through NAT) and the host's still go
    /// through; the flooder's connections are forgotten with it.
    @Test(arguments: runtimes)
    func aFloodingInstanceCannotFillTheHostsConnectionTable(runtime: RuntimeClass) async throws {
        let outside = try OutsideWorld()
        defer { outside.remove() }
        try await withNetwork { net in
            let server = try await net.start("vpc-a", "while true; do nc -l -p 7000 -e echo hi; done", policy: .always)
            let serverIP = try await net.address(server)
            let flooder = try await net.start(
                "vpc-a",
                "/probe syn-flood \(outside.address) 9 5000 10; /probe tcp-get \(outside.address) 80; echo flood-done; sleep 120",
                runtime: runtime)
            try await net.waitForLog(flooder, "flood-done")
            let flooderIP = try await net.address(flooder)
            let said = await net.log(flooder)
            let sent = Int(said.split(separator: "\n").first { $0.hasPrefix("syn-flood sent") }?.split(separator: " ")[2] ?? "0") ?? 0
            #expect(sent > 10 * Self.connectionLimit, "the flood sent \(sent): \(said)")
            let tracked = try OutsideWorld.trackedConnections(from: flooderIP)
            let table = (try? String(contentsOfFile: "/proc/net/nf_conntrack", encoding: .utf8)) ?? ""
            let mentioning = table.split(separator: "\n").filter { $0.contains("=\(flooderIP) ") }
            var why = ""
            if tracked == 0 {
                // What the host did with the flooder's packets, for the reader of a failure.
                let key = String(flooder.id.suffix(8))
                for command in [
                    "iptables -L FORWARD -v -n -x | head -8", "iptables -L IMC-FORWARD -v -n -x", "iptables -L IMC-OUT-\(key) -v -n -x",
                    "iptables -S IMC-EGRESS", "conntrack -S | head -4", "nft list chain ip imc instance-\(key)",
                    "nft list counters | grep -A1 \(key)",
                    "ip route get \(outside.address) from \(flooderIP) iif imcb$(printf %04x \(try await net.network(flooder)))",
                ] {
                    let shown = try? CommandRunner.capture("/bin/sh", ["-c", command])
                    why += "\n$ \(command)\n\(shown?.stdout ?? "")\(shown?.stderr ?? "")"
                }
                why += "\nevents: \((try? await net.events(flooder).map { "\($0.reason): \($0.message)" }) ?? [])"
            }
            // Held to its cap: the host tracks no more than the cap of the flooder's connections,
            // and the cap's own counter dropped the flood (ten times the cap at least; what the
            // flooder's own kernel drops while it resolves its gateway never reaches the port). (The host's table is read
            // as a bound only: in about one full run in five its entries of the flooder were
            // gone by the time it was read, though the cap had counted them and they had passed
            // the forward chain; what removes them is not found yet: see the output below when
            // it happens.)
            let capped = await VPCNetworks.portDrops()?[String(flooder.id.suffix(8))]?[.connectionLimit] ?? 0
            #expect(
                tracked <= Self.connectionLimit && capped > UInt64(10 * Self.connectionLimit),
                "\(tracked) of the flooder's connections are tracked, \(capped) dropped by its cap; it said \(said); the table holds \(mentioning.count) lines with its address: \(mentioning.prefix(3))\(why)"
            )
            if tracked == 0 { print("flood test: the host's table held none of the flooder's connections\(why)") }
            #expect(said.contains("tcp failed"), "the flooder's own next connection is past its cap: \(said)")

            // Another instance, of the same runtime, the honest paths: TCP and UDP in its VPC,
            // TCP out through NAT (the outside world has no route back to 10.240.0.0/12).
            let listener = try await net.start("vpc-a", "/probe udp-listen 9000 60")
            let listenerIP = try await net.address(listener)
            try await net.waitForLog(listener, "ready")
            let other = try await net.start(
                "vpc-a",
                "/probe tcp-get \(serverIP) 7000; /probe tcp-get \(outside.address) 80; /probe udp-send \(listenerIP) 9000 honest-udp",
                runtime: runtime)
            let otherSaid = try await net.output(other)
            if !otherSaid.contains("tcp read hi") {
                // What the host saw of the instance's port, to tell why.
                let drops = await VPCNetworks.portDrops()?[String(other.id.suffix(8))]
                let state = try CommandRunner.capture(
                    "/bin/sh",
                    ["-c", "ip neigh show; bridge fdb show | grep -v permanent | grep -v 33:33 | grep -v 01:00:5e; ip -o link | grep imcv"]
                ).stdout
                let events = try await net.events(other).map(\.message)
                Issue.record("the other instance reached nothing: drops \(String(describing: drops)); \(state); \(events)")
            }
            #expect(otherSaid.contains("tcp read hi"), "TCP within the VPC: \(otherSaid)")
            #expect(otherSaid.contains("tcp read outside"), "TCP out through NAT: \(otherSaid)")
            try await Task.sleep(for: .milliseconds(300))
            let heardUDP = await net.log(listener)
            #expect(heardUDP.contains("honest-udp"), "UDP within the VPC: \(heardUDP)")
            // The host's own new connection.
            let host = try CommandRunner.capture("/bin/sh", ["-c", "busybox nc -w 3 \(outside.address) 80"]).stdout
            #expect(host.contains("outside"), "the host connects: \(host)")

            await net.service.collectPortDrops()
            let warned = try await net.events(flooder).filter { $0.reason == InstanceEventReason.connectionLimitReached.rawValue }
            #expect(warned.count == 1 && warned.first?.message.contains("\(Self.connectionLimit) connections tracked") == true, "\(warned)")
            try await net.removeAndCheck([flooder])
            #expect(try OutsideWorld.trackedConnections(from: flooderIP) == 0, "the flooder's connections went with it")
            try await net.removeAndCheck([server, listener, other])
        }
    }
}

/// A network namespace standing for the world outside: a veth from the host, an address of
/// 198.18.0.0/15 (the benchmarking block) with no route back to instances (only NAT answers
/// reach them), a TCP listener on port 80 that says "outside", and port 9 dropping everything
/// (a flood's SYNs are never answered).
struct OutsideWorld {
    let name: String
    let hostEnd: String
    let address: String

    init() throws {
        let n = Int.random(in: 1..<16000)
        name = "imct-\(n)"
        hostEnd = "imco\(n)"
        let base = "198.18.\(n / 64).\((n % 64) * 4)"
        let prefix = base.split(separator: ".").prefix(3).joined(separator: ".")
        let last = Int(base.split(separator: ".")[3])!
        let hostAddress = "\(prefix).\(last + 1)"
        address = "\(prefix).\(last + 2)"
        let script = """
            set -e
            ip netns add \(name)
            ip link add \(hostEnd) type veth peer name eth0 netns \(name)
            ip addr add \(hostAddress)/30 dev \(hostEnd)
            ip link set \(hostEnd) up
            ip -n \(name) addr add \(address)/30 dev eth0
            ip -n \(name) link set eth0 up
            ip -n \(name) link set lo up
            ip netns exec \(name) iptables -A INPUT -p tcp --dport 9 -j DROP
            setsid ip netns exec \(name) /bin/busybox sh -c 'while true; do busybox nc -l -p 80 -e echo outside; done' </dev/null >/dev/null 2>&1 &
            """
        let made = try CommandRunner.capture("/bin/sh", ["-c", script])
        guard made.status == 0 else { throw TestSupportError("cannot make the outside world: \(made.stderr)") }
    }

    func remove() {
        _ = try? CommandRunner.capture(
            "/bin/sh", ["-c", "ip netns pids \(name) | xargs -r kill -9; ip netns del \(name); ip link del \(hostEnd) 2>/dev/null; true"])
    }

    /// How many connections the host tracks whose original source is `address`.
    static func trackedConnections(from address: String) throws -> Int {
        let table = try String(contentsOfFile: "/proc/net/nf_conntrack", encoding: .utf8)
        return table.split(separator: "\n").filter { line in
            line.split(separator: " ").first { $0.hasPrefix("src=") } == "src=\(address)"
        }.count
    }
}
