import Synchronization

/// Caches whose snapshot this node holds warm: used here lately (a disk cloned from it), or
/// kept on this host's own disks (the local snapshot store). Placement prefers such a node.
public final class WarmCaches: Sendable {
    private let ids = Mutex<Set<String>>([])
    public init() {}
    public func add(_ id: String) { _ = ids.withLock { $0.insert(id) } }
    public func set(_ all: Set<String>) { ids.withLock { $0 = all } }
    public var all: [String] { ids.withLock { $0.sorted() } }
}
