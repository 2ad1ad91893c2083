import IMCOS
import IMCStore

/// The host ids given to instances' user namespaces: `count` ranges of `size` ids from `first`,
/// far above any id a host's own users have.
public struct IDRangePool: Sendable {
    public var first: UInt32 = 1 << 30
    public var size: UInt32 = 65536
    public var count = 8192
    public init() {}
}
