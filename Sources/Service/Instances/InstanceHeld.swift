import IMCInstance
import IMCOS
import IMCRuntime

/// What an instance's steps made and its teardown releases, kept by its life in its phase's
/// associated values (`InstanceLifecycle<InstanceHeld>.State`): the cache chosen, the disk, the
/// node store it uses, its user namespace, its images and their idmapped layers, the gVisor
/// sandbox, its containers and their logs. Nothing is held once the life is stopped.
struct InstanceHeld: Sendable {
    /// The cache chosen for the instance (or none), once chosen.
    var selection: CacheSelection?
    /// The instance's disk, once attached.
    var lease: DiskLease?
    /// The account's node image store, while this instance uses it.
    var nodeImages: NodeImages.Use?
    /// The instance's user namespace (its id range), while it runs.
    var namespace: UserNamespace?
    /// Images ready to run, by reference as the containers name them.
    var images: [String: ReadyImage] = [:]
    /// Images that came from the cache's disk (checked for moved tags once running).
    var fromCache: Set<String> = []
    /// Each image's layers relative to the run directory, through the idmapped layer mounts.
    var relativeLayers: [String: [String]] = [:]
    /// The Pod's gVisor sandbox (its pause process), for the `gvisor` runtime class.
    var sandbox: RunningContainer?
    /// Containers whose `runc run` is a child of this process, by name.
    var running: [String: RunningContainer] = [:]
    /// Each container's log, while it runs.
    var logs: [String: LogWriter] = [:]
    /// The instance's OOM kills when each container was last started.
    var oomKillsAtStart: [String: Int] = [:]

    init(lease: DiskLease? = nil) { self.lease = lease }
}

/// The run's names for what its life holds: each read from the life's phase, and each change
/// written back to it.
extension InstanceRun {
    var selection: CacheSelection? {
        get { life.held?.selection }
        set { life.hold { $0.selection = newValue } }
    }
    var lease: DiskLease? {
        get { life.held?.lease }
        set { life.hold { $0.lease = newValue } }
    }
    var nodeImages: NodeImages.Use? {
        get { life.held?.nodeImages }
        set { life.hold { $0.nodeImages = newValue } }
    }
    var namespace: UserNamespace? {
        get { life.held?.namespace }
        set { life.hold { $0.namespace = newValue } }
    }
    var images: [String: ReadyImage] {
        get { life.held?.images ?? [:] }
        set { life.hold { $0.images = newValue } }
    }
    var fromCache: Set<String> {
        get { life.held?.fromCache ?? [] }
        set { life.hold { $0.fromCache = newValue } }
    }
    var relativeLayers: [String: [String]] {
        get { life.held?.relativeLayers ?? [:] }
        set { life.hold { $0.relativeLayers = newValue } }
    }
    var sandbox: RunningContainer? {
        get { life.held?.sandbox }
        set { life.hold { $0.sandbox = newValue } }
    }
    var running: [String: RunningContainer] {
        get { life.held?.running ?? [:] }
        set { life.hold { $0.running = newValue } }
    }
    var logs: [String: LogWriter] {
        get { life.held?.logs ?? [:] }
        set { life.hold { $0.logs = newValue } }
    }
    var oomKillsAtStart: [String: Int] {
        get { life.held?.oomKillsAtStart ?? [:] }
        set { life.hold { $0.oomKillsAtStart = newValue } }
    }
}
