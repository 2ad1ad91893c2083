import Foundation

/// What is metered (API.md section 8): the builder and its disk while a cache builds, the
/// snapshot while the cache exists, an instance's image cache disk while the instance holds it,
/// and a retained disk while it is kept.
public enum UsageKind: String, Codable, Sendable, CaseIterable {
    case builder
    case buildDisk = "build_disk"
    case snapshot
    case instanceDisk = "instance_disk"
    case retainedDisk = "retained_disk"
    /// An elastic IP, while the account holds it (bound or kept).
    case eip

    /// What one unit of quantity is, per hour.
    public var unit: String {
        switch self {
        case .builder: "builder-hour (2 cores, 4 GiB)"
        case .eip: "address-hour"
        default: "GiB-hour"
        }
    }
}

/// One metered interval: a resource of `quantity` units from `start` until `end` (nil: still
/// in use).
public struct Usage: Codable, Sendable, Equatable {
    public var account: String
    public var kind: UsageKind
    public var resourceID: String
    public var cacheID: String?
    public var instanceID: String?
    /// GiB for disks and snapshots; 1 for a builder.
    public var quantity: Int
    /// For instance and retained disks: the price class (`CLOUD_PREMIUM`, ...).
    public var diskType: String?
    public var start: Date
    public var end: Date?

    public init(
        account: String, kind: UsageKind, resourceID: String, cacheID: String?, instanceID: String?, quantity: Int, diskType: String?,
        start: Date, end: Date? = nil
    ) {
        self.account = account
        self.kind = kind
        self.resourceID = resourceID
        self.cacheID = cacheID
        self.instanceID = instanceID
        self.quantity = quantity
        self.diskType = diskType
        self.start = start
        self.end = end
    }
}

/// Unit prices per hour, from a moment on. Configuration, not code; decimal, never floating.
public struct PriceList: Sendable, Equatable {
    /// When these prices start to apply (nil: from the beginning).
    public var from: Date?
    public var currency: String
    public var builder: Decimal
    public var buildDisk: Decimal
    public var snapshot: Decimal
    /// By disk type, for instance and retained disks.
    public var disk: [String: Decimal]
    /// An elastic IP, per address-hour.
    public var eip: Decimal

    public init(
        from: Date?, currency: String, builder: Decimal, buildDisk: Decimal, snapshot: Decimal, disk: [String: Decimal],
        eip: Decimal = Decimal(string: "0.02")!
    ) {
        self.from = from
        self.currency = currency
        self.builder = builder
        self.buildDisk = buildDisk
        self.snapshot = snapshot
        self.disk = disk
        self.eip = eip
    }

    /// imc's defaults (a list like the vendor's, in CNY per hour); a config file replaces them.
    public static let defaults = PriceList(
        from: nil, currency: "CNY", builder: Decimal(string: "0.32")!, buildDisk: Decimal(string: "0.0004")!,
        snapshot: Decimal(string: "0.00017")!,
        disk: [
            "CLOUD_BASIC": Decimal(string: "0.0002")!, "CLOUD_PREMIUM": Decimal(string: "0.0004")!, "CLOUD_SSD": Decimal(string: "0.0011")!,
            "CLOUD_HSSD": Decimal(string: "0.0014")!, "CLOUD_TSSD": Decimal(string: "0.0028")!,
        ])

    public func price(_ usage: Usage) -> Decimal? {
        switch usage.kind {
        case .builder: return builder
        case .buildDisk: return buildDisk
        case .snapshot: return snapshot
        case .instanceDisk, .retainedDisk: return disk[usage.diskType ?? "CLOUD_PREMIUM"]
        case .eip: return eip
        }
    }
}

/// A bill: line items and totals, for one account and period.
public struct Bill: Sendable, Equatable {
    public struct LineItem: Sendable, Equatable {
        public var kind: UsageKind
        public var resourceID: String
        public var cacheID: String?
        public var instanceID: String?
        public var diskType: String?
        public var start: Date
        public var end: Date
        /// Units (GiB or builders).
        public var quantity: Int
        /// Hours, exact (seconds / 3600).
        public var hours: Decimal
        public var unit: String
        public var unitPrice: Decimal
        /// quantity x hours x unit price, rounded half-up to 4 decimal places.
        public var amount: Decimal
    }
    public var currency: String
    public var from: Date
    public var to: Date
    public var items: [LineItem]
    /// By cache id (items of no cache, such as a scratch disk, are not in it).
    public var cacheTotals: [String: Decimal]
    public var total: Decimal
}

/// The bill computed from usage and prices, as a pure function: each usage interval is cut to
/// the period and at every price change, and each piece is a line item.
public enum Billing {
    public static let places: Int16 = 4

    public static func bill(usage: [Usage], prices: [PriceList], from: Date, to: Date, now: Date) -> Bill {
        let lists = prices.sorted { ($0.from ?? .distantPast) < ($1.from ?? .distantPast) }
        var items: [Bill.LineItem] = []
        for u in usage.sorted(by: { ($0.start, $0.resourceID) < ($1.start, $1.resourceID) }) {
            let start = max(u.start, from)
            let end = min(u.end ?? now, to)
            guard end > start else { continue }
            // Cut at the price changes inside [start, end).
            var cuts = [start]
            for l in lists { if let f = l.from, f > start, f < end { cuts.append(f) } }
            cuts.append(end)
            for i in 0..<(cuts.count - 1) {
                let a = cuts[i]
                let b = cuts[i + 1]
                guard let list = lists.last(where: { ($0.from ?? .distantPast) <= a }) ?? lists.first, let price = list.price(u) else {
                    continue
                }
                let seconds = Decimal(Int64((b.timeIntervalSince(a) * 1000).rounded())) / 1000
                let hours = seconds / 3600
                items.append(
                    Bill.LineItem(
                        kind: u.kind, resourceID: u.resourceID, cacheID: u.cacheID, instanceID: u.instanceID, diskType: u.diskType,
                        start: a, end: b,
                        quantity: u.quantity, hours: hours, unit: u.kind.unit, unitPrice: price,
                        amount: round(Decimal(u.quantity) * hours * price)))
            }
        }
        var cacheTotals: [String: Decimal] = [:]
        for item in items { if let c = item.cacheID { cacheTotals[c, default: 0] += item.amount } }
        return Bill(
            currency: lists.last?.currency ?? "CNY", from: from, to: to, items: items, cacheTotals: cacheTotals,
            total: items.reduce(0) { $0 + $1.amount })
    }

    public static func round(_ value: Decimal) -> Decimal {
        var input = value
        var output = Decimal()
        NSDecimalRound(&output, &input, Int(places), .plain)
        return output
    }

    /// A decimal as plain text with 4 places ("0.0123").
    public static func text(_ value: Decimal) -> String {
        var v = round(value)
        var s = NSDecimalString(&v, nil)
        if !s.contains(".") { s += "." }
        let decimals = s.count - 1 - (s.firstIndex(of: ".").map { s.distance(from: s.startIndex, to: $0) } ?? 0)
        return s + String(repeating: "0", count: max(0, Int(places) - decimals))
    }
}
