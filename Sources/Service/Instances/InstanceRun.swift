import Foundation
import IMCCache
import IMCDisks
import IMCInstance
import IMCModel
import IMCNetworking
import IMCOS
import IMCObservability
import IMCRuntime
import IMCServiceSupport
import Logging

/// One instance's life in this process: the thin carrier of its `InstanceLifecycle`. The life
/// decides (what a container's end means, when to restart, what a delete stops); this actor does
/// the I/O those decisions ask for (disks, mounts, images, runc) and saves the record at each
/// step a person would want to see.
package actor InstanceRun {
    package nonisolated let id: String
    let account: String
    let parts: InstanceRunParts
    var life: InstanceLifecycle
    /// Images ready to run, by reference as the containers name them.
    var images: [String: ReadyImage] = [:]
    /// Images that came from the cache's disk (checked for moved tags once running).
    var fromCache: Set<String> = []
    /// Containers whose `runc run` is a child of this process, by name.
    var running: [String: RunningContainer] = [:]
    /// The instance's disk, once attached.
    var lease: DiskLease?
    /// The account's node image store, while this instance uses it.
    var nodeImages: NodeImages.Use?
    /// The instance's user namespace (its id range), while it runs.
    var namespace: UserNamespace?
    /// Each image's layers relative to the run directory, through the idmapped layer mounts.
    var relativeLayers: [String: [String]] = [:]
    /// Each container's log, while it runs.
    var logs: [String: LogWriter] = [:]
    /// The instance's OOM kills when each container was last started.
    var oomKillsAtStart: [String: Int] = [:]
    /// The Pod's gVisor sandbox (its pause process), for the `gvisor` runtime class.
    var sandbox: RunningContainer?
    /// The start under way, which a stop cancels and waits for: whatever the start made by then
    /// (a disk, mounts, containers) is in this actor's state, so nothing is left behind however
    /// a delete and a start interleave.
    var starting: Task<Void, Never>?

    init(instance: Instance, parts: InstanceRunParts) {
        id = instance.id
        account = instance.account
        self.parts = parts
        life = InstanceLifecycle(instance: instance)
        lease = parts.disks.leases.existing(for: instance)
    }

    var instance: Instance { life.instance }
    var runDirectory: String { parts.paths.runDirectory(id) }
    var diskRoot: String { parts.paths.diskMount(id) }
    func runcID(_ name: String) -> String { "\(id)-\(name)" }
    /// The runtime of the instance's class.
    var runtime: Runc { parts.runtimes.runtime(for: instance) }
    /// The instance's cgroup, the parent of its containers'.
    var cgroup: InstanceCgroup { InstanceCgroup(instance: id) }
    /// The Pod's network namespace, shared by its containers.
    var network: NetworkNamespace { NetworkNamespace(name: "imc-\(id)") }
    var now: Date { parts.clock.now() }

    // MARK: - Carrying out the life's actions

    func perform(_ actions: [InstanceLifecycle.Action]) async {
        for action in actions {
            switch action {
            case .save: await save()
            case .announce: announce(action)
            case .removeRuntime(let name): await runtime.delete(id: runcID(name))
            case .restart: break  // the supervision loop waits and restarts
            case .stopMeteringDisk: if let lease { await parts.disks.leases.stopMetering(lease) }
            case .startMeteringDisk: if let lease { await parts.disks.leases.startMetering(lease, for: instance) }
            }
        }
    }

    /// Logs an event the life just recorded (the one action that needs no waiting, so that a
    /// step that cannot await, as the cache's selection, records events the same way).
    func announce(_ action: InstanceLifecycle.Action) {
        guard case .announce(let reason, let message) = action else { return }
        parts.logger.info("\(reason.rawValue): \(message)", metadata: ["instance": "\(id)"])
    }

    func save() async {
        guard (try? await parts.records.update(instance)) != nil else {
            if !life.isStopping { parts.logger.debug("instance record gone", metadata: ["instance": "\(id)"]) }
            return
        }
    }

    /// Records an event (and logs it).
    func event(_ reason: InstanceEventReason, _ message: String) async { await perform([life.record(reason, message, at: now)]) }

    // MARK: - Start

    /// Starts the instance in the background (once, and not after a delete).
    func begin() {
        guard life.begin() else { return }
        starting = Task { await self.start() }
    }

    private func start() async {
        do {
            try await prepare()
            guard !life.isStopping else { return }
            try await network.create(owner: namespace)
            try await connectToVPC()
            try await startSandbox()
            life.mark(StartupPhase.networkReady, at: now)
            life.prepared()
            try await runInitContainers()
            guard !life.isStopping else { return }
            try await startContainers()
            checkStale()
        } catch {
            await perform(life.startFailed(Self.describe(error), at: now))
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as ServiceError: e.message
        case let e as RuntimeError: e.message
        case let e as DiskError: e.message
        default: "\(error)"
        }
    }

    /// Match, disk, mount, images.
    private func prepare() async throws {
        var selection = try await selectCache()
        if selection.outcome == .notMatched, let layered = await layerSelection() {
            selection = layered
            apply(selection)
            await parts.caches.service.markMatched(layered.cache!)
        }
        life.mark(StartupPhase.matched, at: now)
        IMCMetrics.matched(selection.outcome)
        try await attachDisk(&selection)
        life.mark(StartupPhase.diskReady, at: now)
        guard let lease else { throw ServiceError.failed("no disk") }
        try await parts.disks.manager.mount(lease.disk, at: diskRoot)
        life.mark(StartupPhase.diskMounted, at: now)
        try await isolate()
        life.mark(StartupPhase.isolated, at: now)
        await save()
        try await readyImages(cache: selection.cache)
        try await mapLayers()
        life.mark(StartupPhase.layersMapped, at: now)
        await save()
    }

    /// The cache the instance asked for, looked up and decided on (API.md section 6 and 7).
    private func selectCache() async throws -> CacheSelection {
        let images = instance.images
        let lookup: CacheSelection.Lookup
        switch instance.cache.use {
        case nil: lookup = .off
        case "auto":
            let minimum = instance.cache.minimumMatched(of: Set(images).count)
            lookup = .auto(
                try await parts.caches.service.match(
                    images: images, account: account, region: instance.region, use: true, minimum: minimum),
                minimum: minimum)
        case let wanted?: lookup = .manual(id: wanted, try await parts.caches.records.get(id: wanted, account: account))
        }
        let selection = CacheSelection.select(lookup, images: images, now: now)
        if case .manual = lookup, let cache = selection.cache { await parts.caches.service.markMatched(cache) }
        apply(selection)
        if selection.outcome == .notMatched, instance.cache.autoCreate == true { await autoCreateCache() }
        return selection
    }

    /// Nothing matched and the instance asked for auto-create: a cache of its images is built
    /// in the background (or already is), for the next instance; this one pulls.
    private func autoCreateCache() async {
        do {
            let made = try await parts.caches.service.autoCreate(
                images: instance.images, account: account, region: instance.region, credentials: instance.credentials,
                plainHTTP: Array(Set(instance.registryHttpEndPointList).union(parts.images.registry.plainHTTPHosts)).sorted(),
                skipVerify: instance.registrySkipVerifyList)
            let evicted =
                made.evicted.isEmpty
                ? "" : "; least recently used auto-created cache(s) \(made.evicted.map(\.id).joined(separator: ", ")) deleted to make room"
            let message =
                made.created
                ? "Image cache \(made.cache.id) is being built for these images; the next instance with them uses it\(evicted)"
                : "Image cache \(made.cache.id) for these images already exists (\(made.cache.status.rawValue)); the next instance uses it once it is Ready"
            announce(life.record(.imageCacheAutoCreated, message, at: now))
        } catch {
            announce(
                life.record(.imageCacheAutoCreated, "No image cache could be created for these images: \(Self.describe(error))", at: now))
        }
    }

    private func apply(_ selection: CacheSelection) {
        life.update { $0.cacheOutcome = selection.outcome }
        for (reason, message) in selection.events {
            announce(life.record(reason, message, at: now))
        }
    }

    /// The disk: a retained disk of the cache's snapshot taken back, or a clone of it, grown to
    /// the asked size; or a scratch disk when no cache is used, or when the cache's snapshot
    /// cannot be used (then a Warning says why and the images are pulled).
    private func attachDisk(_ selection: inout CacheSelection) async throws {
        let leases = parts.disks.leases
        if let cache = selection.cache, let snapshotID = cache.snapshotID {
            let size = max(cache.servedSize, instance.cache.diskSizeGiB ?? 0)
            var attached = try await leases.takeRetained(for: instance, cache: cache, snapshotID: snapshotID, sizeGiB: size)
            if attached == nil {
                do { attached = try await leases.clone(for: instance, cache: cache, snapshotID: snapshotID, sizeGiB: size) } catch let e
                    as DiskError
                {
                    selection = CacheSelection.unusable(cache.id, why: e.message)
                    apply(selection)
                }
            }
            if let attached {
                lease = attached
                parts.caches.warm.add(cache.id)
                await leases.startMetering(attached, for: instance)
                life.update {
                    $0.cacheID = cache.id
                    $0.diskID = attached.disk.id
                    $0.diskSizeGiB = attached.disk.sizeGiB
                }
                if attached.reused {
                    await event(.imageCacheDiskReused, "Retained disk \(attached.disk.id) of image cache \(cache.id) reused")
                }
                await event(
                    .imageCacheUsed,
                    "Image cache \(cache.id) used. Disk \(attached.disk.id) attached from \(cache.servedSnapshotNote); \(selection.degree)")
                return
            }
        }
        let size = instance.cache.diskSizeGiB ?? parts.limits.defaultScratchDiskGiB
        let scratch = try await leases.scratch(for: instance, sizeGiB: size)
        lease = scratch
        life.update {
            $0.diskID = scratch.disk.id
            $0.diskSizeGiB = size
        }
    }

    // MARK: - Stop

    /// Restarts every container in place (RestartEKSContainerInstances).
    package func restartAll() async {
        guard life.restartRequested() else { return }
        await stopContainers(grace: instance.terminationGracePeriodSeconds)
        guard !life.isStopping else { return }
        await perform(life.restartResumed(at: now))
        do {
            for spec in instance.containers {
                try await create(spec)
                try await launch(spec)
            }
            await perform(life.containersStarted(at: now))
            for spec in instance.containers { Task { await self.supervise(spec) } }
        } catch {
            await perform(life.restartAborted("\(Self.describe(error))", at: now))
        }
    }

    /// Stops everything and releases the disk (or keeps it for reuse); with `removing`, the
    /// record goes too.
    /// `grace`: seconds its containers get to exit (the instance's own when nil).
    func stop(removing: Bool, grace: Int? = nil) async {
        guard life.stopRequested(removing: removing) else { return }
        await teardown(removing: removing, grace: grace)
    }

    /// Ends the instance because the service stops: containers get at most 5 s to exit.
    func shutdown() async {
        guard let (removing, actions) = life.shutdownRequested(at: now) else { return }
        await perform(actions)
        await teardown(removing: removing)
    }

    private func teardown(removing: Bool, grace override: Int? = nil) async {
        let grace = override ?? instance.terminationGracePeriodSeconds
        if let starting {
            // What the start has running is stopped first (an init container may never end by
            // itself), then the start is let unwind, then whatever it started meanwhile.
            starting.cancel()
            await stopContainers(grace: grace)
            await starting.value
        }
        await stopContainers(grace: grace)
        await stopSandbox()
        // Nothing of the instance may still run when its filesystems go: a process killed a
        // moment ago may not have exited yet (a busy overlay cannot be unmounted), and one the
        // runtime lost is killed here; the cgroup goes once it is empty.
        _ = await removeCgroup()
        // Overlays first, then the idmapped layers under them, then (below) the disk.
        let roots =
            (instance.initContainers + instance.containers).map { rootfs($0.name) } + Self.mappedLayers.map { "\(runDirectory)/\($0)" }
        await BlockingPool.shared.run { for root in roots { Overlay.unmount(root) } }
        for writer in logs.values { await writer.finished() }
        logs = [:]
        await network.delete()
        await disconnectFromVPC(removing: removing)
        let retain = instance.cache.retainMinutes > 0 && instance.diskFromCache
        if retain, MountTable.isMountPoint(diskRoot) {
            // The next instance of the cache gets the disk as the cache made it: no writable
            // layer, no log of this one.
            try? FileManager.default.removeItem(atPath: "\(diskRoot)/containers/\(id)")
            try? FileManager.default.removeItem(atPath: "\(diskRoot)/.imc-logs")
        }
        // With the overlays gone (and the writable layers removed from a retained disk), the
        // disk itself.
        let directory = runDirectory
        await BlockingPool.shared.run { Mount.unmountAll(under: directory) }
        let clean = MountTable.targets(under: directory).isEmpty
        await unisolate(removing: removing)
        if let lease, clean {
            await parts.disks.leases.stopMetering(lease)
            var retained = false
            if retain {
                do {
                    try await parts.disks.leases.retain(lease, minutes: instance.cache.retainMinutes, for: instance)
                    retained = true
                    await event(
                        .imageCacheDiskRetained,
                        "Disk \(lease.disk.id) is kept for \(instance.cache.retainMinutes) minutes for the next instance using image cache \(instance.cacheID ?? "")"
                    )
                } catch {
                    await event(.imageCacheDiskRetained, "Disk \(lease.disk.id) is not kept: \(error)")
                }
            }
            if !retained { await parts.disks.leases.release(lease) }
        }
        if let use = nodeImages {
            nodeImages = nil
            await parts.images.nodeImages.release(use)
        }
        if clean {
            try? FileManager.default.removeItem(atPath: directory)
        } else {
            parts.logger.error("instance mounts could not be removed; its directory is kept", metadata: ["instance": "\(id)"])
        }
        life.stopped()
        if removing {
            _ = try? await parts.records.delete(id: id, account: account)
        } else {
            await save()
        }
    }
}
