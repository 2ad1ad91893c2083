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
    /// Whether the loop that keeps file volumes current (and checks emptyDir limits) runs.
    var refreshingVolumes = false
    /// The userspace NFS client of each NFS volume, by volume name.
    var nfsClients: [String: ChildProcess] = [:]
    /// The instance's OOM kills when each container was last started.
    var oomKillsAtStart: [String: Int] = [:]

    init(lease: DiskLease? = nil) { self.lease = lease }
}

extension InstanceRun {
    /// What the life holds, read from its phase; each change written back to it (none once the
    /// life is stopped: what a late step makes then is the step's to let go).
    var held: InstanceHeld {
        get { life.held ?? InstanceHeld() }
        set { life.hold { $0 = newValue } }
    }
}
