import CIMCSys
import Foundation
import IMCOS
import IMCRuntime

/// A Pod's network namespace, shared by its containers (they reach each other on 127.0.0.1): a
/// named namespace bound under /run/netns (as `ip netns add` makes one), with its loopback up and
/// IPv6 off for the interfaces added to it (`VPCNetworks.attach` adds its `eth0`). Without a VPC
/// it has no other interface.
public struct NetworkNamespace: Sendable {
    public let name: String
    public var path: String { "/run/netns/\(name)" }

    public init(name: String) { self.name = name }

    /// Creates the namespace (a leftover of the same name is replaced), in process: no `ip` run on
    /// the start's path. With `owner`, the namespace belongs to that user namespace (the
    /// instance's), as a container's own would: its containers, root only in their user namespace,
    /// may then mount their sysfs.
    public func create(owner: UserNamespace? = nil) async throws(RuntimeError) {
        await delete()
        let target = path
        let made = await BlockingPool.shared.run { () -> Int32 in
            try? FileManager.default.createDirectory(atPath: "/run/netns", withIntermediateDirectories: true)
            return imc_netns_create(owner?.fd ?? -1, target) == 0 ? 0 : errno
        }
        guard made == 0 else {
            throw RuntimeError(.runtime, "cannot create network namespace \(name): \(String(cString: strerror(made)))")
        }
    }

    /// Removes the namespace's name (as `ip netns delete` does: the bind is detached and the file
    /// removed); the namespace goes with its last process.
    public func delete() async {
        let target = path
        guard FileManager.default.fileExists(atPath: target) else { return }
        await BlockingPool.shared.run {
            try? Mount.unmount(target, detach: true)
            unlink(target)
        }
    }
}
