import Foundation
import IMCBilling
import IMCCache
import IMCDisks
import IMCInstance
import IMCModel
import IMCOS
import IMCObservability
import IMCPull
import IMCRegistry
import IMCRuntime
import IMCStore
import Logging

/// One instance's life in this process: the cache matched (or not), its disk made, attached and
/// mounted, its images made ready (from the disk, or pulled), its init containers run to
/// completion, its containers started and restarted by policy; and at the end everything
/// stopped, unmounted and released. It owns the instance's record and saves it at each step a
/// person would want to see.
actor InstanceRun {
    nonisolated let id: String
    let account: String
    let service: InstanceService
    var instance: Instance
    private var images: [String: ReadyImage] = [:]
    private var fromCache: Set<String> = []
    private var running: [String: RunningContainer] = [:]
    private var disk: Disk?
    private var usesNodeImages = false
    private var stopping = false
    private var pausing = false
    private var started = false

    init(instance: Instance, service: InstanceService) {
        id = instance.id
        account = instance.account
        self.instance = instance
        self.service = service
        if let diskID = instance.diskID { disk = service.disks.disk(id: diskID, sizeGiB: instance.diskSizeGiB ?? 0) }
    }

    var runDirectory: String { service.runDirectory(id) }
    var diskRoot: String { service.diskMount(id) }
    func runcID(_ name: String) -> String { "\(id)-\(name)" }
    /// The Pod's network namespace, shared by its containers.
    var network: NetworkNamespace { NetworkNamespace(name: "imc-\(id)") }
    func rootfs(_ name: String) -> String { runDirectory + "/rootfs/\(name)" }
    func bundle(_ name: String) -> String { runDirectory + "/bundles/\(name)" }

    // MARK: - Record keeping

    private func save() {
        guard (try? service.repository.update(instance)) != nil else {
            if !stopping { service.logger.debug("instance record gone", metadata: ["instance": "\(id)"]) }
            return
        }
    }

    private func event(_ type: CacheEvent.Kind, _ reason: String, _ message: String) {
        instance.record(type, reason, message, at: service.now())
        service.logger.info("\(reason): \(message)", metadata: ["instance": "\(id)"])
    }

    private func phase(_ name: String) { instance.mark(name, at: service.now()) }

    private func setState(_ name: String, _ change: (inout ContainerState) -> Void) {
        var state = instance.states[name] ?? ContainerState()
        change(&state)
        instance.states[name] = state
    }

    // MARK: - Start

    /// The start under way, which `stop` cancels and waits for before it cleans up: whatever the
    /// start made by then (a disk, mounts, containers) is in this actor's state, so nothing is
    /// left behind however a delete and a start interleave.
    private var starting: Task<Void, Never>?

    /// Starts the instance in the background (unless a delete came first).
    func begin() {
        guard !stopping, starting == nil else { return }
        starting = Task { await self.start() }
    }

    func start() async {
        do {
            try await prepare()
            guard !stopping else { return }
            let network = self.network
            try await network.create()
            phase("NetworkReady")
            try await runInitContainers()
            guard !stopping else { return }
            try await startContainers()
            started = true
            checkStale()
        } catch {
            guard !stopping else { return }
            let message = (error as? RuntimeFailure)?.description ?? (error as? RuntimeError)?.message ?? "\(error)"
            instance.status = .failed
            instance.message = message
            instance.finishTime = service.now()
            for (name, state) in instance.states where state.state != .terminated && state.reason != "ErrImagePull" {
                setState(name) {
                    $0.state = .terminated
                    $0.reason = "StartError"
                    $0.message = String(message.prefix(300))
                }
            }
            event(.warning, "Failed", message)
            stopMeteringDisk()
            save()
        }
    }

    /// Match, disk, mount, images.
    private func prepare() async throws {
        let images = instance.images
        var cache: ImageCache?
        var missing: [String] = []
        switch instance.cache.use {
        case nil:
            instance.cacheOutcome = .off
        case "auto":
            if let c = try service.caches.match(images: images, account: account, region: instance.region, use: true) {
                cache = c
                instance.cacheOutcome = .used
            } else {
                instance.cacheOutcome = .notMatched
                event(
                    .normal, CacheOutcome.notMatched.rawValue,
                    "No Ready image cache holds all of \(images.joined(separator: ", ")); the images will be pulled")
            }
        case let wanted?:
            let c = try service.cacheRepository.get(id: wanted, account: account)
            if let c, c.status == .ready, !c.isExpired(at: service.now()), c.snapshotID != nil {
                cache = c
                service.caches.markMatched(c)
                let held = Set(c.normalizedImages)
                missing = images.filter { !held.contains((try? ImageReference(parsing: $0).description) ?? $0) }
                instance.cacheOutcome = missing.isEmpty ? .used : .mismatch
                for m in missing {
                    event(
                        .warning, CacheOutcome.mismatch.rawValue,
                        "Image \(m) is not in image cache \(wanted); it will be pulled onto the cache's disk")
                }
            } else {
                instance.cacheOutcome = .notFound
                let state = c.map { $0.isExpired(at: service.now()) ? "expired" : $0.status.rawValue } ?? "not found"
                event(
                    .warning, CacheOutcome.notFound.rawValue,
                    "Image cache \(wanted) is \(state) and cannot be used; the images will be pulled normally")
            }
        }
        phase("Matched")
        let result: [CacheOutcome: String] = [
            .used: "used", .notMatched: "not_matched", .mismatch: "mismatch", .notFound: "not_found", .off: "off",
        ]
        Metrics.shared.increment("imc_matches_total", labels: ["result": result[instance.cacheOutcome ?? .off] ?? "off"])

        cache = try await attachDisk(cache: cache)
        phase("DiskReady")
        guard let disk else { throw RuntimeFailure("no disk") }
        let (disks, root) = (service.disks, diskRoot)
        try await disks.mount(disk, at: root)
        phase("DiskMounted")
        save()

        let onDisk = cache != nil ? InstanceImages.diskManifest(at: diskRoot) : [:]
        for image in images {
            guard !stopping else { return }
            let normalized = (try? ImageReference(parsing: image).description) ?? image
            if let entry = onDisk[normalized] {
                self.images[image] = try InstanceImages.fromDisk(entry, root: diskRoot)
                fromCache.insert(image)
                event(.normal, "Pulled", "Container image \"\(image)\" already present on machine")
            } else {
                event(.normal, "Pulling", "Pulling image \"\(image)\"")
                save()
                let t0 = ContinuousClock.now
                do {
                    if let cache {
                        self.images[image] = try await InstanceImages.pull(
                            image, into: diskRoot, registry: registryConfig(cache: cache), options: service.clientOptions,
                            logger: service.logger
                        ).0
                    } else {
                        if !usesNodeImages {
                            usesNodeImages = true
                            await service.nodeImages.acquire(account: account)
                        }
                        self.images[image] = try await service.nodeImages.pull(
                            image, account: account, registry: registryConfig(cache: nil), options: service.clientOptions,
                            logger: service.logger)
                    }
                } catch {
                    let message = (error as? PullError)?.message ?? "\(error)"
                    for c in instance.initContainers + instance.containers where c.image == image {
                        setState(c.name) {
                            $0.state = .waiting
                            $0.reason = "ErrImagePull"
                        }
                    }
                    throw RuntimeFailure("Failed to pull image \"\(image)\": \(message.prefix(400))")
                }
                event(
                    .normal, "Pulled",
                    String(format: "Successfully pulled image \"%@\" in %.3fs", image, (ContinuousClock.now - t0).seconds))
            }
            phase("ImageReady:\(image)")
        }
        save()
    }

    /// The disk: a clone of the cache's snapshot (or a retained one of the same snapshot), grown
    /// to the asked size; or a scratch disk when no cache is used, or when the cache's snapshot
    /// cannot be used (then a Warning says why and the images are pulled). Returns the cache
    /// whose disk it is.
    private func attachDisk(cache: ImageCache?) async throws -> ImageCache? {
        let now = service.now()
        if let cache, let snapshotID = cache.snapshotID {
            let size = max(cache.size, instance.cache.diskSizeGiB ?? 0)
            var made: Disk?
            if let retained = try service.repository.takeRetainedDisk(account: account, cacheID: cache.id, now: now) {
                service.meter.stop(retained.id, kind: .retainedDisk)
                if retained.snapshotID == snapshotID {
                    let disks = service.disks
                    let d = try await disks.grow(disks.disk(id: retained.id, sizeGiB: retained.sizeGiB), to: size)
                    var record = retained
                    record.instanceID = id
                    record.sizeGiB = d.sizeGiB
                    record.diskType = instance.cache.diskType
                    try service.repository.updateDisk(record)
                    made = d
                    event(.normal, "ImageCacheDiskReused", "Retained disk \(d.id) of image cache \(cache.id) reused")
                } else {
                    // Made from a snapshot the cache has since replaced: it is released.
                    let disks = service.disks
                    disks.remove(disks.disk(id: retained.id, sizeGiB: retained.sizeGiB))
                    try service.repository.deleteDisk(id: retained.id)
                }
            }
            if made == nil {
                do {
                    let snapshot = Snapshot(id: snapshotID, sizeGiB: cache.size, checksum: cache.snapshotChecksum)
                    let snapshots = service.snapshots
                    let d = try await snapshots.makeDisk(from: snapshot, sizeGiB: size)
                    var record = DiskRecord(
                        id: d.id, account: account, use: .instance, instanceID: id, cacheID: cache.id, sizeGiB: d.sizeGiB,
                        diskType: instance.cache.diskType, createdAt: now)
                    record.snapshotID = snapshotID
                    try service.repository.insertDisk(record)
                    made = d
                } catch {
                    instance.cacheOutcome = .notFound
                    let why = (error as? DiskError)?.message ?? "\(error)"
                    event(
                        .warning, CacheOutcome.notFound.rawValue,
                        "Image cache \(cache.id) cannot be used (\(why)); the images will be pulled normally")
                    return try await attachDisk(cache: nil)
                }
            }
            guard let made else { return nil }
            disk = made
            service.meter.start(
                .instanceDisk, account: account, resource: made.id, cache: cache.id, instance: id, quantity: made.sizeGiB,
                diskType: instance.cache.diskType.rawValue)
            instance.cacheID = cache.id
            instance.diskID = made.id
            instance.diskSizeGiB = made.sizeGiB
            event(.normal, CacheOutcome.used.rawValue, "Image cache \(cache.id) used. Disk \(made.id) attached")
            return cache
        } else {
            let size = instance.cache.diskSizeGiB ?? service.limits.defaultScratchDiskGiB
            let disks = service.disks
            let d = try await disks.create(sizeGiB: size)
            try service.repository.insertDisk(
                DiskRecord(
                    id: d.id, account: account, use: .instance, instanceID: id, cacheID: nil, sizeGiB: size,
                    diskType: instance.cache.diskType, createdAt: now))
            disk = d
            instance.diskID = d.id
            instance.diskSizeGiB = size
            return nil
        }
    }

    func registryConfig(cache: ImageCache?) -> RegistryConfig {
        var config = service.registry
        let credentials = (cache?.credentials ?? []) + instance.credentials
        config.credentials += credentials.map { RegistryCredential(server: $0.server, username: $0.username, password: $0.password) }
        let plain = instance.registryHttpEndPointList + (cache?.registryHttpEndPointList ?? [])
        let skip = instance.registrySkipVerifyList + (cache?.registrySkipVerifyList ?? [])
        config.plainHTTPHosts.formUnion(plain.map(RegistryCredential.normaliseServer))
        config.skipVerifyHosts.formUnion(skip.map(RegistryCredential.normaliseServer))
        return config
    }

    // MARK: - Containers

    /// Mounts the container's root filesystem and writes its bundle.
    private func create(_ spec: ContainerSpec) throws {
        guard !stopping else { throw RuntimeFailure("the instance is being deleted") }
        guard let image = images[spec.image] else { throw RuntimeFailure("image \(spec.image) is not ready") }
        let root = rootfs(spec.name)
        if !MountTable.isMountPoint(root) {
            let writable = "\(diskRoot)/containers/\(id)/\(spec.name)"
            try Overlay.mount(lower: image.layers, upper: writable + "/upper", work: writable + "/work", at: root)
        }
        var process = try ProcessSpec.resolve(
            image: image.config.config, command: spec.commands, args: spec.args, env: spec.env.map { ($0.name, $0.value) },
            workingDir: spec.workingDir)
        let user = try ImageUser.resolve(
            image.config.config?.User, passwd: Overlay.readFile("/etc/passwd", inRoot: root),
            group: Overlay.readFile("/etc/group", inRoot: root))
        process.uid = user.uid
        process.gid = user.gid
        let hostname = InstanceService.isDNSLabel(instance.name) ? instance.name : id
        try RuntimeSpec.write(
            RuntimeSpec.make(
                process: process, rootfs: root, hostname: hostname, cgroupsPath: "/imc/\(runcID(spec.name))", networkNamespace: network.path
            ),
            bundle: bundle(spec.name))
        try FileManager.default.createDirectory(atPath: runDirectory + "/logs", withIntermediateDirectories: true)
        event(.normal, "Created", "Created container \(spec.name)")
        phase("Created:\(spec.name)")
    }

    /// Starts the container's process and records it running.
    private func launch(_ spec: ContainerSpec) async throws {
        // A container of this name left by an earlier run of it (a restart) goes first.
        if service.runc.exists(id: runcID(spec.name)) { await service.runc.delete(id: runcID(spec.name)) }
        let container = try await service.runc.start(
            id: runcID(spec.name), bundle: bundle(spec.name), log: service.logPath(id, spec.name))
        running[spec.name] = container
        if stopping {
            // A delete came while it started: it is killed at once (and waited for by stop).
            await service.runc.kill(id: runcID(spec.name), signal: "KILL", all: true)
            throw RuntimeFailure("the instance is being deleted")
        }
        phase("Started:\(spec.name)")
        setState(spec.name) {
            $0.state = .running
            $0.reason = nil
            $0.message = nil
            $0.exitCode = nil
            $0.startTime = service.now()
            $0.finishTime = nil
        }
        event(.normal, "Started", "Started container \(spec.name)")
    }

    private func terminated(_ name: String, code: Int32) {
        setState(name) {
            $0.state = .terminated
            $0.exitCode = Int(code)
            $0.reason = code == 0 ? "Completed" : "Error"
            $0.finishTime = service.now()
        }
    }

    private func runInitContainers() async throws {
        for spec in instance.initContainers {
            var attempt = 0
            while !stopping {
                try create(spec)
                try await launch(spec)
                save()
                let code = await running[spec.name]?.exit() ?? 255
                running[spec.name] = nil
                await service.runc.delete(id: runcID(spec.name))
                terminated(spec.name, code: code)
                if code == 0 { break }
                if instance.restartPolicy == .never {
                    throw RuntimeFailure("init container \(spec.name) failed with exit code \(code)")
                }
                attempt += 1
                setState(spec.name) {
                    $0.restartCount += 1
                    $0.reason = "CrashLoopBackOff"
                }
                event(.warning, "BackOff", "Back-off restarting failed container \(spec.name) in pod \(instance.name)")
                save()
                try? await Task.sleep(for: Self.backoff(attempt))
            }
        }
    }

    private func startContainers() async throws {
        for spec in instance.containers {
            try create(spec)
            try await launch(spec)
        }
        Metrics.shared.observe(
            "imc_instance_startup_seconds", service.now().timeIntervalSince(instance.creationTime),
            labels: ["kind": instance.cacheOutcome == .used ? "cached" : "cold"])
        instance.status = .running
        save()
        for spec in instance.containers { Task { await self.supervise(spec) } }
    }

    /// Waits for a container to end and restarts it as the policy says, backing off.
    private func supervise(_ spec: ContainerSpec) async {
        var failures = 0
        while let container = running[spec.name] {
            let code = await container.exit()
            guard !stopping, !pausing, running[spec.name] === container else { return }
            terminated(spec.name, code: code)
            let restart = instance.restartPolicy == .always || (instance.restartPolicy == .onFailure && code != 0)
            guard restart else {
                running[spec.name] = nil
                await service.runc.delete(id: runcID(spec.name))
                finishIfDone()
                save()
                return
            }
            failures = code == 0 ? 0 : failures + 1
            setState(spec.name) {
                $0.restartCount += 1
                if code != 0 { $0.reason = "CrashLoopBackOff" }
            }
            if code != 0 { event(.warning, "BackOff", "Back-off restarting failed container \(spec.name) in pod \(instance.name)") }
            save()
            try? await Task.sleep(for: Self.backoff(max(1, failures)))
            guard !stopping, !pausing, running[spec.name] === container else { return }
            do {
                try create(spec)
                try await launch(spec)
                save()
            } catch {
                event(.warning, "Failed", "Error: \(error)")
                running[spec.name] = nil
                setState(spec.name) { $0.reason = "StartError" }
                finishIfDone()
                save()
                return
            }
        }
    }

    static func backoff(_ attempt: Int) -> Duration { .milliseconds(min(500 << min(attempt - 1, 8), 30_000)) }

    /// With every container ended for good: Succeeded when all exited 0, else Failed.
    private func finishIfDone() {
        guard running.isEmpty, instance.status == .running else { return }
        let codes = instance.containers.map { instance.states[$0.name]?.exitCode ?? 1 }
        instance.status = codes.allSatisfy { $0 == 0 } ? .succeeded : .failed
        if instance.status == .failed { instance.message = "a container exited with an error" }
        instance.finishTime = service.now()
        stopMeteringDisk()
    }

    /// The image cache disk is billed while the instance runs (API.md section 8): from when it
    /// is attached until the instance ends, and again while a restart runs it.
    private func stopMeteringDisk() {
        if instance.diskFromCache, let disk { service.meter.stop(disk.id, kind: .instanceDisk) }
    }

    // MARK: - Staleness

    /// For each image the cache served by tag, asks the registry what the tag is now; a moved
    /// tag still runs the cached version, with a Warning that names both digests.
    private func checkStale() {
        let checks: [(String, Digest)] = fromCache.compactMap { image in
            guard let ref = try? ImageReference(parsing: image), ref.digest == nil, let d = images[image]?.resolvedDigest else {
                return nil
            }
            return (image, d)
        }
        guard !checks.isEmpty, let cacheID = instance.cacheID else { return }
        let config = registryConfig(cache: nil)
        let options = service.clientOptions
        let logger = service.logger
        Task.detached { [self] in
            let client = RegistryClient(config: config, options: options, logger: logger)
            for (image, cached) in checks {
                guard let ref = try? ImageReference(parsing: image), let now = try? await client.fetchManifest(ref) else { continue }
                if now.digest != cached {
                    await self.warnStale(image: image, cacheID: cacheID, cached: cached, current: now.digest)
                }
            }
            try? await client.shutdown()
        }
    }

    private func warnStale(image: String, cacheID: String, cached: Digest, current: Digest) {
        event(
            .warning, "ImageCacheStale",
            "Image \(image) in image cache \(cacheID) is \(cached); the registry now serves \(current). The cached version runs; update the cache to use the new one"
        )
        save()
    }

    // MARK: - Stop

    /// Restarts every container in place (RestartEKSContainerInstances).
    func restartAll() async {
        guard started, !stopping else { return }
        pausing = true
        await stopContainers(grace: instance.terminationGracePeriodSeconds)
        pausing = false
        guard !stopping else { return }
        if instance.status != .running, instance.diskFromCache, let disk {
            service.meter.start(
                .instanceDisk, account: account, resource: disk.id, cache: instance.cacheID, instance: id, quantity: disk.sizeGiB,
                diskType: instance.cache.diskType.rawValue)
        }
        instance.status = .running
        instance.finishTime = nil
        instance.message = nil
        do {
            for spec in instance.containers {
                setState(spec.name) { $0.restartCount += 1 }
                try create(spec)
                try await launch(spec)
            }
            save()
            for spec in instance.containers { Task { await self.supervise(spec) } }
        } catch {
            instance.status = .failed
            instance.message = "\(error)"
            event(.warning, "Failed", "Error: \(error)")
            save()
        }
    }

    /// SIGTERM to every container, SIGKILL to what is left after `grace` seconds.
    private func stopContainers(grace: Int) async {
        let live = running.filter { $0.value.exitStatus == nil }
        for name in live.keys.sorted() {
            event(.normal, "Killing", "Stopping container \(name)")
            await service.runc.kill(id: runcID(name), signal: "TERM")
        }
        let deadline = ContinuousClock.now + .seconds(grace)
        while live.values.contains(where: { $0.exitStatus == nil }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for (name, c) in live where c.exitStatus == nil { await service.runc.kill(id: runcID(name), signal: "KILL", all: true) }
        for (name, c) in live {
            let code = await c.exit()
            terminated(name, code: code)
        }
        let (runc, names) = (service.runc, (instance.initContainers + instance.containers).map { runcID($0.name) })
        for name in names { await runc.delete(id: name) }
        running = [:]
    }

    /// Ends the instance because the service stops: containers get at most 5 s to exit.
    func shutdown() async {
        guard !stopping else { return }
        if instance.status == .pending || instance.status == .running {
            instance.status = .failed
            instance.message = "imc stopped while the instance ran; its containers were stopped"
            instance.finishTime = service.now()
            event(.warning, "NodeShutdown", instance.message!)
        }
        instance.terminationGracePeriodSeconds = min(instance.terminationGracePeriodSeconds, 5)
        await stop(removing: instance.status == .terminating)
    }

    /// Stops everything and releases the disk (or keeps it for reuse); with `removing`, the
    /// record goes too.
    func stop(removing: Bool) async {
        stopping = true
        if let starting {
            // What the start has running is stopped first (an init container may never end by
            // itself), then the start is let unwind, then whatever it started meanwhile.
            starting.cancel()
            await stopContainers(grace: instance.terminationGracePeriodSeconds)
            await starting.value
        }
        await stopContainers(grace: instance.terminationGracePeriodSeconds)
        let roots = (instance.initContainers + instance.containers).map { rootfs($0.name) }
        let (runDirectory, network) = (self.runDirectory, self.network)
        await BlockingPool.shared.run { for root in roots { Overlay.unmount(root) } }
        await network.delete()
        let retain = instance.cache.retainMinutes > 0 && instance.diskFromCache
        if retain, MountTable.isMountPoint(diskRoot) {
            try? FileManager.default.removeItem(atPath: "\(diskRoot)/containers/\(id)")
        }
        // With the overlays gone (and the writable layers removed from a retained disk), the
        // disk itself.
        await BlockingPool.shared.run { Mount.unmountAll(under: runDirectory) }
        let clean = MountTable.targets(under: runDirectory).isEmpty
        if let disk, clean {
            stopMeteringDisk()
            if retain, let record = try? service.repository.disk(id: disk.id) {
                var kept = record
                kept.use = .retained
                kept.instanceID = nil
                kept.retainUntil = service.now().addingTimeInterval(Double(instance.cache.retainMinutes) * 60)
                try? service.repository.updateDisk(kept)
                service.meter.start(
                    .retainedDisk, account: account, resource: disk.id, cache: instance.cacheID, instance: id, quantity: kept.sizeGiB,
                    diskType: kept.diskType.rawValue)
                event(
                    .normal, "ImageCacheDiskRetained",
                    "Disk \(disk.id) is kept for \(instance.cache.retainMinutes) minutes for the next instance using image cache \(instance.cacheID ?? "")"
                )
            } else {
                let disks = service.disks
                disks.remove(disk)
                try? service.repository.deleteDisk(id: disk.id)
            }
        }
        if usesNodeImages {
            usesNodeImages = false
            await service.nodeImages.release(account: account)
        }
        if clean {
            try? FileManager.default.removeItem(atPath: runDirectory)
        } else {
            service.logger.error("instance mounts could not be removed; its directory is kept", metadata: ["instance": "\(id)"])
        }
        if removing {
            _ = try? service.repository.delete(id: id, account: account)
        } else {
            save()
        }
    }

}
