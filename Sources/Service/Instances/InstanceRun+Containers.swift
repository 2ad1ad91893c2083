import Foundation
import IMCInstance
import IMCOS
import IMCObservability
import IMCRuntime
import IMCServiceSupport
import Synchronization

/// The containers: root filesystems and bundles made, runc started, init containers run to
/// completion, containers supervised by the restart policy, and stopped with a grace period.
extension InstanceRun {
    func rootfs(_ name: String) -> String { runDirectory + "/rootfs/\(name)" }
    func bundle(_ name: String) -> String { runDirectory + "/bundles/\(name)" }

    /// Mounts the container's root filesystem and writes its bundle. The overlay's layers are the
    /// idmapped ones, named relative to the run directory and mounted from there, so that the
    /// mount table a container reads names no host path; its writable layer belongs to the
    /// instance's root.
    /// Each container's environment, resolved now from the Pod and the ConfigMaps and Secrets
    /// of its namespace (read at every start, so a restart sees what they hold then).
    func environments(_ specs: [ContainerSpec]) async throws -> [String: [(String, String)]] {
        let names = specs.reduce(into: Set<Environment.ObjectName>()) { $0.formUnion(Environment.objects(of: $1)) }
        let objects =
            names.isEmpty
            ? [:]
            : try await parts.objects.data(names, account: instance.account, namespace: instance.kubernetes?.namespace ?? "default")
        var out: [String: [(String, String)]] = [:]
        for spec in specs { out[spec.name] = try Environment.resolve(spec, of: instance, objects: objects) }
        return out
    }

    /// How long a container whose ConfigMap or Secret is missing waits before it is tried again.
    static let configRetry: Duration = .seconds(2)

    func create(_ spec: ContainerSpec) async throws {
        let env = try await environments([spec])[spec.name] ?? []
        try await create(spec, env: env)
    }

    func create(_ spec: ContainerSpec, env: [(String, String)]) async throws {
        guard !life.isStopping else { throw ServiceError.failed("the instance is being deleted") }
        guard let image = held.images[spec.image], let lower = held.relativeLayers[spec.image] else {
            throw ServiceError.failed("image \(spec.image) is not ready")
        }
        let root = rootfs(spec.name)
        if !MountTable.isMountPoint(root) {
            let writable = "disk/containers/\(id)/\(spec.name)"
            let (directory, owner, userXattrs) = (runDirectory, idRange?.base, image.userXattrs)
            try await BlockingPool.shared.run {
                try Overlay.mount(
                    lower: lower, upper: writable + "/upper", work: writable + "/work", at: "rootfs/\(spec.name)", in: directory,
                    owner: owner, userXattrs: userXattrs)
            }
        }
        var process = try ProcessSpec.resolve(
            image: image.config.config, command: spec.commands, args: spec.args, env: env,
            workingDir: spec.workingDir)
        let user = try ImageUser.resolve(
            image.config.config?.User, passwd: Overlay.readFile("/etc/passwd", inRoot: root),
            group: Overlay.readFile("/etc/group", inRoot: root))
        process.uid = spec.security?.runAsUser ?? user.uid
        process.gid = spec.security?.runAsGroup ?? user.gid
        if spec.security?.runAsNonRoot == true, process.uid == 0 {
            throw ServiceError.failed(
                "container \(spec.name) has runAsNonRoot and would run as root (uid 0); give runAsUser or an image whose user is not root")
        }
        let hostname = InstanceService.isDNSLabel(instance.name) ? instance.name : id
        var walls = isolation(for: spec)
        walls.mounts = try volumeMounts(for: spec)
        try RuntimeSpec.write(
            RuntimeSpec.make(
                process: process, rootfs: root, hostname: hostname, cgroupsPath: cgroup.container(spec.name),
                networkNamespace: network.path, isolation: walls),
            bundle: bundle(spec.name))
        await perform(life.containerCreated(spec.name, at: now))
    }

    /// Starts the container's process and records it running; its output goes to its rotated,
    /// capped log on the instance's disk.
    func launch(_ spec: ContainerSpec) async throws {
        // A gVisor Pod's sandbox that ended (killed for memory with all its containers) is
        // started again first.
        try await startSandbox()
        // A container of this name left by an earlier run of it (a restart) goes first.
        if runtime.exists(id: runcID(spec.name)) { await runtime.delete(id: runcID(spec.name)) }
        let logPath = parts.paths.logPath(id, spec.name)
        try FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        LogWriter.keepAsPrevious(logPath, files: parts.limits.logFiles)
        let writer = LogWriter(path: logPath, maxBytes: parts.limits.logMaxBytes, files: parts.limits.logFiles)
        held.oomKillsAtStart[spec.name] = cgroup.oomKills()
        let container = try await runtime.start(id: runcID(spec.name), bundle: bundle(spec.name), writer: writer)
        held.running[spec.name] = container
        held.logs[spec.name] = writer
        if life.isStopping {
            // A delete came while it started: it is killed at once (and waited for by the stop).
            await runtime.kill(id: runcID(spec.name), signal: "KILL", all: true)
            throw ServiceError.failed("the instance is being deleted")
        }
        await perform(life.containerStarted(spec.name, at: now))
        if spec.probes != nil, instance.containers.contains(where: { $0.name == spec.name }) {
            Task { await self.probe(spec, container: container) }
        }
    }

    /// Whether a container that ended with `code` was killed by the kernel for memory.
    /// (In gVisor, the kernel kills the sandbox's sentry, and the runtime reports the
    /// container's end with its own status.)
    func oomKilled(_ name: String, code: Int32) -> Bool {
        (code == 137 || (instance.runtimeClass == .gvisor && code != 0)) && cgroup.oomKills() > held.oomKillsAtStart[name, default: 0]
    }

    /// The exit code the kubelet would report: 137 for a container killed for memory.
    func reportedCode(_ name: String, code: Int32) -> (Int32, Bool) {
        let oom = oomKilled(name, code: code)
        return (oom ? 137 : code, oom)
    }

    /// Runs init container `index` to its end; returns what the life says of it (the next one,
    /// the same again after a back-off, or the start fails).
    func runInitContainer(_ index: Int) async throws -> [InstanceAction] {
        let spec = instance.initContainers[index]
        do {
            try await prepareVolumes()
            try await create(spec)
        } catch let e as ContainerConfigError {
            return life.containerConfigFailed(e, retry: .runInitContainer(index), after: Self.configRetry, at: now)
        }
        try await launch(spec)
        await save()
        let code = await held.running[spec.name]?.exit() ?? 255
        held.running[spec.name] = nil
        return life.initContainerExited(spec.name, code: code, at: now)
    }

    /// Starts every container (the life then has the instance Running and its containers
    /// supervised); or, when one's environment names an object that is not there, what the
    /// life says of that (the start is tried again).
    func startContainers() async throws -> [InstanceAction]? {
        // Every container's environment first: none starts while one waits for its objects.
        let environments: [String: [(String, String)]]
        do {
            try await prepareVolumes()
            environments = try await self.environments(instance.containers)
        } catch let e as ContainerConfigError {
            return life.containerConfigFailed(e, retry: .startContainers, after: Self.configRetry, at: now)
        }
        for spec in instance.containers {
            try await create(spec, env: environments[spec.name] ?? [])
            try await launch(spec)
        }
        if !life.isRestarting {
            IMCMetrics.started(cached: instance.cacheOutcome == .used, seconds: now.timeIntervalSince(instance.creationTime))
        }
        return nil
    }

    /// Waits for a container to end and restarts it as the life decides, after its back-off.
    func supervise(_ spec: ContainerSpec) async {
        while let container = held.running[spec.name] {
            let code = await container.exit()
            // Replaced meanwhile (a restart of the instance), or stopping: not this loop's to decide.
            guard held.running[spec.name] === container else { return }
            let (reported, oom) = reportedCode(spec.name, code: code)
            let actions = life.containerExited(spec.name, code: reported, oomKilled: oom, at: now)
            guard !actions.isEmpty else { return }
            await perform(actions)
            guard let after = actions.lazy.compactMap(\.restartDelay).first else {
                held.running[spec.name] = nil
                return
            }
            try? await parts.clock.sleep(for: after)
            guard life.shouldRun(spec.name), held.running[spec.name] === container else { return }
            do {
                try await create(spec)
                try await launch(spec)
                await save()
            } catch {
                held.running[spec.name] = nil
                await perform(life.restartFailed(spec.name, Self.describe(error), at: now))
                return
            }
        }
    }

    /// SIGTERM to every running container, SIGKILL to what is left after `grace` seconds; each
    /// one's end is recorded and its runtime state removed.
    func stopContainers(grace: Int) async {
        let live = held.running.filter { $0.value.exitStatus == nil }
        for name in live.keys.sorted() {
            await perform([life.killing(name, at: now)])
            await runtime.kill(id: runcID(name), signal: "TERM")
        }
        if !live.isEmpty {
            let clock = parts.clock
            let containers = Array(live.values)
            await firstOf({ for c in containers { _ = await c.exit() } }, { try? await clock.sleep(for: .seconds(grace)) })
        }
        for (name, c) in live where c.exitStatus == nil { await runtime.kill(id: runcID(name), signal: "KILL", all: true) }
        for (name, c) in live {
            let code = await c.exit()
            let (reported, oom) = reportedCode(name, code: code)
            life.terminated(name, code: reported, oomKilled: oom, at: now)
        }
        for name in (instance.initContainers + instance.containers).map(\.name) { await runtime.delete(id: runcID(name)) }
        held.running = [:]
    }
}

extension InstanceAction {
    /// The back-off of a `.restart`.
    var restartDelay: Duration? {
        if case .restart(_, let after) = self { return after }
        return nil
    }
}

/// Returns when the first of `a` and `b` returns; the other is cancelled (and runs on to its own
/// end, unawaited).
func firstOf(_ a: @escaping @Sendable () async -> Void, _ b: @escaping @Sendable () async -> Void) async {
    let race = Race()
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        race.start(continuation, [a, b])
    }
}

/// The state of a `firstOf`: the waiter, the runners, and whether one has finished.
private final class Race: Sendable {
    private let state = Mutex<(CheckedContinuation<Void, Never>?, [Task<Void, Never>])>((nil, []))

    func start(_ continuation: CheckedContinuation<Void, Never>, _ bodies: [@Sendable () async -> Void]) {
        state.withLock { $0.0 = continuation }
        let tasks = bodies.map { body in
            Task {
                await body()
                self.finish()
            }
        }
        let finished = state.withLock { s -> Bool in
            s.1 = tasks
            return s.0 == nil
        }
        if finished { for t in tasks { t.cancel() } }
    }

    private func finish() {
        let (waiter, tasks) = state.withLock { s -> (CheckedContinuation<Void, Never>?, [Task<Void, Never>]) in
            defer { s.0 = nil }
            return (s.0, s.1)
        }
        guard let waiter else { return }
        for t in tasks { t.cancel() }
        waiter.resume()
    }
}
