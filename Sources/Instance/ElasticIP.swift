import Foundation
import IMCDocuments

/// An instance's elastic IP: an address of the operator's pool bound 1:1 to its private
/// address (what reaches the EIP is sent on to the instance, what the instance sends out leaves
/// from the EIP).
public struct InstanceEIP: Codable, Sendable, Equatable {
    /// `eip-` and eight characters.
    public var id: String
    public var address: String
    /// Made for the instance (`AutoCreateEip`, a Pod's `eip-attributes`), rather than one of the
    /// account's kept EIPs (`ExistedEipIds`).
    public var autoCreated: Bool
    /// The most the instance sends out through it, in Mbit/s (`InternetMaxBandwidthOut`); nil:
    /// no cap.
    public var bandwidthMbps: Int?
    /// Whether deleting the instance releases it (an auto-created EIP, unless the delete says
    /// `ReleaseAutoCreatedEip: false`, which its kept record then says); otherwise it stays the
    /// account's, unbound.
    public var releaseOnDelete: Bool

    public init(id: String, address: String, autoCreated: Bool, bandwidthMbps: Int?, releaseOnDelete: Bool) {
        self.id = id
        self.address = address
        self.autoCreated = autoCreated
        self.bandwidthMbps = bandwidthMbps
        self.releaseOnDelete = releaseOnDelete
    }
}

/// The EIPs a create asks for.
public enum EIPRequest: Sendable, Equatable {
    /// One new EIP per replica, with an outbound cap (Mbit/s) or none.
    case autoCreate(bandwidthMbps: Int?)
    /// The account's kept EIPs, one per replica.
    case existing([String])

    /// The outbound caps an EIP takes (the real service's `InternetMaxBandwidthOut` range).
    public static let bandwidthMbps = 1...1000

    /// `InternetMaxBandwidthOut` of an EIP's attributes (`AutoCreateEipAttribute`, a Pod's
    /// `eip-attributes`), nil when absent; `DeletePolicy` true is taken (imc's only policy);
    /// any other attribute is refused by its key (`unsupported`).
    public static func bandwidth(attributes: JSONValue) -> Result<Int?, AttributeProblem> {
        guard case .object(let fields) = attributes else {
            return attributes == .null ? .success(nil) : .failure(AttributeProblem(key: nil, "must be an object", unsupported: false))
        }
        var bandwidth: Int?
        for (key, value) in fields {
            switch key {
            case "InternetMaxBandwidthOut":
                guard let n = value.int, bandwidthMbps.contains(Int(n)) else {
                    return .failure(
                        AttributeProblem(
                            key: key, "must be Mbit/s from \(bandwidthMbps.lowerBound) to \(bandwidthMbps.upperBound), not \(value)",
                            unsupported: false))
                }
                bandwidth = Int(n)
            case "DeletePolicy":
                guard value == .bool(true) || value == .string("true") else {
                    return .failure(
                        AttributeProblem(
                            key: key,
                            "an auto-created EIP goes with its instance unless the delete keeps it (ReleaseAutoCreatedEip: false)",
                            unsupported: true))
                }
            default:
                return .failure(
                    AttributeProblem(
                        key: key, "is not supported by imc (it acts on InternetMaxBandwidthOut and DeletePolicy)", unsupported: true))
            }
        }
        return .success(bandwidth)
    }
}

/// Why an EIP's attributes are refused: the attribute, and whether imc lacks it (rather than
/// its value being wrong).
public struct AttributeProblem: Error, Sendable {
    public let key: String?
    public let message: String
    public let unsupported: Bool
    init(key: String?, _ message: String, unsupported: Bool) {
        self.key = key
        self.message = message
        self.unsupported = unsupported
    }
}

/// An EIP as kept: the address, the account it belongs to, and the instance it is bound to.
public struct ElasticIP: Codable, Sendable, Equatable {
    public var id: String
    public var account: String
    public var address: String
    /// The instance it is bound to; nil: kept for the account, unbound.
    public var instance: String?
    public var autoCreated: Bool
    public var bandwidthMbps: Int?
    public var created: Date
    /// Kept for the account when its instance goes (`ReleaseAutoCreatedEip: false`).
    public var keep: Bool?

    public init(
        id: String, account: String, address: String, instance: String?, autoCreated: Bool, bandwidthMbps: Int?, created: Date
    ) {
        self.id = id
        self.account = account
        self.address = address
        self.instance = instance
        self.autoCreated = autoCreated
        self.bandwidthMbps = bandwidthMbps
        self.created = created
    }
}

/// The operator's pool of EIP addresses (config `eips: {pool: CIDR}`): an IPv4 block, from which
/// its network and broadcast addresses are left out (a /31 or /32 gives all it has).
public struct EIPPool: Sendable, Equatable {
    public let cidr: String
    /// Every address given out, in order.
    public let addresses: [String]
    /// The most EIPs one account holds (bound or kept).
    public var perAccount: Int

    /// The pool of `cidr` (`198.51.100.0/24`), or why not. Blocks larger than /16 are refused:
    /// a pool is addresses an operator routes to its hosts, not a range to scan.
    public static func parse(_ cidr: String, perAccount: Int = 16) -> Result<EIPPool, PoolError> {
        let parts = cidr.split(separator: "/", maxSplits: 1).map(String.init)
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard octets.count == 4, parts[0].split(separator: ".", omittingEmptySubsequences: false).count == 4 else {
            return .failure(PoolError("\(cidr) is not an IPv4 block like 198.51.100.0/24"))
        }
        guard parts.count == 2, let prefix = Int(parts[1]), (16...32).contains(prefix) else {
            return .failure(PoolError("\(cidr) must end in a prefix from /16 to /32"))
        }
        let value = octets.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        guard value & ~mask == 0 else {
            return .failure(PoolError("\(cidr) has host bits set; the block begins at \(Self.text(value & mask))/\(prefix)"))
        }
        let size = UInt32(1) << (32 - prefix)
        let range = prefix >= 31 ? 0..<size : 1..<(size - 1)
        return .success(EIPPool(cidr: cidr, addresses: range.map { Self.text(value + $0) }, perAccount: perAccount))
    }

    private init(cidr: String, addresses: [String], perAccount: Int) {
        self.cidr = cidr
        self.addresses = addresses
        self.perAccount = perAccount
    }

    static func text(_ v: UInt32) -> String { "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)" }

    public struct PoolError: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }
}
