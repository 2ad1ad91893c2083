import CIMCSys
import Foundation
import IMCOS

/// A Pod's network namespace, shared by its containers (they reach each other on 127.0.0.1),
/// made with iproute2 (`ip netns`: a named namespace bound under /run/netns) with its loopback
/// up. imc gives it no other interface: instances have no network beyond it.
public struct NetworkNamespace: Sendable {
    public let name: String
    public var path: String { "/run/netns/\(name)" }

    public init(name: String) { self.name = name }

    /// Creates the namespace (a leftover of the same name is replaced). With `owner`, the
    /// namespace belongs to that user namespace (the instance's), as a container's own would:
    /// its containers, root only in their user namespace, may then mount their sysfs; it is made
    /// in-process (no `ip` run on the start's path), its loopback brought up from inside.
    public func create(owner: UserNamespace? = nil) async throws(RuntimeError) {
        await delete()
        if let owner {
            let target = path
            let made = await BlockingPool.shared.run { () -> Int32 in
                try? FileManager.default.createDirectory(atPath: "/run/netns", withIntermediateDirectories: true)
                return imc_netns_in_userns(owner.fd, target) == 0 ? 0 : errno
            }
            guard made == 0 else {
                throw RuntimeError(.runtime, "cannot create network namespace \(name): \(String(cString: strerror(made)))")
            }
            return
        }
        guard await Self.ip(["netns", "add", name]) == 0 else {
            throw RuntimeError(.runtime, "cannot create network namespace \(name)")
        }
        guard await Self.ip(["-n", name, "link", "set", "lo", "up"]) == 0 else {
            await delete()
            throw RuntimeError(.runtime, "cannot bring up the loopback of network namespace \(name)")
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

    static func ip(_ arguments: [String]) async -> Int32 {
        (try? await Command.run(["/usr/sbin/ip"] + arguments))?.status ?? -1
    }
}
