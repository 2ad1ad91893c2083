import ArgumentParser
import Foundation
import Hummingbird
import IMCCloudAPI
import IMCConsole
import IMCDisks
import IMCDoors
import IMCModel
import IMCOS
import IMCObservability
import IMCRegistry
import IMCService
import IMCStore
import Logging
import ServiceLifecycle

/// `imc serve`: the image cache service with its embedded defaults.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the image cache service: the Cloud API (TC3-signed) over an SQLite database under the data root.")

    @Option(help: "Where the database, disks and snapshots live.")
    var dataRoot = "/var/lib/imc"

    @Option(help: "HOST:PORT to listen on.")
    var listen = "127.0.0.1:8080"

    @Option(help: "A YAML file with regions, accounts and limits.")
    var config: String?

    @Option(help: "Caches built at once; 0 serves the API only (caches stay Pending).")
    var builders = 1

    @Option(help: "Size of the XFS disk pool created under the data root when its filesystem cannot clone (sparse).")
    var poolSizeGib: Int64 = 4096

    @Option(
        name: .customLong("plain-http"),
        help: "A registry (HOST[:PORT]) spoken to over plain HTTP when instances pull (as in imc pull and imc run); repeatable.")
    var plainHTTP: [String] = []

    @Option(help: "Seconds a registry transfer may make no progress before it is cut and retried.")
    var registryStallTimeout: Int = 30

    @Option(help: "Hours between re-reads of every snapshot against its checksum (0: never).")
    var scrubIntervalHours = 24

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
        guard Self.split(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, not \(listen)") }
        guard (0...16).contains(builders) else { throw ValidationError("--builders must be from 0 to 16, not \(builders)") }
        guard (0...8760).contains(scrubIntervalHours) else {
            throw ValidationError("--scrub-interval-hours must be from 0 to 8760, not \(scrubIntervalHours)")
        }
        guard (1...3600).contains(registryStallTimeout) else {
            throw ValidationError("--registry-stall-timeout must be from 1 to 3600 seconds, not \(registryStallTimeout)")
        }
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
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var settings = ServiceConfiguration()
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("--config \(config): cannot read the file")
            }
            settings = try ServiceConfiguration.parse(text, source: config)
        }
        let environment = ProcessInfo.processInfo.environment
        // Registry passwords and the root key are sealed at rest with this key.
        let secrets = try SecretBox.load(environment: environment, path: dataRoot + "/master.key")
        let (root, created) = try Accounts.root(environment: environment, dataRoot: dataRoot, secrets: secrets)
        let database = try SQLiteDatabase(path: dataRoot + "/imc.sqlite", secrets: secrets)
        let repository = SQLiteCacheRepository(database: database)
        let pool = try await DiskPool.open(dataRoot: dataRoot, poolSizeGiB: poolSizeGib)
        let disks = DiskManager(pool: pool)
        let snapshots = LocalSnapshotStore(disks: disks)
        var clientOptions = RegistryClientOptions()
        clientOptions.stallTimeout = .seconds(Int64(registryStallTimeout))
        clientOptions.connectTimeout = .seconds(Int64(min(registryStallTimeout, 10)))
        let builds = Wakeup()
        let usage = SQLiteUsageRepository(database: database)
        let meter = Meter(usage: usage, logger: logger)
        let service = CacheService(repository: repository, limits: settings.limits, snapshots: snapshots, builds: builds, meter: meter)
        let instanceRepository = SQLiteInstanceRepository(database: database)
        let builder = CacheBuilder(
            repository: repository, disks: disks, snapshots: snapshots, workRoot: dataRoot + "/build", clientOptions: clientOptions,
            diskRecords: instanceRepository, meter: meter, logger: logger)
        let worker = BuildWorker(
            builder: builder, repository: repository, disks: disks, snapshots: snapshots, wakeup: builds, logger: logger)
        let instances = try InstanceService(
            repository: instanceRepository, caches: service, disks: disks, snapshots: snapshots,
            root: dataRoot + "/instances", registry: RegistryConfig(plainHTTPHosts: Set(plainHTTP)), clientOptions: clientOptions,
            meter: meter, logger: logger)
        let billing = BillingService(usage: usage, prices: settings.prices)
        let sweeper = ExpirySweeper(service: service, instances: instances, logger: logger)
        // What a crash left (instances' containers and mounts, build mounts, disks, orphaned
        // snapshots) goes before anything runs; caches that were building are built again.
        let disksInUse = try await instances.recover()
        try await worker.recover(keepingDisks: disksInUse)
        let accounts = Accounts([root] + settings.keys)

        // The doors, composed on one router: the Cloud API, the console, and the operator's routes.
        let router = Router(context: DoorContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: HTTPMetricsMiddleware())
        CloudAPI(accounts: accounts, service: service, instances: instances, billing: billing, regions: settings.regions).addRoutes(
            to: router)
        try Console(
            caches: service, instances: instances, billing: billing, regions: settings.regions.sorted(),
            authenticate: { id, key in accounts.account(secretID: id, secretKey: key) }
        ).addRoutes(to: router)
        let dataRoot = self.dataRoot
        OperationsRoutes(
            exporter: exporter, ready: { (try? repository.list(account: "", query: CacheQuery())) != nil },
            refresh: {
                IMCMetrics.setCounts(
                    caches: (try? repository.countByStatus()) ?? [:], instances: (try? instanceRepository.countByStatus()) ?? [:])
                IMCMetrics.setFreeSpace(pool: FreeSpace.bytes(at: pool.root), dataRoot: FreeSpace.bytes(at: dataRoot))
            }
        ).addRoutes(to: router)

        guard let (host, port) = Self.split(listen) else { throw ValidationError("--listen must be HOST:PORT") }
        let regions = settings.regions.sorted().joined(separator: ", ")
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "imc"),
            onServerRunning: { channel in
                var lines = [
                    "imc serve: listening on http://\(host):\(channel.localAddress?.port ?? port), regions \(regions), data root \(dataRoot)"
                ]
                if created {
                    lines += [
                        "root account created; shown once, kept in \(dataRoot)/root-credentials (mode 0600):",
                        "  SecretId:  \(root.secretID)", "  SecretKey: \(root.secretKey)",
                    ]
                }
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app), .init(service: sweeper), .init(service: InstanceSupervisor(service: instances)),
        ]
        services += (0..<builders).map { _ in .init(service: worker) }
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
