import Foundation
import IMCCache

/// One instance's life as a value: where it stands and what it holds (`State`: its phase, with
/// the resources the start made in the phase's associated values), and its record (`Instance`),
/// moved on by what happened (a step done, a container exited, a delete came, the start failed)
/// and answering with what to do (`InstanceAction`s: take the next step, save the record,
/// restart a container after a back-off, stop metering the disk ...). It does no I/O: the
/// `InstanceRun` actor carries out the actions, so that the steps' order, the restart policy, the
/// back-off and the metering decisions are tested as tables, without root. `Held` is what the
/// carrier's steps make (a disk, a namespace, containers); the life keeps it, never looks in it.
public struct InstanceLifecycle<Held: Sendable>: Sendable {
    public typealias Phase = InstancePhase
    public typealias Step = InstanceStep
    public typealias Action = InstanceAction

    /// Where the life stands, holding what the carrier's steps made until the teardown has
    /// released it all.
    public enum State: Sendable {
        case created(Held)
        case preparing(Held)
        case initializing(index: Int, failures: Int, Held)
        case starting(Held)
        case running(Supervision, Held)
        case ended(Held)
        case restarting(Held)
        case stopping(removing: Bool, Held)
        case stopped

        public var phase: Phase {
            switch self {
            case .created: .created
            case .preparing: .preparing
            case .initializing(let index, let failures, _): .initializing(index: index, failures: failures)
            case .starting: .starting
            case .running(let supervision, _): .running(supervision)
            case .ended: .ended
            case .restarting: .restarting
            case .stopping(let removing, _): .stopping(removing: removing)
            case .stopped: .stopped
            }
        }

        /// What the life holds (nothing once stopped).
        public var held: Held? {
            switch self {
            case .created(let h), .preparing(let h), .initializing(_, _, let h), .starting(let h), .running(_, let h), .ended(let h),
                .restarting(let h), .stopping(_, let h):
                h
            case .stopped: nil
            }
        }

        init(_ phase: Phase, holding held: Held) {
            switch phase {
            case .created: self = .created(held)
            case .preparing: self = .preparing(held)
            case .initializing(let index, let failures): self = .initializing(index: index, failures: failures, held)
            case .starting: self = .starting(held)
            case .running(let supervision): self = .running(supervision, held)
            case .ended: self = .ended(held)
            case .restarting: self = .restarting(held)
            case .stopping(let removing): self = .stopping(removing: removing, held)
            case .stopped: self = .stopped
            }
        }
    }

    public private(set) var state: State
    public private(set) var instance: Instance

    /// Where it stands.
    public var phase: Phase { state.phase }

    /// What it holds; nil once stopped.
    public var held: Held? { state.held }

    /// Changes what it holds (nothing once stopped: what a late step makes then is the
    /// carrier's to release).
    public mutating func hold(_ change: (inout Held) -> Void) {
        guard var held = state.held else { return }
        change(&held)
        state = State(state.phase, holding: held)
    }

    /// Moves to `phase`, holding what it held; to `stopped`, letting go of it.
    mutating func moveTo(_ phase: Phase) {
        guard let held = state.held else { return }
        state = State(phase, holding: held)
    }

    /// The containers are starting again after a restart (not for the first time).
    public private(set) var isRestarting = false

    /// A life of `instance`, holding `held` (what a run of it before this process already made:
    /// its retained disk).
    public init(instance: Instance, holding held: Held) {
        self.instance = instance
        state = .created(held)
    }

    /// The back-off before the `failures`-th restart in a row, as the kubelet's: 0.5 s doubling,
    /// at most 30 s.
    public static func backoff(failures: Int) -> Duration { .milliseconds(min(500 << min(max(1, failures) - 1, 8), 30_000)) }

    // MARK: - Where it stands

    /// A delete or the service's stop has begun.
    public var isStopping: Bool {
        switch phase {
        case .stopping, .stopped: true
        default: false
        }
    }

    /// Whether `name` is supervised and should run (again).
    public func shouldRun(_ name: String) -> Bool {
        guard case .running(let s) = phase else { return false }
        return s.live.contains(name)
    }

    // MARK: - Facts the carrier records

    /// Records an event, and asks for it to be logged.
    public mutating func record(_ reason: InstanceEventReason, _ message: String, at time: Date) -> Action {
        instance.record(reason, message, at: time)
        return .announce(reason, message)
    }

    /// Marks a start-up moment.
    public mutating func mark(_ phase: String, at time: Date) { instance.mark(phase, at: time) }

    /// Changes the record's facts (the cache outcome, the disk) that are not decisions.
    public mutating func update(_ change: (inout Instance) -> Void) { change(&instance) }

    mutating func setState(_ name: String, _ change: (inout ContainerState) -> Void) {
        var s = instance.states[name] ?? ContainerState()
        change(&s)
        instance.states[name] = s
    }

    // MARK: - Start

    /// The start begins (once, and not after a delete): its first step.
    public mutating func begin() -> [Action] {
        guard phase == .created else { return [] }
        moveTo(.preparing)
        return [.step(.selectCache)]
    }

    /// A step was taken: what comes next (nothing when a stop has ended the start, or a
    /// restart was overtaken by a delete).
    public mutating func done(_ step: Step, at time: Date) -> [Action] {
        if step.isStart && isStopping { return [] }
        switch step {
        case .selectCache:
            mark(StartupPhase.matched, at: time)
            return [.step(.attachDisk)]
        case .attachDisk:
            mark(StartupPhase.diskReady, at: time)
            return [.step(.mountDisk)]
        case .mountDisk:
            mark(StartupPhase.diskMounted, at: time)
            return [.step(.isolate)]
        case .isolate:
            mark(StartupPhase.isolated, at: time)
            return [.save, .step(.readyImages)]
        case .readyImages: return [.step(.mapLayers)]
        case .mapLayers:
            mark(StartupPhase.layersMapped, at: time)
            return [.save, .step(.connectNetwork)]
        case .connectNetwork:
            mark(StartupPhase.networkReady, at: time)
            guard phase == .preparing else { return [] }
            if instance.initContainers.isEmpty {
                moveTo(.starting)
                return [.step(.startContainers)]
            }
            moveTo(.initializing(index: 0, failures: 0))
            return [.step(.runInitContainer(0))]
        case .runInitContainer: return []  // its end is told by `initContainerExited`
        case .startContainers:
            let first = !isRestarting
            let started = containersStarted(at: time)
            guard !started.isEmpty else { return [] }
            return started + [.supervise] + (first ? [.step(.checkMovedTags)] : [])
        case .checkMovedTags: return []
        case .stopForRestart:
            guard phase == .restarting else { return [] }
            return restartResumed(at: time) + [.step(.startContainers)]
        case .interruptStart(let grace): return [.step(.stopContainers(grace: grace))]
        case .stopContainers: return [.step(.stopSandbox)]
        case .stopSandbox: return [.step(.removeFilesystems)]
        case .removeFilesystems:
            guard case .stopping(let removing) = phase else { return [] }
            return [.step(.disconnectNetwork(removing: removing))]
        case .disconnectNetwork(let removing): return [.step(.releaseDisk(removing: removing))]
        case .releaseDisk(let removing): return [.step(.forget(removing: removing))]
        case .forget:
            moveTo(.stopped)
            return []
        }
    }

    /// A step failed: the start (or the restart) ends Failed with the reason, unless a stop
    /// has begun. The teardown's steps do not fail (what they cannot undo is logged).
    public mutating func failed(_ step: Step, _ message: String, at time: Date) -> [Action] {
        guard step.isStart else { return [] }
        if isRestarting { return restartAborted(message, at: time) }
        return startFailed(message, at: time)
    }

    /// A container was created (its root filesystem and bundle made).
    public mutating func containerCreated(_ name: String, at time: Date) -> [Action] {
        mark(StartupPhase.containerCreated(name), at: time)
        return [record(.created, "Created container \(name)", at: time)]
    }

    /// A container's process runs.
    public mutating func containerStarted(_ name: String, at time: Date) -> [Action] {
        mark(StartupPhase.containerStarted(name), at: time)
        let probes = instance.containers.first { $0.name == name }?.probes
        setState(name) {
            $0.ready = probes.map { $0.readiness == nil && $0.startup == nil }
            $0.state = .running
            $0.reason = nil
            $0.message = nil
            $0.exitCode = nil
            $0.startTime = time
            $0.finishTime = nil
        }
        return [record(.started, "Started container \(name)", at: time)]
    }

    /// A container's process ended with `code` (recorded as the kubelet does: `OOMKilled` when
    /// the kernel killed it for memory).
    public mutating func terminated(_ name: String, code: Int32, oomKilled: Bool = false, at time: Date) {
        setState(name) {
            if $0.ready != nil { $0.ready = false }
            $0.state = .terminated
            $0.exitCode = Int(code)
            $0.reason = oomKilled ? "OOMKilled" : code == 0 ? "Completed" : "Error"
            $0.finishTime = time
        }
    }

    /// An init container ended: on to the next one (or the containers), again after a
    /// back-off, or the start fails.
    public mutating func initContainerExited(_ name: String, code: Int32, at time: Date) -> [Action] {
        terminated(name, code: code, at: time)
        guard case .initializing(let index, let failures) = phase else { return [] }
        if code == 0 {
            if index + 1 < instance.initContainers.count {
                moveTo(.initializing(index: index + 1, failures: 0))
                return [.removeRuntime(name), .step(.runInitContainer(index + 1))]
            }
            moveTo(.starting)
            return [.removeRuntime(name), .step(.startContainers)]
        }
        guard instance.restartPolicy != .never else {
            return [.removeRuntime(name)] + startFailed("init container \(name) failed with exit code \(code)", at: time)
        }
        moveTo(.initializing(index: index, failures: failures + 1))
        setState(name) {
            $0.restartCount += 1
            $0.reason = "CrashLoopBackOff"
        }
        let event = record(.backOff, "Back-off restarting failed container \(name) in pod \(instance.name)", at: time)
        return [.removeRuntime(name), event, .save, .step(.runInitContainer(index), after: Self.backoff(failures: failures + 1))]
    }

    /// Every container runs: the instance is Running.
    mutating func containersStarted(at time: Date) -> [Action] {
        guard phase == .starting else { return [] }
        moveTo(.running(Supervision(live: Set(instance.containers.map(\.name)))))
        instance.status = .running
        isRestarting = false
        return [.save]
    }

    /// The start failed (unless a delete stopped it): the instance is Failed, and every
    /// container that did not end says why.
    mutating func startFailed(_ message: String, at time: Date) -> [Action] {
        guard !isStopping else { return [] }
        moveTo(.ended)
        instance.status = .failed
        instance.message = message
        instance.finishTime = time
        for (name, s) in instance.states where s.state != .terminated && s.reason != "ErrImagePull" {
            setState(name) {
                $0.state = .terminated
                $0.reason = "StartError"
                $0.message = String(message.prefix(300))
            }
        }
        return [record(.failed, message, at: time), .stopMeteringDisk, .save]
    }

    /// An image could not be pulled: the containers that run it wait with ErrImagePull, as the
    /// kubelet reports it.
    public mutating func imagePullFailed(_ image: String) {
        for c in instance.initContainers + instance.containers where c.image == image {
            setState(c.name) {
                $0.state = .waiting
                $0.reason = "ErrImagePull"
            }
        }
    }

    // MARK: - Supervision

    /// A supervised container ended: restarted after a back-off when the policy says so, else
    /// done; with every container done, the instance is Succeeded (all exited 0) or Failed, and
    /// its disk stops being billed as running.
    public mutating func containerExited(_ name: String, code: Int32, oomKilled: Bool = false, at time: Date) -> [Action] {
        guard case .running(var supervision) = phase, supervision.live.contains(name) else { return [] }
        terminated(name, code: code, oomKilled: oomKilled, at: time)
        let policy = instance.restartPolicy
        guard supervision.evicted == nil, policy == .always || (policy == .onFailure && code != 0) else {
            supervision.live.remove(name)
            moveTo(.running(supervision))
            return [.removeRuntime(name)] + finishIfDone(at: time) + [.save]
        }
        let failures = code == 0 ? 0 : supervision.failures[name, default: 0] + 1
        supervision.failures[name] = failures
        moveTo(.running(supervision))
        setState(name) {
            $0.restartCount += 1
            if code != 0 && !oomKilled { $0.reason = "CrashLoopBackOff" }
        }
        var actions: [Action] = []
        if code != 0 { actions.append(record(.backOff, "Back-off restarting failed container \(name) in pod \(instance.name)", at: time)) }
        return actions + [.save, .restart(name, after: Self.backoff(failures: failures))]
    }

    /// A container could not be started again: it is done, with the reason.
    public mutating func restartFailed(_ name: String, _ message: String, at time: Date) -> [Action] {
        guard case .running(var supervision) = phase, supervision.live.contains(name) else { return [] }
        supervision.live.remove(name)
        moveTo(.running(supervision))
        let event = record(.failed, "Error: \(message)", at: time)
        setState(name) { $0.reason = "StartError" }
        return [event] + finishIfDone(at: time) + [.save]
    }

    private mutating func finishIfDone(at time: Date) -> [Action] {
        guard case .running(let supervision) = phase, supervision.live.isEmpty, instance.status == .running else { return [] }
        moveTo(.ended)
        let codes = instance.containers.map { instance.states[$0.name]?.exitCode ?? 1 }
        instance.status = codes.allSatisfy { $0 == 0 } && supervision.evicted == nil ? .succeeded : .failed
        if instance.status == .failed { instance.message = supervision.evicted ?? "a container exited with an error" }
        instance.finishTime = time
        return [.stopMeteringDisk]
    }

    // MARK: - Restart (RestartEKSContainerInstances)

    /// A restart of every container begins (once the instance has started, and not while it
    /// is being deleted): its containers are stopped, then started again.
    public mutating func restartRequested() -> [Action] {
        switch phase {
        case .running, .ended:
            moveTo(.restarting)
            isRestarting = true
            return [.step(.stopForRestart(grace: instance.terminationGracePeriodSeconds))]
        default:
            return []
        }
    }

    /// The containers were stopped: they start again, and an ended instance's disk is billed
    /// as running again.
    mutating func restartResumed(at time: Date) -> [Action] {
        guard phase == .restarting else { return [] }
        var actions: [Action] = []
        if instance.status != .running, instance.diskFromCache { actions.append(.startMeteringDisk) }
        instance.status = .running
        instance.finishTime = nil
        instance.message = nil
        for c in instance.containers { setState(c.name) { $0.restartCount += 1 } }
        moveTo(.starting)
        return actions
    }

    /// The restart could not start the containers again.
    mutating func restartAborted(_ message: String, at time: Date) -> [Action] {
        isRestarting = false
        guard !isStopping else { return [] }
        moveTo(.ended)
        instance.status = .failed
        instance.message = message
        return [record(.failed, "Error: \(message)", at: time), .save]
    }

    // MARK: - Stop

    /// A delete (or the service's stop) begins: the teardown's steps, its containers given
    /// `grace` seconds (the instance's own when nil); nothing when one already has. With
    /// `removing`, the record goes once everything is released.
    public mutating func stopRequested(removing: Bool, grace: Int? = nil) -> [Action] {
        guard !isStopping else { return [] }
        moveTo(.stopping(removing: removing))
        return [.step(.interruptStart(grace: grace ?? instance.terminationGracePeriodSeconds))]
    }

    /// The service stops: a Pending or Running instance ends Failed with the reason, its
    /// containers get at most 5 s to exit (the record goes if it was being deleted). Nothing
    /// when a stop has already begun.
    public mutating func shutdownRequested(at time: Date) -> [Action] {
        guard !isStopping else { return [] }
        var actions: [Action] = []
        if instance.status == .pending || instance.status == .running {
            instance.status = .failed
            instance.message = "imc stopped while the instance ran; its containers were stopped"
            instance.finishTime = time
            actions.append(record(.nodeShutdown, instance.message!, at: time))
        }
        instance.terminationGracePeriodSeconds = min(instance.terminationGracePeriodSeconds, 5)
        let removing = instance.status == .terminating
        moveTo(.stopping(removing: removing))
        return actions + [.step(.interruptStart(grace: instance.terminationGracePeriodSeconds))]
    }

    /// A container is told to stop.
    public mutating func killing(_ name: String, at time: Date) -> Action {
        record(.killing, "Stopping container \(name)", at: time)
    }

}
