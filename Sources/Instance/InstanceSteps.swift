/// The words of an instance's life (`InstanceLifecycle`): where it stands, the steps its carrier
/// takes, and the actions the life answers with.

/// Where an instance's life stands.
public enum InstancePhase: Equatable, Sendable {
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
    /// Why the Pod was evicted (its containers are being killed and none runs again).
    public var evicted: String?
}

/// A step of the start or of the teardown, taken by the carrier of the life, which tells the
/// life when it is done (`done`) or why it failed (`failed`); the life answers with what
/// comes next.
public enum InstanceStep: Equatable, Sendable {
    // The start, in order.
    /// Match (or look up) the cache, and say what was chosen.
    case selectCache
    /// A retained disk of the cache taken back, a clone of its snapshot, or a scratch disk.
    case attachDisk
    case mountDisk
    /// The id range, the user namespace and the cgroup.
    case isolate
    /// The images: from the disk, or pulled.
    case readyImages
    /// The layer stores shown idmapped.
    case mapLayers
    /// The Pod's network namespace, its VPC's port, gVisor's sandbox.
    case connectNetwork
    /// Init container `index` run to its end.
    case runInitContainer(Int)
    /// Every container created and started.
    case startContainers
    /// Once running: whether the cache's tags have moved since it was built.
    case checkMovedTags
    // A restart of every container (RestartEKSContainerInstances).
    /// The containers stopped (then `startContainers`).
    case stopForRestart(grace: Int)
    // The teardown, in order.
    /// A start under way: what it runs stopped, and the start let unwind.
    case interruptStart(grace: Int)
    /// TERM, then KILL after `grace` seconds.
    case stopContainers(grace: Int)
    case stopSandbox
    /// The cgroup emptied and removed, overlays and idmapped layers unmounted, logs closed.
    case removeFilesystems
    /// The network namespace and the VPC's port (its address kept unless `removing`).
    case disconnectNetwork(removing: Bool)
    /// The disk unmounted and retained or released, the node store let go, the user
    /// namespace and (with `removing`) the id range given back, the run directory removed.
    case releaseDisk(removing: Bool)
    /// The record saved as it ended, or (with `removing`) removed.
    case forget(removing: Bool)

    /// Whether the step is the start's (a stop ends the start: its steps are not taken).
    public var isStart: Bool {
        switch self {
        case .selectCache, .attachDisk, .mountDisk, .isolate, .readyImages, .mapLayers, .connectNetwork, .runInitContainer,
            .startContainers, .checkMovedTags, .stopForRestart:
            true
        default: false
        }
    }
}

/// What the carrier of the life must do, in order.
public enum InstanceAction: Equatable, Sendable {
    /// Take a step (after `after`: an init container's back-off), then tell the life.
    case step(InstanceStep, after: Duration = .zero)
    /// Watch each container, and restart it as the policy says.
    case supervise
    /// Write the record.
    case save
    /// Tell the service's log about an event just recorded.
    case announce(InstanceEventReason, String)
    /// Remove a container's runtime state (it will not run again).
    case removeRuntime(String)
    /// Start a container again once `after` has passed.
    case restart(String, after: Duration)
    /// Kill every container (they end, and the supervision is told).
    case killContainers
    /// The image cache disk stops (or starts again) being billed as running.
    case stopMeteringDisk
    case startMeteringDisk
}
