/// The VPC API's elastic IP actions (service `vpc`, version 2017-03-12), as far as imc's EIPs go:
/// the account's EIPs listed, and kept ones released.
public struct DescribeAddressesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeAddresses
    public typealias Response = DescribeAddressesResponse

    public var AddressIds: [String]?
    /// `address-id`, `address-ip`, `address-status`, `instance-id`.
    public var Filters: [Filter]?
    public var Offset: Int?
    public var Limit: Int?

    public init() {}
}

public struct DescribeAddressesResponse: Codable, Sendable, Equatable {
    public var TotalCount: Int
    public var AddressSet: [Address]

    public init(TotalCount: Int, AddressSet: [Address]) {
        self.TotalCount = TotalCount
        self.AddressSet = AddressSet
    }
}

/// An EIP as the VPC API describes one.
public struct Address: Codable, Sendable, Equatable {
    public var AddressId: String
    public var AddressName: String
    /// `BIND` (to an instance) or `UNBIND` (kept for the account).
    public var AddressStatus: String
    public var AddressIp: String
    @Nullable public var InstanceId: String?
    /// `EKSCI` while bound to a container instance.
    @Nullable public var InstanceType: String?
    @Nullable public var PrivateAddressIp: String?
    public var CreatedTime: String
    public var AddressType: String
    /// Whether it goes with its instance (an auto-created EIP the delete did not keep).
    public var CascadeRelease: Bool
    /// Its outbound cap in Mbit/s; null: none.
    @Nullable public var Bandwidth: Int?

    public init(
        AddressId: String, AddressStatus: String, AddressIp: String, InstanceId: String?, PrivateAddressIp: String?, CreatedTime: String,
        CascadeRelease: Bool, Bandwidth: Int?
    ) {
        self.AddressId = AddressId
        AddressName = AddressId
        self.AddressStatus = AddressStatus
        self.AddressIp = AddressIp
        self.InstanceId = InstanceId
        InstanceType = InstanceId == nil ? nil : "EKSCI"
        self.PrivateAddressIp = PrivateAddressIp
        self.CreatedTime = CreatedTime
        AddressType = "EIP"
        self.CascadeRelease = CascadeRelease
        self.Bandwidth = Bandwidth
    }
}

public struct ReleaseAddressesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.releaseAddresses
    public typealias Response = ReleaseAddressesResponse

    public var AddressIds: [String]

    public init(AddressIds: [String]) { self.AddressIds = AddressIds }
}

public struct ReleaseAddressesResponse: Codable, Sendable, Equatable {
    /// The real service's asynchronous task; imc releases at once and names none.
    public var TaskId: String
    public init() { TaskId = "" }
}
