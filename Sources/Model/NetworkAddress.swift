/// Where an instance is on its VPC's network: the VPC's network (its bridge), its subnet's
/// block (its /24) and its host number in the block.
public struct NetworkAddress: Sendable, Equatable {
    public var network: Int
    public var block: Int
    public var host: Int
    public init(network: Int, block: Int, host: Int) {
        self.network = network
        self.block = block
        self.host = host
    }
}
