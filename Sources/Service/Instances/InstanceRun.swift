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
/// decides (the steps of the start and of the teardown and their order, what a container's end
/// means, when to restart, what a delete stops); this actor carries out the actions it answers
/// with (`carryOut`: a loop that takes each step, tells the life, and goes on with what the life
/// says next) and does the I/O those steps ask for (disks, mounts, images, runc).
package actor InstanceRun {
    package nonisolated let id: String
    let account: String
    let parts: InstanceRunParts
    /// The life: its phase, and in the phase what its steps made (`InstanceHeld`).
    var life: InstanceLifecycle<InstanceHeld>
    /// The start under way, which a stop cancels and waits for: whatever the start made by then
    /// (a disk, mounts, containers) is in this actor's state, so nothing is left behind however
    /// a delete and a start interleave.
    var starting: Task<Void, Never>?

    init(instance: Instance, parts: InstanceRunParts) {
        id = instance.id
        account = instance.account
        self.parts = parts
        life = InstanceLifecycle(instance: instance, holding: InstanceHeld(lease: parts.disks.leases.existing(for: instance)))
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

    func perform(_ actions: [InstanceAction]) async {
        for action in actions {
            switch action {
            case .step: await carryOut([action])
            case .supervise:
                for spec in instance.containers { Task { await self.supervise(spec) } }
                if !instance.volumes.isEmpty, !held.refreshingVolumes {
                    held.refreshingVolumes = true
                    Task { await self.refreshVolumes() }
                }
            case .save: await save()
            case .announce(let reason, let message):
                parts.logger.info("\(reason.rawValue): \(message)", metadata: ["instance": "\(id)"])
            case .removeRuntime(let name): await runtime.delete(id: runcID(name))
            case .restart: break  // the supervision loop waits and restarts
            case .killContainers:
                for spec in instance.containers where held.running[spec.name] != nil {
                    await runtime.kill(id: runcID(spec.name), signal: "KILL", all: true)
                }
            case .stopMeteringDisk: if let lease = held.lease { await parts.disks.leases.stopMetering(lease) }
            case .startMeteringDisk: if let lease = held.lease { await parts.disks.leases.startMetering(lease, for: instance) }
            }
        }
    }

    /// Carries out `actions` and what the life answers to each step, in order, until the life
    /// has nothing more to say: a step taken is told to the life (`done`, or `failed` with why),
    /// and the actions it answers with come next. A start step is not taken once a stop has
    /// begun.
    func carryOut(_ actions: [InstanceAction]) async {
        var queue = actions
        var next = 0
        while next < queue.count {
            let action = queue[next]
            next += 1
            guard case .step(let step, let after) = action else {
                await perform([action])
                continue
            }
            if after > .zero { try? await parts.clock.sleep(for: after) }
            if step.isStart && life.isStopping { continue }
            do {
                queue += try await take(step) ?? life.done(step, at: now)
            } catch {
                queue += life.failed(step, Self.describe(error), at: now)
            }
        }
    }

    /// Takes one step. Returns what the life said of its end when the step told it itself (an
    /// init container's exit), else nil (the step is then `done`).
    private func take(_ step: InstanceStep) async throws -> [InstanceAction]? {
        switch step {
        case .selectCache: try await chooseCache()
        case .attachDisk: try await attachDisk()
        case .mountDisk:
            guard let lease = held.lease else { throw ServiceError.failed("no disk") }
            try await parts.disks.manager.mount(lease.disk, at: diskRoot)
        case .isolate: try await isolate()
        case .readyImages: try await readyImages(cache: held.selection?.cache)
        case .mapLayers: try await mapLayers()
        case .connectNetwork:
            try await network.create(owner: held.namespace)
            try await connectToVPC()
            try await startSandbox()
        case .runInitContainer(let index): return try await runInitContainer(index)
        case .startContainers: if let waiting = try await startContainers() { return waiting }
        case .checkMovedTags: checkStale()
        case .stopForRestart(let grace): await stopContainers(grace: grace)
        case .interruptStart(let grace):
            if let starting {
                // What the start has running is stopped first (an init container may never end
                // by itself), then the start is let unwind.
                starting.cancel()
                await stopContainers(grace: grace)
                await starting.value
            }
        case .stopContainers(let grace): await stopContainers(grace: grace)
        case .stopSandbox: await stopSandbox()
        case .removeFilesystems: await removeFilesystems()
        case .disconnectNetwork(let removing):
            await network.delete()
            await disconnectFromVPC(removing: removing)
        case .releaseDisk(let removing): await releaseDisk(removing: removing)
        case .forget(let removing):
            if removing {
                _ = try? await parts.records.delete(id: id, account: account)
                if let eip = instance.eip { await parts.eips?.finish(eip, account: account) }
            } else {
                await save()
            }
        }
        return nil
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
        let first = life.begin()
        guard !first.isEmpty else { return }
        starting = Task { await self.carryOut(first) }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as ServiceError: e.message
        case let e as RuntimeError: e.message
        case let e as DiskError: e.message
        default: "\(error)"
        }
    }

    /// The cache the instance asked for (or one that shares layers with its images), decided on
    /// and said in its events.
    private func chooseCache() async throws {
        var chosen = try await selectCache()
        if chosen.outcome == .notMatched, let layered = await layerSelection() {
            chosen = layered
            await apply(chosen)
            await parts.caches.service.markMatched(layered.cache!)
        }
        IMCMetrics.matched(chosen.outcome)
        held.selection = chosen
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
        await apply(selection)
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
            await event(.imageCacheAutoCreated, message)
        } catch {
            await event(.imageCacheAutoCreated, "No image cache could be created for these images: \(Self.describe(error))")
        }
    }

    private func apply(_ selection: CacheSelection) async {
        life.update { $0.cacheOutcome = selection.outcome }
        for (reason, message) in selection.events { await event(reason, message) }
    }

    /// The disk: a retained disk of the cache's snapshot taken back, or a clone of it, grown to
    /// the asked size; or a scratch disk when no cache is used, or when the cache's snapshot
    /// cannot be used (then a Warning says why and the images are pulled).
    private func attachDisk() async throws {
        guard var selection = held.selection else { throw ServiceError.failed("no cache was chosen") }
        defer { held.selection = selection }
        let leases = parts.disks.leases
        if let cache = selection.cache, let snapshotID = cache.snapshotID {
            let size = max(cache.servedSize, instance.cache.diskSizeGiB ?? 0)
            var attached = try await leases.takeRetained(for: instance, cache: cache, snapshotID: snapshotID, sizeGiB: size)
            if attached == nil {
                do { attached = try await leases.clone(for: instance, cache: cache, snapshotID: snapshotID, sizeGiB: size) } catch let e
                    as DiskError
                {
                    selection = CacheSelection.unusable(cache.id, why: e.message)
                    await apply(selection)
                }
            }
            if let attached {
                held.lease = attached
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
        held.lease = scratch
        life.update {
            $0.diskID = scratch.disk.id
            $0.diskSizeGiB = size
        }
    }

    // MARK: - Restart and stop

    /// Restarts every container in place (RestartEKSContainerInstances).
    package func restartAll() async { await carryOut(life.restartRequested()) }

    /// Takes `updated`'s spec (containers, restart policy, name, credentials) where it differs,
    /// and starts the containers again (with it).
    package func update(to updated: Instance) async {
        await carryOut(life.specChanged(to: updated, at: now) + life.restartRequested())
    }

    /// Stops everything and releases the disk (or keeps it for reuse); with `removing`, the
    /// record goes too.
    /// `grace`: seconds its containers get to exit (the instance's own when nil).
    func stop(removing: Bool, grace: Int? = nil) async { await carryOut(life.stopRequested(removing: removing, grace: grace)) }

    /// Ends the instance because the service stops: containers get at most 5 s to exit.
    func shutdown() async { await carryOut(life.shutdownRequested(at: now)) }

    /// Nothing of the instance may still run when its filesystems go: a process killed a moment
    /// ago may not have exited yet (a busy overlay cannot be unmounted), and one the runtime lost
    /// is killed here; the cgroup goes once it is empty. Then the overlays, then the idmapped
    /// layers under them; then the logs are closed.
    private func removeFilesystems() async {
        _ = await removeCgroup()
        let roots =
            (instance.initContainers + instance.containers).map { rootfs($0.name) } + Self.mappedLayers.map { "\(runDirectory)/\($0)" }
        await BlockingPool.shared.run { for root in roots { Overlay.unmount(root) } }
        for writer in held.logs.values { await writer.finished() }
        held.logs = [:]
    }

    /// The disk: kept for the cache's next instance (emptied of this one's writable layers and
    /// logs) or released, once nothing is mounted under the run directory; the node store, the
    /// user namespace and (with `removing`) the id range let go; the run directory removed.
    private func releaseDisk(removing: Bool) async {
        let retain = instance.cache.retainMinutes > 0 && instance.diskFromCache
        if retain, MountTable.isMountPoint(diskRoot) {
            // The next instance of the cache gets the disk as the cache made it: no writable
            // layer, no log of this one.
            try? FileManager.default.removeItem(atPath: "\(diskRoot)/containers/\(id)")
            try? FileManager.default.removeItem(atPath: "\(diskRoot)/.imc-logs")
            try? FileManager.default.removeItem(atPath: volumesRoot)
        }
        await unmountNFS()
        let directory = runDirectory
        await BlockingPool.shared.run { Mount.unmountAll(under: directory) }
        let clean = MountTable.targets(under: directory).isEmpty
        await unisolate(removing: removing)
        if let lease = held.lease, clean {
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
        if let use = held.nodeImages {
            held.nodeImages = nil
            await parts.images.nodeImages.release(use)
        }
        if clean {
            try? FileManager.default.removeItem(atPath: directory)
        } else {
            parts.logger.error("instance mounts could not be removed; its directory is kept", metadata: ["instance": "\(id)"])
        }
    }
}
