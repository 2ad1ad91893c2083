import Foundation
import IMCCache

/// One instance's life as a value: where it stands (`State`) and its record (`Instance`), moved
/// on by what happened (a container exited, a delete came, the start failed) and answering with
/// what to do (`Action`s: save the record, restart a container after a back-off, stop metering
/// the disk ...). It does no I/O: the `InstanceRun` actor carries out the actions, so that the
/// restart policy, the back-off and the metering decisions are tested as tables, without root.
public struct InstanceLifecycle: Sendable {
    public enum State: Equatable, Sendable {
        /// Recorded; nothing has been done yet.
        case created
        /// Matching the cache, making and mounting the disk, readying the images and network.
        case preparing
        /// Running init container `index`, after `failures` failed attempts of it.
        case initializing(index: Int, failures: Int)
        /// Starting the containers.
        case starting
        /// The containers run, each supervised by the restart policy.
        case running(Supervision)
        /// Every container has ended for good (or the start failed).
        case ended
        /// RestartEKSContainerInstances: the containers are being stopped, to start again.
        case restarting
        /// A delete or the service's stop: containers stopping, disk being released; with
        /// `removing`, the record goes too.
        case stopping(removing: Bool)
        /// Everything it held is released.
        case stopped
    }

    /// The containers under supervision.
    public struct Supervision: Equatable, Sendable {
        /// Containers that have not ended for good (running, or waiting to be restarted).
        public var live: Set<String>
        /// Failures in a row per container, which set its back-off.
        public var failures: [String: Int] = [:]
    }

    /// What the carrier of the life must do, in order.
    public enum Action: Equatable, Sendable {
        /// Write the record.
        case save
        /// Tell the service's log about an event just recorded.
        case announce(InstanceEventReason, String)
        /// Remove a container's runtime state (it will not run again).
        case removeRuntime(String)
        /// Start a container again once `after` has passed.
        case restart(String, after: Duration)
        /// The image cache disk stops (or starts again) being billed as running.
        case stopMeteringDisk
        case startMeteringDisk
    }

    /// What an init container's end means for the start.
    public enum InitStep: Equatable, Sendable {
        /// On to the next init container (or the containers).
        case next
        /// Run it again after a back-off.
        case retry(after: Duration)
        /// The start fails, for this reason.
        case fail(String)
    }

    public private(set) var state: State
    public private(set) var instance: Instance

    public init(instance: Instance) {
        self.instance = instance
        state = .created
    }

    /// The back-off before the `failures`-th restart in a row, as the kubelet's: 0.5 s doubling,
    /// at most 30 s.
    public static func backoff(failures: Int) -> Duration { .milliseconds(min(500 << min(max(1, failures) - 1, 8), 30_000)) }

    // MARK: - Where it stands

    /// A delete or the service's stop has begun.
    public var isStopping: Bool {
        switch state {
        case .stopping, .stopped: true
        default: false
        }
    }

    /// The start is under way (a delete must cancel it and wait for it).
    public var isStarting: Bool {
        switch state {
        case .preparing, .initializing, .starting: true
        default: false
        }
    }

    /// Whether `name` is supervised and should run (again).
    public func shouldRun(_ name: String) -> Bool {
        guard case .running(let s) = state else { return false }
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

    private mutating func setState(_ name: String, _ change: (inout ContainerState) -> Void) {
        var s = instance.states[name] ?? ContainerState()
        change(&s)
        instance.states[name] = s
    }

    // MARK: - Start

    /// The start begins (once, and not after a delete).
    public mutating func begin() -> Bool {
        guard state == .created else { return false }
        state = .preparing
        return true
    }

    /// The disk, images and network are ready: on to the init containers, or the containers.
    public mutating func prepared() {
        guard state == .preparing else { return }
        state = instance.initContainers.isEmpty ? .starting : .initializing(index: 0, failures: 0)
    }

    /// A container was created (its root filesystem and bundle made).
    public mutating func containerCreated(_ name: String, at time: Date) -> [Action] {
        mark(StartupPhase.containerCreated(name), at: time)
        return [record(.created, "Created container \(name)", at: time)]
    }

    /// A container's process runs.
    public mutating func containerStarted(_ name: String, at time: Date) -> [Action] {
        mark(StartupPhase.containerStarted(name), at: time)
        setState(name) {
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
            $0.state = .terminated
            $0.exitCode = Int(code)
            $0.reason = oomKilled ? "OOMKilled" : code == 0 ? "Completed" : "Error"
            $0.finishTime = time
        }
    }

    /// An init container ended: the next one, a retry after a back-off, or the start fails.
    public mutating func initContainerExited(_ name: String, code: Int32, at time: Date) -> (InitStep, [Action]) {
        terminated(name, code: code, at: time)
        guard case .initializing(let index, let failures) = state else { return (.fail("the instance is being deleted"), []) }
        if code == 0 {
            state = index + 1 < instance.initContainers.count ? .initializing(index: index + 1, failures: 0) : .starting
            return (.next, [.removeRuntime(name)])
        }
        guard instance.restartPolicy != .never else {
            return (.fail("init container \(name) failed with exit code \(code)"), [.removeRuntime(name)])
        }
        state = .initializing(index: index, failures: failures + 1)
        setState(name) {
            $0.restartCount += 1
            $0.reason = "CrashLoopBackOff"
        }
        let event = record(.backOff, "Back-off restarting failed container \(name) in pod \(instance.name)", at: time)
        return (.retry(after: Self.backoff(failures: failures + 1)), [.removeRuntime(name), event, .save])
    }

    /// Every container runs: the instance is Running.
    public mutating func containersStarted(at time: Date) -> [Action] {
        guard state == .starting else { return [] }
        state = .running(Supervision(live: Set(instance.containers.map(\.name))))
        instance.status = .running
        return [.save]
    }

    /// The start failed (unless a delete stopped it): the instance is Failed, and every
    /// container that did not end says why.
    public mutating func startFailed(_ message: String, at time: Date) -> [Action] {
        guard !isStopping else { return [] }
        state = .ended
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
        guard case .running(var supervision) = state, supervision.live.contains(name) else { return [] }
        terminated(name, code: code, oomKilled: oomKilled, at: time)
        let policy = instance.restartPolicy
        guard policy == .always || (policy == .onFailure && code != 0) else {
            supervision.live.remove(name)
            state = .running(supervision)
            return [.removeRuntime(name)] + finishIfDone(at: time) + [.save]
        }
        let failures = code == 0 ? 0 : supervision.failures[name, default: 0] + 1
        supervision.failures[name] = failures
        state = .running(supervision)
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
        guard case .running(var supervision) = state, supervision.live.contains(name) else { return [] }
        supervision.live.remove(name)
        state = .running(supervision)
        let event = record(.failed, "Error: \(message)", at: time)
        setState(name) { $0.reason = "StartError" }
        return [event] + finishIfDone(at: time) + [.save]
    }

    private mutating func finishIfDone(at time: Date) -> [Action] {
        guard case .running(let supervision) = state, supervision.live.isEmpty, instance.status == .running else { return [] }
        state = .ended
        let codes = instance.containers.map { instance.states[$0.name]?.exitCode ?? 1 }
        instance.status = codes.allSatisfy { $0 == 0 } ? .succeeded : .failed
        if instance.status == .failed { instance.message = "a container exited with an error" }
        instance.finishTime = time
        return [.stopMeteringDisk]
    }

    // MARK: - Restart (RestartEKSContainerInstances)

    /// A restart of every container begins (once the instance has started, and not while it
    /// is being deleted).
    public mutating func restartRequested() -> Bool {
        switch state {
        case .running, .ended:
            state = .restarting
            return true
        default:
            return false
        }
    }

    /// The containers were stopped: they start again, and an ended instance's disk is billed
    /// as running again.
    public mutating func restartResumed(at time: Date) -> [Action] {
        guard state == .restarting else { return [] }
        var actions: [Action] = []
        if instance.status != .running, instance.diskFromCache { actions.append(.startMeteringDisk) }
        instance.status = .running
        instance.finishTime = nil
        instance.message = nil
        for c in instance.containers { setState(c.name) { $0.restartCount += 1 } }
        state = .starting
        return actions
    }

    /// The restart could not start the containers again.
    public mutating func restartAborted(_ message: String, at time: Date) -> [Action] {
        guard !isStopping else { return [] }
        state = .ended
        instance.status = .failed
        instance.message = message
        return [record(.failed, "Error: \(message)", at: time), .save]
    }

    // MARK: - Stop

    /// A delete (or the service's stop) begins; returns false when one already has. With
    /// `removing`, the record goes once everything is released.
    public mutating func stopRequested(removing: Bool) -> Bool {
        guard !isStopping else { return false }
        state = .stopping(removing: removing)
        return true
    }

    /// The service stops: a Pending or Running instance ends Failed with the reason, its
    /// containers get at most 5 s to exit. Returns nil when a stop has already begun, else
    /// whether the record goes (it was being deleted).
    public mutating func shutdownRequested(at time: Date) -> (removing: Bool, actions: [Action])? {
        guard !isStopping else { return nil }
        var actions: [Action] = []
        if instance.status == .pending || instance.status == .running {
            instance.status = .failed
            instance.message = "imc stopped while the instance ran; its containers were stopped"
            instance.finishTime = time
            actions.append(record(.nodeShutdown, instance.message!, at: time))
        }
        instance.terminationGracePeriodSeconds = min(instance.terminationGracePeriodSeconds, 5)
        let removing = instance.status == .terminating
        state = .stopping(removing: removing)
        return (removing, actions)
    }

    /// A container is told to stop.
    public mutating func killing(_ name: String, at time: Date) -> Action {
        record(.killing, "Stopping container \(name)", at: time)
    }

    /// Everything is released.
    public mutating func stopped() { state = .stopped }
}
