import Foundation
import IMCOS

/// A Pod's network namespace, shared by its containers (they reach each other on 127.0.0.1),
/// made with iproute2 (`ip netns`: a named namespace bound under /run/netns) with its loopback
/// up. imc gives it no other interface: instances have no network beyond it.
public struct NetworkNamespace: Sendable {
    public let name: String
    public var path: String { "/run/netns/\(name)" }

    public init(name: String) { self.name = name }

    /// Creates the namespace (a leftover of the same name is replaced).
    public func create() async throws(RuntimeError) {
        _ = await Self.ip(["netns", "delete", name])
        guard await Self.ip(["netns", "add", name]) == 0 else { throw RuntimeError(.runtime, "cannot create network namespace \(name)") }
        guard await Self.ip(["-n", name, "link", "set", "lo", "up"]) == 0 else {
            _ = await Self.ip(["netns", "delete", name])
            throw RuntimeError(.runtime, "cannot bring up the loopback of network namespace \(name)")
        }
    }

    public func delete() async { _ = await Self.ip(["netns", "delete", name]) }

    static func ip(_ arguments: [String]) async -> Int32 {
        (try? await Command.run(["/usr/sbin/ip"] + arguments))?.status ?? -1
    }
}
