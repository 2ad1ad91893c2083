import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import IMCBillingService
import IMCCaches
import IMCCloudAPI
import IMCConfiguration
import IMCConsole
import IMCDisks
import IMCDoors
import IMCInstance
import IMCInstances
import IMCKubernetes
import IMCModel
import IMCNetworking
import IMCNodes
import IMCOS
import IMCObservability
import IMCRegistry
import IMCRuntime
import IMCServiceSupport
import IMCStore
import Logging
import ServiceLifecycle
import Synchronization

/// `imc serve`: the image cache service with its embedded defaults.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Run the image cache service: the Cloud API (TC3-signed) over an SQLite database under the data root, or PostgreSQL with --database."
    )

    @Option(help: "Where the database, disks and snapshots live.")
    var dataRoot = "/var/lib/imc"

    @Option(
        help:
            "Where the state is kept: a postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL (shared by every replica), or an SQLite file (default: imc.sqlite under the data root)."
    )
    var database: String?

    @Option(
        name: .customLong("ceph-conf"),
        help:
            "A ceph.conf: data disks become RBD images of --rbd-pool, snapshots protected RBD snapshots, instances' disks copy-on-write clones (default: the local reflink pool)."
    )
    var cephConf: String?

    @Option(name: .customLong("rbd-pool"), help: "The Ceph pool of disks and snapshots (with --ceph-conf).")
    var rbdPool = "rbd"

    @Option(
        name: .customLong("node-name"),
        help: "This host's name among imc's hosts (build claims, placement); the same after a restart (default: the host name).")
    var nodeName: String?

    @Option(
        help:
            "What this process is among imc's hosts: api (answers the doors, places instances on nodes, watches nodes), node (registers, heartbeats, runs the instances placed on it, builds caches), or all (both: the embedded default)."
    )
    var role: Role = .all

    @Option(name: .customLong("node-cpu"), help: "CPUs this node offers to instances (default: the host's cores times 8).")
    var nodeCPU: Double?

    @Option(name: .customLong("node-memory-gib"), help: "GiB of memory this node offers to instances (default: the host's memory).")
    var nodeMemoryGiB: Double?

    @Option(name: .customLong("heartbeat-seconds"), help: "Seconds between a node's heartbeats.")
    var heartbeatSeconds: Double = 2

    @Option(
        name: .customLong("node-lost-seconds"),
        help: "Seconds without a heartbeat after which a node is declared lost, fenced, and its instances started elsewhere.")
    var nodeLostSeconds: Double = 20

    @Option(help: "HOST:PORT to serve plain HTTP on: a loopback address only (local tools, tests).")
    var listen = "127.0.0.1:8080"

    @Option(
        name: .customLong("listen-tls"),
        help: "HOST:PORT to serve HTTPS on (the Cloud API's door for every other client); port 0 picks one; 'off' serves none.")
    var listenTLS = "127.0.0.1:8443"

    @Option(help: "A YAML file with regions, accounts and limits.")
    var config: String?

    @Option(help: "Caches built at once (shared fairly between accounts); 0 serves the API only (caches stay Pending).")
    var builders = 2

    @Option(help: "Size of the XFS disk pool created under the data root when its filesystem cannot clone (sparse).")
    var poolSizeGib: Int64 = 4096

    @Option(
        name: .customLong("plain-http"),
        help: "A registry (HOST[:PORT]) spoken to over plain HTTP when instances pull (as in imc pull and imc run); repeatable.")
    var plainHTTP: [String] = []

    @Option(help: "Seconds a registry transfer may make (next to) no progress before it is cut; the config's builds.stallSeconds.")
    var registryStallTimeout: Int?

    @Option(
        name: .customLong("allow-registry-network"),
        help:
            "A network (10.0.0.0/8, 127.0.0.1/32) whose registries may be reached although the address rules refuse it; repeatable (with the config's registries.allowedNetworks)."
    )
    var allowRegistryNetwork: [String] = []

    @Option(help: "The runtime class of instances that name none: runc or gvisor (the config's instances.runtimeClass).")
    var runtimeClass: String?

    @Flag(help: "Run build jobs in this process instead of a sandbox (for debugging imc itself only).")
    var buildsInProcess = false

    @Option(help: "Hours between re-reads of every snapshot against its checksum (0: never).")
    var scrubIntervalHours = 24

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
        guard let (host, _) = Self.split(listen) else { throw ValidationError("--listen must be HOST:PORT, not \(listen)") }
        guard Self.isLoopback(host) else {
            throw ValidationError(
                "--listen \(listen) is not a loopback address: plain HTTP is served on loopback only; serve other clients with --listen-tls"
            )
        }
        guard listenTLS == "off" || Self.split(listenTLS) != nil else {
            throw ValidationError("--listen-tls must be HOST:PORT or off, not \(listenTLS)")
        }
        for network in allowRegistryNetwork where CIDR(network) == nil {
            throw ValidationError("--allow-registry-network \(network) is not a network like 10.0.0.0/8")
        }
        if let runtimeClass, RuntimeClass(rawValue: runtimeClass) == nil {
            throw ValidationError("--runtime-class must be runc or gvisor, not \(runtimeClass)")
        }
        if let nodeCPU, !(nodeCPU > 0 && nodeCPU <= 100_000) {
            throw ValidationError("--node-cpu must be more than 0 and at most 100000, not \(nodeCPU)")
        }
        if let nodeMemoryGiB, !(nodeMemoryGiB > 0 && nodeMemoryGiB <= 1_000_000) {
            throw ValidationError("--node-memory-gib must be more than 0 and at most 1000000, not \(nodeMemoryGiB)")
        }
        guard heartbeatSeconds >= 0.1 && heartbeatSeconds <= 60 else {
            throw ValidationError("--heartbeat-seconds must be from 0.1 to 60, not \(heartbeatSeconds)")
        }
        guard nodeLostSeconds >= 2 * heartbeatSeconds && nodeLostSeconds <= 3600 else {
            throw ValidationError(
                "--node-lost-seconds must be at least twice --heartbeat-seconds (\(heartbeatSeconds)) and at most 3600, not \(nodeLostSeconds)"
            )
        }
        guard (0...16).contains(builders) else { throw ValidationError("--builders must be from 0 to 16, not \(builders)") }
        guard (0...8760).contains(scrubIntervalHours) else {
            throw ValidationError("--scrub-interval-hours must be from 0 to 8760, not \(scrubIntervalHours)")
        }
        if let registryStallTimeout, !(1...3600).contains(registryStallTimeout) {
            throw ValidationError("--registry-stall-timeout must be from 1 to 3600 seconds, not \(registryStallTimeout)")
        }
    }

    /// Containers and build sandboxes run as unprivileged host ids that must pass through every
    /// directory above the data root to reach their own; a directory that lets no one else pass
    /// is refused here, by name, rather than failing every container later.
    static func checkTraversable(_ dataRoot: String) throws {
        var path = URL(fileURLWithPath: dataRoot).standardizedFileURL.resolvingSymlinksInPath().path
        while path != "/" && !path.isEmpty {
            path = (path as NSString).deletingLastPathComponent
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            if st.st_mode & 0o001 == 0 {
                throw ValidationError(
                    "--data-root \(dataRoot): the directory \(path) above it lets no other user pass (mode \(String(st.st_mode & 0o777, radix: 8))); containers and build sandboxes run as unprivileged ids that must: chmod o+x \(path), or choose another data root"
                )
            }
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || IPAddress(host).map { AddressPolicy().refusal($0) == .loopback } ?? false
    }

    static func split(_ s: String) -> (String, Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        return (String(s[..<colon]), port)
    }

    func run() async throws {
        LoggingSystem.bootstrap(
            { label, provider in StreamLogHandler.standardError(label: label, metadataProvider: provider) },
            metadataProvider: RequestID.metadataProvider)
        var logger = Logger(label: "imc")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let exporter = MetricsExporter.shared
        // The service is what every tenant depends on: the kernel's OOM killer takes an
        // instance's process, never this one.
        try? "-999".write(toFile: "/proc/self/oom_score_adj", atomically: false, encoding: .utf8)
        // 0711: the sandboxes' and containers' unprivileged roots pass through to their own
        // directories; nothing here can be listed by them.
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        chmod(dataRoot, 0o711)
        try Self.checkTraversable(dataRoot)
        var settings = ServiceConfiguration()
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("--config \(config): cannot read the file")
            }
            settings = try ServiceConfiguration.parse(text, source: config)
        }
        if let runtimeClass, let runtime = RuntimeClass(rawValue: runtimeClass) { settings.instances.defaultRuntimeClass = runtime }
        if let registryStallTimeout { settings.builds.stall = .seconds(registryStallTimeout) }
        let environment = ProcessInfo.processInfo.environment
        // Registry passwords and the root key are sealed at rest with this key.
        let secrets = try SecretBox.load(environment: environment, path: dataRoot + "/master.key")
        let (root, created) = try Accounts.root(environment: environment, dataRoot: dataRoot, secrets: secrets)
        let state: StateStore
        do { state = try await StateStore.open(database: database, dataRoot: dataRoot, secrets: secrets) } catch let error as StoreError {
            throw ValidationError("--database: \(error.message)")
        }
        logger.info("state in \(state.description)")
        let repository = state.caches
        var opened = try await DiskPool.open(dataRoot: dataRoot, poolSizeGiB: poolSizeGib)
        opened.reserveBytes = Int64(settings.reserveGiB) << 30
        let pool = opened
        var rbd: RBDDisks?
        if let cephConf {
            do { rbd = try await RBDDisks.attach(configuration: cephConf, pool: rbdPool, maps: self.dataRoot + "/rbd") } catch {
                throw ValidationError("--ceph-conf \(cephConf): \(error)")
            }
        }
        let node = nodeName ?? ProcessInfo.processInfo.hostName
        let disks = DiskManager(pool: pool, rbd: rbd, node: node)
        let snapshots: any SnapshotStore = rbd == nil ? LocalSnapshotStore(disks: disks) : try RBDSnapshotStore(disks: disks)
        if let rbd { logger.info("disks and snapshots in RBD pool \(rbd.pool.pool) (\(rbd.pool.configuration)), mapped under \(rbd.maps)") }
        var clientOptions = RegistryClientOptions()
        let stallSeconds = Int64(settings.builds.stall.components.seconds)
        clientOptions.stallTimeout = .seconds(stallSeconds)
        clientOptions.connectTimeout = .seconds(min(stallSeconds, 10))
        clientOptions.addressPolicy = .service(allowing: settings.allowedNetworks + allowRegistryNetwork.compactMap(CIDR.init))
        let builds = Wakeup()
        let usage = state.usage
        let meter = Meter(usage: usage, logger: logger)
        let service = CacheService(
            repository: repository, limits: settings.limits, quotas: settings.quotas, snapshots: snapshots, builds: builds, meter: meter)
        let instanceRepository = state.instances
        // Instances are placed among nodes when there may be more than this host: a shared
        // database, or a role other than all. The embedded default runs them all here.
        let usesNodes = role != .all || (database.map { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") } ?? false)
        let sandbox =
            buildsInProcess ? nil : try BuildSandbox(root: dataRoot + "/sandboxes", ranges: instanceRepository, logger: logger)
        let builder = CacheBuilder(
            repository: repository, disks: disks, snapshots: snapshots, workRoot: dataRoot + "/build", clientOptions: clientOptions,
            diskRecords: instanceRepository, meter: meter, policy: settings.builds, sandbox: sandbox, plainHTTPHosts: Set(plainHTTP),
            logger: logger)
        let worker = BuildWorker(
            builder: builder, repository: repository, disks: disks, snapshots: snapshots, wakeup: builds,
            owner: node, logger: logger)
        let instances = try InstanceService(
            repository: instanceRepository, caches: service, disks: disks, snapshots: snapshots,
            root: dataRoot + "/instances", registry: RegistryConfig(plainHTTPHosts: Set(plainHTTP)), clientOptions: clientOptions,
            limits: settings.instances, meter: meter, defaults: settings.defaults,
            network: {
                // imc's own API ports are unreachable from instances on any of the host's addresses.
                var n = settings.network
                let ports = [listen, listenTLS].compactMap { Self.split($0)?.1 }
                n.networks = VPCNetworks(
                    first: n.networks.first, count: n.networks.count, apiPorts: ports, connectionLimit: n.networks.connectionLimit)
                return n
            }(), nodes: usesNodes ? state.nodes : nil, runsInstances: role.runsInstances, objects: state.objects, logger: logger)
        let billing = BillingService(usage: usage, prices: settings.prices)
        let sweeper = ExpirySweeper(service: service, releaseRetainedDisks: { try await instances.sweepRetainedDisks() }, logger: logger)
        // What a crash left (instances' containers and mounts, build mounts, disks, orphaned
        // snapshots) goes before anything runs; caches that were building are built again.
        let disksInUse = try await instances.recover()
        try await worker.recover(keepingDisks: disksInUse)
        let accounts = Accounts([root] + settings.keys)

        // The doors, composed on one router: the Cloud API, the console, and the operator's routes.
        let router = Router(context: DoorContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: HTTPMetricsMiddleware())
        let kubernetes = KubernetesAPI(
            accounts: accounts, caches: service, instances: instances, objects: state.objects,
            region: settings.regions.sorted().first ?? "ap-guangzhou")
        // A node answers only the operator's routes (health, metrics); the doors are the API's.
        if role.servesDoors {
            CloudAPI(accounts: accounts, service: service, instances: instances, billing: billing, regions: settings.regions).addRoutes(
                to: router)
            kubernetes.addRoutes(to: router)
            await state.observeCommits { kubernetes.storeChanged.signal() }
            try await Console(
                caches: service, instances: instances, billing: billing, regions: settings.regions.sorted(),
                authenticate: { id, key in accounts.account(secretID: id, secretKey: key) }
            ).addRoutes(to: router)
        }
        let dataRoot = self.dataRoot
        OperationsRoutes(
            exporter: exporter, ready: { await state.ready() },
            refresh: {
                IMCMetrics.setCounts(
                    caches: (try? await repository.countByStatus()) ?? [:],
                    instances: (try? await instanceRepository.countByStatus()) ?? [:])
                IMCMetrics.setFreeSpace(pool: FreeSpace.bytes(at: pool.root), dataRoot: FreeSpace.bytes(at: dataRoot))
            }
        ).addRoutes(to: router)

        guard let (host, port) = Self.split(listen) else { throw ValidationError("--listen must be HOST:PORT") }
        let regions = settings.regions.sorted().joined(separator: ", ")
        let announce = Announcements()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // HTTP/1.1, and WebSocket upgrades on the routes that take one (`kubectl exec`).
        let http: HTTPServerBuilder =
            role.servesDoors
            ? .doors(webSocketRouter: kubernetes.webSocketRouter(), maxFrameSize: 1 << 20)
            : .http1()
        let plain = Application(
            router: router, server: http, configuration: .init(address: .hostname(host, port: port), serverName: "imc"),
            onServerRunning: { channel in
                announce.add(
                    0,
                    "imc serve: listening on http://\(host):\(channel.localAddress?.port ?? port) (loopback), regions \(regions), data root \(dataRoot)"
                )
            }, logger: logger)
        services.append(.init(service: plain))
        var expected = 1
        if listenTLS != "off", let (tlsHost, tlsPort) = Self.split(listenTLS) {
            expected = 2
            let identity =
                try settings.tls.map { try TLSIdentity.files(certificate: $0.certificate, key: $0.key) }
                ?? TLSIdentity.generated(in: dataRoot + "/tls", names: [tlsHost, ProcessInfo.processInfo.hostName])
            let secure = Application(
                router: router, server: try .tls(http, tlsConfiguration: try identity.configuration()),
                configuration: .init(address: .hostname(tlsHost, port: tlsPort), serverName: "imc"),
                onServerRunning: { channel in
                    kubernetes.published.set(
                        server: "https://\(tlsHost):\(channel.localAddress?.port ?? tlsPort)\(KubernetesAPI.prefix)",
                        caPEMPath: identity.generated ? identity.trustPath : nil)
                    announce.add(
                        1,
                        "imc serve: listening on https://\(tlsHost):\(channel.localAddress?.port ?? tlsPort)\n"
                            + "  TLS certificate SHA-256 fingerprint \(identity.fingerprint)\n"
                            + "  clients trust \(identity.trustPath) (Python SDK: HttpProfile(certification=...); tccli: append it to the file certifi.where() names)"
                    )
                }, logger: logger)
            services.append(.init(service: secure))
        }
        announce.whenAll(expected) { lines in
            var out = lines
            if created {
                out += [
                    "root account created; shown once, kept in \(dataRoot)/root-credentials (mode 0600):",
                    "  SecretId:  \(root.secretID)", "  SecretKey: \(root.secretKey)",
                ]
            }
            FileHandle.standardOutput.write(Data((out.joined(separator: "\n") + "\n").utf8))
        }
        services += [.init(service: sweeper), .init(service: InstanceSupervisor(service: instances))]
        if role.runsInstances { services.append(.init(service: PortDropWatch(service: instances))) }
        services.append(
            .init(
                service: CacheRefresher(
                    service: service, clientOptions: clientOptions, plainHTTPHosts: Set(plainHTTP), logger: logger)))
        // Builds need a host's disks: nodes build, API replicas do not.
        if role.runsInstances { services += (0..<builders).map { _ in .init(service: worker) } }
        if usesNodes && role.runsInstances {
            let nodeWake = Wakeup()
            await state.observeCommits { nodeWake.signal() }
            let store = snapshots
            let local: @Sendable () -> Set<String> = { Set(store.allSnapshotIDs()) }
            let localSnapshots = rbd == nil ? local : nil
            let capacity = NodeCapacity(
                cpu: nodeCPU ?? Double(ProcessInfo.processInfo.activeProcessorCount * 8),
                memoryGiB: nodeMemoryGiB ?? (Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)).rounded(),
                diskGiB: FreeSpace.bytes(at: pool.root).map { $0 >> 30 } ?? 0)
            services.append(
                .init(
                    service: NodeAgent(
                        service: instances, nodes: state.nodes, capacity: capacity, interval: .seconds(heartbeatSeconds), wakeup: nodeWake,
                        localSnapshots: localSnapshots, logger: logger)))
        }
        if usesNodes && role.servesDoors {
            services.append(
                .init(service: NodeWatch(service: instances, nodes: state.nodes, lostAfter: .seconds(nodeLostSeconds), logger: logger)))
        }
        if scrubIntervalHours > 0 {
            services.append(
                .init(
                    service: SnapshotScrubber(
                        repository: repository, snapshots: snapshots, interval: .seconds(Int64(scrubIntervalHours) * 3600), logger: logger))
            )
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        // A clean stop: the instances are stopped (InstanceSupervisor); what imc mounted goes, so
        // that an operator can remove the data root; the next start mounts it again.
        do { try await pool.release() } catch { logger.error("the disk pool could not be unmounted", metadata: ["error": "\(error)"]) }
    }
}

/// The start-up lines of the listeners, printed together once every listener runs (the plain
/// one first), so that a script reading standard output sees the addresses in a fixed order.
final class Announcements: Sendable {
    private let state = Mutex<(lines: [Int: String], expected: Int, print: (@Sendable ([String]) -> Void)?)>(([:], .max, nil))

    func add(_ order: Int, _ line: String) {
        let ready = state.withLock { s -> ([String], @Sendable ([String]) -> Void)? in
            s.lines[order] = line
            guard s.lines.count == s.expected, let print = s.print else { return nil }
            s.print = nil
            return (s.lines.keys.sorted().compactMap { s.lines[$0] }, print)
        }
        if let (lines, print) = ready { print(lines) }
    }

    func whenAll(_ expected: Int, _ print: @escaping @Sendable ([String]) -> Void) {
        state.withLock {
            $0.expected = expected
            $0.print = print
        }
    }
}

/// What an `imc serve` process is among imc's hosts.
enum Role: String, ExpressibleByArgument, CaseIterable {
    /// Answers the doors, places instances on nodes, watches nodes.
    case api
    /// Registers, heartbeats, runs the instances placed on it, builds caches.
    case node
    /// Both: the embedded default.
    case all

    var servesDoors: Bool { self != .node }
    var runsInstances: Bool { self != .api }
}
