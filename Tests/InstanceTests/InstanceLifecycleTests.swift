import Foundation
import IMCCache
import IMCInstance
import IMCModel
import Testing

/// The instance's decisions as tables: no disk, no runc, no root.
struct InstanceLifecycleTests {
    /// What a carrier's steps would make: here, the names of the steps that made something.
    struct Made: Sendable, Equatable { var by: [String] = [] }
    typealias Life = InstanceLifecycle<Made>

    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    static func instance(policy: RestartPolicy, containers: [String] = ["a"], initContainers: [String] = [], fromCache: Bool = true)
        -> Instance
    {
        var i = Instance(id: "eksci-00000001", account: "1", region: "r", name: "pod", creationTime: t0)
        i.restartPolicy = policy
        i.containers = containers.map { ContainerSpec(name: $0, image: "busybox") }
        i.initContainers = initContainers.map { ContainerSpec(name: $0, image: "busybox") }
        if fromCache { i.cacheID = "imc-00000001" }
        return i
    }

    typealias Step = InstanceStep

    /// Takes every step the life asks for as if it succeeded (an init container exiting 0), and
    /// returns the steps taken and the other actions, in order.
    static func drive(_ life: inout Life, _ actions: [InstanceAction], stopAt last: Step? = nil)
        -> (steps: [Step], others: [InstanceAction])
    {
        var queue = actions
        var steps: [Step] = []
        var others: [InstanceAction] = []
        while !queue.isEmpty {
            let action = queue.removeFirst()
            guard case .step(let step, _) = action else {
                others.append(action)
                continue
            }
            steps.append(step)
            if step == last { break }
            // What the step made is held by the life, whatever its phase.
            life.hold { $0.by.append("\(step)") }
            switch step {
            case .runInitContainer(let i): queue += life.initContainerExited(life.instance.initContainers[i].name, code: 0, at: t0)
            case .startContainers:
                for c in life.instance.containers { _ = life.containerStarted(c.name, at: t0) }
                queue += life.done(step, at: t0)
            default: queue += life.done(step, at: t0)
            }
        }
        return (steps, others)
    }

    /// A life whose containers run.
    static func running(_ instance: Instance) -> Life {
        var life = Life(instance: instance, holding: Made())
        _ = drive(&life, life.begin(), stopAt: .checkMovedTags)
        #expect(life.instance.status == .running)
        return life
    }

    /// The start is the life's, step by step, in order; the record is saved where a person
    /// would look, and the containers are supervised once they run.
    @Test func theStartIsTakenStepByStepInOrder() {
        var life = Life(instance: Self.instance(policy: .always, initContainers: ["i1", "i2"]), holding: Made())
        let (steps, others) = Self.drive(&life, life.begin())
        #expect(
            steps == [
                .selectCache, .attachDisk, .mountDisk, .isolate, .readyImages, .mapLayers, .connectNetwork, .runInitContainer(0),
                .runInitContainer(1), .startContainers, .checkMovedTags,
            ])
        #expect(others.filter { $0 == .save }.count == 3 && others.contains(.supervise))
        #expect(others.contains(.removeRuntime("i1")) && others.contains(.removeRuntime("i2")))
        #expect(
            life.instance.phases.map(\.name).prefix(6) == [
                StartupPhase.matched, StartupPhase.diskReady, StartupPhase.diskMounted, StartupPhase.isolated,
                StartupPhase.layersMapped, StartupPhase.networkReady,
            ])
        #expect(life.begin() == [], "once")
        #expect(life.held?.by.prefix(3) == ["selectCache", "attachDisk", "mountDisk"], "what the start made is held in its phases")
    }

    /// A failed step ends the start Failed with the reason; a step done after a delete began
    /// leads nowhere (the teardown takes over).
    @Test func aFailedStepEndsTheStartAndADeleteEndsIt() {
        var life = Life(instance: Self.instance(policy: .always), holding: Made())
        _ = life.begin()
        let failed = life.failed(.readyImages, "Failed to pull image \"busybox\"", at: Self.t0)
        #expect(failed.contains(.save) && life.instance.status == .failed && life.phase == .ended)
        var deleted = Life(instance: Self.instance(policy: .always), holding: Made())
        _ = deleted.begin()
        _ = deleted.done(.selectCache, at: Self.t0)
        let stop = deleted.stopRequested(removing: true)
        #expect(stop == [.step(.interruptStart(grace: 30))])
        #expect(deleted.done(.attachDisk, at: Self.t0) == [] && deleted.failed(.mountDisk, "x", at: Self.t0) == [])
        #expect(deleted.instance.status == .pending)
    }

    /// The teardown's steps in order, the record removed only when deleting.
    @Test(arguments: [true, false])
    func theTeardownIsTakenStepByStepInOrder(removing: Bool) {
        var life = Self.running(Self.instance(policy: .always))
        let (steps, _) = Self.drive(&life, life.stopRequested(removing: removing, grace: 3))
        #expect(
            steps == [
                .interruptStart(grace: 3), .stopContainers(grace: 3), .stopSandbox, .removeFilesystems,
                .disconnectNetwork(removing: removing), .releaseDisk(removing: removing), .forget(removing: removing),
            ])
        #expect(life.phase == .stopped)
        #expect(life.stopRequested(removing: true) == [], "a stop comes once")
    }

    static let exits: [(RestartPolicy, Int32, Bool, InstanceStatus)] = [
        // policy, exit code, restarted?, status once it ends for good (when not restarted)
        (.always, 0, true, .running),
        (.always, 1, true, .running),
        (.onFailure, 0, false, .succeeded),
        (.onFailure, 3, true, .running),
        (.never, 0, false, .succeeded),
        (.never, 3, false, .failed),
    ]

    @Test(arguments: exits)
    func aContainersEndIsDecidedByTheRestartPolicy(policy: RestartPolicy, code: Int32, restarted: Bool, status: InstanceStatus) {
        var life = Self.running(Self.instance(policy: policy))
        let actions = life.containerExited("a", code: code, at: Self.t0)
        let restart = actions.contains { if case .restart("a", _) = $0 { true } else { false } }
        #expect(restart == restarted)
        #expect(life.instance.status == status)
        #expect(life.instance.states["a"]?.exitCode == Int(code))
        #expect(life.instance.states["a"]?.restartCount == (restarted ? 1 : 0))
        #expect(actions.contains(.save))
        // The disk stops being billed exactly when the instance ends.
        #expect(actions.contains(.stopMeteringDisk) == (status != .running))
        #expect(actions.contains(.removeRuntime("a")) == !restarted)
        let backOff = actions.contains { if case .announce(.backOff, _) = $0 { true } else { false } }
        #expect(backOff == (restarted && code != 0), "a back-off event only for a failure")
    }

    static let backoffs: [(Int, Duration)] = [
        (1, .milliseconds(500)), (2, .seconds(1)), (3, .seconds(2)), (4, .seconds(4)), (5, .seconds(8)), (6, .seconds(16)),
        (7, .seconds(30)), (20, .seconds(30)),
    ]

    @Test(arguments: backoffs)
    func backOffDoublesFromHalfASecondToThirtySeconds(failures: Int, expected: Duration) {
        #expect(Life.backoff(failures: failures) == expected)
    }

    @Test func failuresInARowGrowTheBackOffAndASuccessResetsIt() {
        var life = Self.running(Self.instance(policy: .always))
        var delays: [Duration] = []
        for code: Int32 in [1, 1, 1, 0, 1] {
            let actions = life.containerExited("a", code: code, at: Self.t0)
            for case .restart(_, let after) in actions { delays.append(after) }
        }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .milliseconds(500), .milliseconds(500)])
        #expect(life.instance.states["a"]?.restartCount == 5)
        #expect(life.instance.states["a"]?.reason == "CrashLoopBackOff")
    }

    @Test func theInstanceEndsOnlyWhenEveryContainerHasEnded() {
        var life = Self.running(Self.instance(policy: .never, containers: ["a", "b"]))
        let r2 = life.containerExited("a", code: 0, at: Self.t0)
        #expect(!r2.contains(.stopMeteringDisk))
        #expect(life.instance.status == .running)
        let r3 = life.containerExited("b", code: 2, at: Self.t0)
        #expect(r3.contains(.stopMeteringDisk))
        #expect(life.instance.status == .failed && life.instance.message == "a container exited with an error")
        #expect(life.phase == .ended)
    }

    @Test func aScratchDiskInstanceStillEndsButIsNotMeteredAgainOnRestart() {
        var life = Self.running(Self.instance(policy: .never, fromCache: false))
        _ = life.containerExited("a", code: 0, at: Self.t0)
        let r4 = life.restartRequested()
        #expect(r4 == [.step(.stopForRestart(grace: 30))])
        let r5 = life.done(.stopForRestart(grace: 30), at: Self.t0)
        #expect(r5 == [.step(.startContainers)], "a scratch disk is not billed")
        var cached = Self.running(Self.instance(policy: .never))
        _ = cached.containerExited("a", code: 0, at: Self.t0)
        _ = cached.restartRequested()
        let r7 = cached.done(.stopForRestart(grace: 30), at: Self.t0)
        #expect(r7 == [.startMeteringDisk, .step(.startContainers)], "an ended instance's cache disk is billed again")
        #expect(cached.instance.status == .running && cached.instance.states["a"]?.restartCount == 1)
    }

    @Test func aRunningInstanceIsNotMeteredTwiceOnRestart() {
        var life = Self.running(Self.instance(policy: .always))
        let (steps, others) = Self.drive(&life, life.restartRequested())
        #expect(steps == [.stopForRestart(grace: 30), .startContainers], "no tag check again")
        #expect(others == [.save, .supervise])
        #expect(life.shouldRun("a") && !life.isRestarting)
    }

    @Test func aRestartThatCannotStartEndsFailedAndADeleteOvertakesIt() {
        var life = Self.running(Self.instance(policy: .always))
        _ = life.restartRequested()
        _ = life.done(.stopForRestart(grace: 30), at: Self.t0)
        let aborted = life.failed(.startContainers, "no image", at: Self.t0)
        #expect(aborted.contains(.save) && life.instance.status == .failed && life.instance.message == "no image")
        var deleted = Self.running(Self.instance(policy: .always))
        _ = deleted.restartRequested()
        _ = deleted.stopRequested(removing: true)
        #expect(deleted.done(.stopForRestart(grace: 30), at: Self.t0) == [], "the teardown goes on, not the restart")
    }

    /// An init container's end: what comes next (the next one, or the containers), the same
    /// again after a back-off, or the start fails.
    static let initExits: [(RestartPolicy, Int32, InstanceAction?, String?)] = [
        (.never, 0, .step(.startContainers), nil), (.never, 1, nil, "init container i failed with exit code 1"),
        (.onFailure, 1, .step(.runInitContainer(0), after: .milliseconds(500)), nil),
        (.always, 1, .step(.runInitContainer(0), after: .milliseconds(500)), nil), (.always, 0, .step(.startContainers), nil),
    ]

    @Test(arguments: initExits)
    func anInitContainersEndGoesOnRetriesOrFailsTheStart(
        policy: RestartPolicy, code: Int32, next: InstanceAction?, failure: String?
    ) {
        var life = Life(instance: Self.instance(policy: policy, initContainers: ["i"]), holding: Made())
        _ = Self.drive(&life, life.begin(), stopAt: .runInitContainer(0))
        #expect(life.phase == .initializing(index: 0, failures: 0))
        let actions = life.initContainerExited("i", code: code, at: Self.t0)
        #expect(actions.first == .removeRuntime("i"))
        #expect(actions.last { if case .step = $0 { true } else { false } } == next)
        #expect(life.instance.message == failure)
        if next == .step(.startContainers) { #expect(life.phase == .starting) }
    }

    @Test func aStartThatFailsEndsTheInstanceButNotAfterADelete() {
        var life = Life(instance: Self.instance(policy: .always, containers: ["a", "b"]), holding: Made())
        _ = life.begin()
        life.imagePullFailed("busybox")
        let actions = life.failed(.readyImages, "Failed to pull image \"busybox\"", at: Self.t0)
        #expect(actions.contains(.stopMeteringDisk) && actions.contains(.save))
        #expect(life.instance.status == .failed && life.instance.states["a"]?.reason == "ErrImagePull")
        var other = Life(instance: Self.instance(policy: .always), holding: Made())
        _ = other.begin()
        other.update { $0.states["a"] = ContainerState() }
        _ = other.stopRequested(removing: true)
        let r15 = other.failed(.readyImages, "boom", at: Self.t0)
        #expect(r15 == [], "a delete already ends it")
        #expect(other.instance.status == .pending)
    }

    @Test func aStopComesOnceAndExitsDuringItAreNotRestarted() {
        var life = Self.running(Self.instance(policy: .always))
        #expect(!life.stopRequested(removing: false).isEmpty)
        #expect(life.stopRequested(removing: true) == [], "the second stop waits for nothing")
        let r18 = life.containerExited("a", code: 137, at: Self.t0)
        #expect(r18 == [], "the stop records the exit itself")
        #expect(life.restartRequested() == [])
        #expect(life.begin() == [])
    }

    @Test func aServiceStopFailsRunningInstancesAndShortensTheirGracePeriod() throws {
        var instance = Self.instance(policy: .always)
        instance.terminationGracePeriodSeconds = 30
        var life = Self.running(instance)
        let actions = life.shutdownRequested(at: Self.t0)
        #expect(life.instance.status == .failed && life.instance.terminationGracePeriodSeconds == 5)
        #expect(actions.contains { if case .announce(.nodeShutdown, _) = $0 { true } else { false } })
        #expect(actions.last == .step(.interruptStart(grace: 5)))
        #expect(Self.drive(&life, actions).steps.last == .forget(removing: false))
        #expect(life.shutdownRequested(at: Self.t0) == [])
        var deleting = Self.instance(policy: .always)
        deleting.status = .terminating
        var other = Life(instance: deleting, holding: Made())
        #expect(Self.drive(&other, other.shutdownRequested(at: Self.t0)).steps.last == .forget(removing: true))
    }
}

/// A container's environment as the kubelet makes it, from the Pod, its resources and its
/// namespace's ConfigMaps and Secrets; and the wait when one of those is not there.
struct EnvironmentTests {
    static func pod() -> Instance {
        var i = InstanceLifecycleTests.instance(policy: .never)
        i.name = "web"
        i.node = "node-b"
        i.privateIP = "10.1.0.5"
        i.kubernetes = KubernetesMetadata(uid: "u-1", labels: ["app": "web"], annotations: ["team": "a"], namespace: "shop")
        i.containers[0].cpu = 0.25
        i.containers[0].memory = 0.5
        return i
    }

    static func resolve(_ env: [EnvVar], from: [EnvFromSource] = [], objects: Environment.Objects = [:]) throws(ContainerConfigError)
        -> [String]
    {
        var i = pod()
        i.containers[0].env = env
        i.containers[0].envFrom = from
        return try Environment.resolve(i.containers[0], of: i, objects: objects).map { "\($0.0)=\($0.1)" }
    }

    @Test(arguments: [
        (EnvSource.field("metadata.name"), "web"), (.field("metadata.namespace"), "shop"), (.field("metadata.uid"), "u-1"),
        (.field("metadata.labels['app']"), "web"), (.field("metadata.annotations['team']"), "a"),
        (.field("metadata.labels['none']"), ""), (.field("metadata.labels"), "app=\"web\""), (.field("status.podIP"), "10.1.0.5"),
        (.field("spec.nodeName"), "node-b"), (.field("spec.serviceAccountName"), "default"),
        (.resource(container: nil, resource: "limits.cpu", divisor: nil), "1"),
        (.resource(container: nil, resource: "requests.cpu", divisor: "1m"), "250"),
        (.resource(container: nil, resource: "limits.memory", divisor: "1Mi"), "512"),
        (.resource(container: nil, resource: "limits.memory", divisor: nil), "536870912"),
    ])
    func aValueFromThePodOrItsResources(source: EnvSource, value: String) throws {
        #expect(try Self.resolve([EnvVar(name: "V", value: "", source: source)]) == ["V=\(value)"])
    }

    @Test func envFromComesFirstAndEnvReplacesWhatItNamesAgain() throws {
        let objects: Environment.Objects = [
            .configMap: ["cfg": ["b": Array("2".utf8), "a": Array("1".utf8), "1bad": Array("x".utf8)]],
            .secret: ["s": ["token": Array("t".utf8)]],
        ]
        let got = try Self.resolve(
            [
                EnvVar(name: "P_a", value: "mine"),
                EnvVar(name: "T", value: "", source: .key(.secret, name: "s", key: "token", optional: false)),
            ],
            from: [EnvFromSource(kind: .configMap, name: "cfg", prefix: "P_")], objects: objects)
        #expect(got == ["P_1bad=x", "P_a=mine", "P_b=2", "T=t"])
        let unprefixed = try Self.resolve([], from: [EnvFromSource(kind: .configMap, name: "cfg")], objects: objects)
        #expect(unprefixed == ["a=1", "b=2"], "a key that is not a variable name is skipped")
    }

    @Test(arguments: [
        (EnvVar(name: "T", value: "", source: .key(.secret, name: "s", key: "token", optional: false)), "secret \"s\" not found"),
        (EnvVar(name: "T", value: "", source: .key(.configMap, name: "c", key: "k", optional: false)), "configmap \"c\" not found"),
    ])
    func aMissingObjectIsTheKubeletsConfigError(variable: EnvVar, message: String) {
        #expect(throws: ContainerConfigError(container: "a", message: message)) { try Self.resolve([variable]) }
    }

    @Test func aMissingKeyIsAnErrorUnlessOptional() throws {
        let objects: Environment.Objects = [.secret: ["s": ["other": Array("x".utf8)]]]
        #expect(throws: ContainerConfigError(container: "a", message: "couldn't find key token in Secret shop/s")) {
            try Self.resolve(
                [EnvVar(name: "T", value: "", source: .key(.secret, name: "s", key: "token", optional: false))], objects: objects)
        }
        #expect(
            try Self.resolve(
                [EnvVar(name: "T", value: "", source: .key(.secret, name: "s", key: "token", optional: true))], objects: objects) == [])
        #expect(try Self.resolve([], from: [EnvFromSource(kind: .secret, name: "gone", optional: true)]) == [])
    }

    @Test func aContainerWaitingForItsConfigIsPendingAndTriedAgain() {
        var life = InstanceLifecycleTests.Life(instance: Self.pod(), holding: InstanceLifecycleTests.Made())
        _ = InstanceLifecycleTests.drive(&life, life.begin(), stopAt: .startContainers)
        let actions = life.containerConfigFailed(
            ContainerConfigError(container: "a", message: "secret \"s\" not found"), retry: .startContainers, after: .seconds(2),
            at: InstanceLifecycleTests.t0)
        #expect(life.instance.status == .pending)
        #expect(life.instance.states["a"]?.reason == "CreateContainerConfigError" && life.instance.states["a"]?.state == .waiting)
        #expect(life.instance.events.last?.reason == "Failed" && life.instance.events.last?.message == "Error: secret \"s\" not found")
        #expect(actions.contains(.step(.startContainers, after: .seconds(2))) && actions.contains(.save))
        // Told again, the event is counted, not repeated.
        _ = life.containerConfigFailed(
            ContainerConfigError(container: "a", message: "secret \"s\" not found"), retry: .startContainers, after: .seconds(2),
            at: InstanceLifecycleTests.t0)
        #expect(life.instance.events.filter { $0.reason == "Failed" }.map(\.count) == [2])
    }
}

/// The probe machine's decisions, as Kubernetes times them: results in, outcomes out.
struct ProbeMachineTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    static func at(_ s: Double) -> Date { t0.addingTimeInterval(s) }
    static func probe(delay: Int = 0, period: Int = 10, success: Int = 1, failure: Int = 3) -> Probe {
        var p = Probe(handler: .tcpSocket(port: 80))
        p.initialDelaySeconds = delay
        p.periodSeconds = period
        p.successThreshold = success
        p.failureThreshold = failure
        return p
    }

    @Test func readinessStartsFalseAndFollowsItsThresholds() {
        var m = ProbeMachine(ContainerProbes(readiness: Self.probe(delay: 5, success: 2, failure: 2)), container: "c", startedAt: Self.t0)
        #expect(!m.ready && m.due(at: Self.at(4)).isEmpty && m.due(at: Self.at(5)) == [.readiness])
        #expect(m.result(.readiness, passed: true, message: "", at: Self.at(5)) == [])
        #expect(m.nextDue == Self.at(15))
        #expect(m.result(.readiness, passed: true, message: "", at: Self.at(15)) == [.ready(true)])
        #expect(
            m.result(.readiness, passed: false, message: "refused", at: Self.at(25)) == [
                .unhealthy(.readiness, "Readiness probe failed: refused")
            ])
        #expect(m.ready)
        #expect(
            m.result(.readiness, passed: false, message: "refused", at: Self.at(35)) == [
                .unhealthy(.readiness, "Readiness probe failed: refused"), .ready(false),
            ])
    }

    @Test func livenessKillsAfterItsFailureThresholdInARowOnly() {
        var m = ProbeMachine(ContainerProbes(liveness: Self.probe(failure: 2)), container: "c", startedAt: Self.t0)
        #expect(m.ready, "no readiness probe: ready while it runs")
        _ = m.result(.liveness, passed: false, message: "x", at: Self.at(0))
        _ = m.result(.liveness, passed: true, message: "", at: Self.at(10))
        #expect(m.result(.liveness, passed: false, message: "x", at: Self.at(20)) == [.unhealthy(.liveness, "Liveness probe failed: x")])
        let last = m.result(.liveness, passed: false, message: "x", at: Self.at(30))
        #expect(last.contains(.kill("Container c failed liveness probe, will be restarted")) && last.contains(.ready(false)))
        #expect(m.killed && m.nextDue == nil && m.result(.liveness, passed: false, message: "x", at: Self.at(40)) == [])
    }

    @Test func aStartupProbeHoldsTheOthersBackUntilItPasses() {
        var m = ProbeMachine(
            ContainerProbes(liveness: Self.probe(), readiness: Self.probe(), startup: Self.probe(period: 1, failure: 30)), container: "c",
            startedAt: Self.t0)
        #expect(!m.started && !m.ready && m.due(at: Self.at(0)) == [.startup])
        _ = m.result(.startup, passed: false, message: "not yet", at: Self.at(0))
        #expect(m.due(at: Self.at(1)) == [.startup])
        #expect(m.result(.startup, passed: true, message: "", at: Self.at(1)) == [])
        #expect(m.started && Set(m.due(at: Self.at(1))) == [.liveness, .readiness])
        #expect(m.result(.readiness, passed: true, message: "", at: Self.at(1)) == [.ready(true)])
    }

    @Test func aStartupProbeThatNeverPassesKills() {
        var m = ProbeMachine(ContainerProbes(startup: Self.probe(period: 1, failure: 2)), container: "c", startedAt: Self.t0)
        _ = m.result(.startup, passed: false, message: "no", at: Self.at(0))
        #expect(
            m.result(.startup, passed: false, message: "no", at: Self.at(1)).last
                == .kill("Container c failed startup probe, will be restarted"))
    }
}
