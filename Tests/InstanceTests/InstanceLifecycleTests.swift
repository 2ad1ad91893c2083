import Foundation
import IMCCache
import IMCInstance
import Testing

/// The instance's decisions as tables: no disk, no runc, no root.
struct InstanceLifecycleTests {
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

    /// A life whose containers run.
    static func running(_ instance: Instance) -> InstanceLifecycle {
        var life = InstanceLifecycle(instance: instance)
        let r1 = life.begin()
        #expect(r1)
        life.prepared()
        while case .initializing = life.state { _ = life.initContainerExited(instance.initContainers[0].name, code: 0, at: t0) }
        for c in instance.containers { _ = life.containerStarted(c.name, at: t0) }
        let started = life.containersStarted(at: t0)
        #expect(started == [.save])
        return life
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
        #expect(InstanceLifecycle.backoff(failures: failures) == expected)
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
        #expect(life.state == .ended)
    }

    @Test func aScratchDiskInstanceStillEndsButIsNotMeteredAgainOnRestart() {
        var life = Self.running(Self.instance(policy: .never, fromCache: false))
        _ = life.containerExited("a", code: 0, at: Self.t0)
        let r4 = life.restartRequested()
        #expect(r4)
        let r5 = life.restartResumed(at: Self.t0)
        #expect(r5 == [], "a scratch disk is not billed")
        var cached = Self.running(Self.instance(policy: .never))
        _ = cached.containerExited("a", code: 0, at: Self.t0)
        let r6 = cached.restartRequested()
        #expect(r6)
        let r7 = cached.restartResumed(at: Self.t0)
        #expect(r7 == [.startMeteringDisk], "an ended instance's cache disk is billed again")
        #expect(cached.instance.status == .running && cached.instance.states["a"]?.restartCount == 1)
    }

    @Test func aRunningInstanceIsNotMeteredTwiceOnRestart() {
        var life = Self.running(Self.instance(policy: .always))
        let r8 = life.restartRequested()
        #expect(r8)
        let r9 = life.restartResumed(at: Self.t0)
        #expect(r9 == [])
        let r10 = life.containersStarted(at: Self.t0)
        #expect(r10 == [.save])
        #expect(life.shouldRun("a"))
    }

    static let initExits: [(RestartPolicy, Int32, InstanceLifecycle.InitStep)] = [
        (.never, 0, .next), (.never, 1, .fail("init container i failed with exit code 1")),
        (.onFailure, 1, .retry(after: .milliseconds(500))), (.always, 1, .retry(after: .milliseconds(500))), (.always, 0, .next),
    ]

    @Test(arguments: initExits)
    func anInitContainersEndGoesOnRetriesOrFailsTheStart(policy: RestartPolicy, code: Int32, step: InstanceLifecycle.InitStep) {
        var life = InstanceLifecycle(instance: Self.instance(policy: policy, initContainers: ["i"]))
        let r11 = life.begin()
        #expect(r11)
        life.prepared()
        #expect(life.state == .initializing(index: 0, failures: 0))
        let (next, _) = life.initContainerExited("i", code: code, at: Self.t0)
        #expect(next == step)
        if step == .next { #expect(life.state == .starting) }
    }

    @Test func aStartThatFailsEndsTheInstanceButNotAfterADelete() {
        var life = InstanceLifecycle(instance: Self.instance(policy: .always, containers: ["a", "b"]))
        let r12 = life.begin()
        #expect(r12)
        life.imagePullFailed("busybox")
        let actions = life.startFailed("Failed to pull image \"busybox\"", at: Self.t0)
        #expect(actions.contains(.stopMeteringDisk) && actions.contains(.save))
        #expect(life.instance.status == .failed && life.instance.states["a"]?.reason == "ErrImagePull")
        var other = InstanceLifecycle(instance: Self.instance(policy: .always))
        let r13 = other.begin()
        #expect(r13)
        other.update { $0.states["a"] = ContainerState() }
        let r14 = other.stopRequested(removing: true)
        #expect(r14)
        let r15 = other.startFailed("boom", at: Self.t0)
        #expect(r15 == [], "a delete already ends it")
        #expect(other.instance.status == .pending)
    }

    @Test func aStopComesOnceAndExitsDuringItAreNotRestarted() {
        var life = Self.running(Self.instance(policy: .always))
        let r16 = life.stopRequested(removing: false)
        #expect(r16)
        let r17 = life.stopRequested(removing: true)
        #expect(!r17, "the second stop waits for nothing")
        let r18 = life.containerExited("a", code: 137, at: Self.t0)
        #expect(r18 == [], "the stop records the exit itself")
        let r19 = life.restartRequested()
        #expect(!r19)
        let r20 = life.begin()
        #expect(!r20)
    }

    @Test func aServiceStopFailsRunningInstancesAndShortensTheirGracePeriod() throws {
        var instance = Self.instance(policy: .always)
        instance.terminationGracePeriodSeconds = 30
        var life = Self.running(instance)
        let requested = life.shutdownRequested(at: Self.t0)
        let (removing, actions) = try #require(requested)
        #expect(!removing)
        #expect(life.instance.status == .failed && life.instance.terminationGracePeriodSeconds == 5)
        #expect(actions.contains { if case .announce(.nodeShutdown, _) = $0 { true } else { false } })
        let again = life.shutdownRequested(at: Self.t0)
        #expect(again == nil)
        var deleting = Self.instance(policy: .always)
        deleting.status = .terminating
        var other = InstanceLifecycle(instance: deleting)
        let removed = other.shutdownRequested(at: Self.t0)
        #expect(removed?.removing == true)
    }
}
