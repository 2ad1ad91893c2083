import Foundation

/// What the ports' drop counters say, turned into what to do with it: how many more of each
/// reason to count in the metrics, and which instance to warn. A pure value: it is handed each
/// reading of the counters (`VPCNetworks.portDrops()`) in the order they were read.
///
/// An instance is warned the first time it sends as another address (or past its connection
/// cap), then at most once per `quiet` interval while it goes on, each warning with the counts
/// since the one before. Frames of other protocols (IPv6, which is off on instance ports) are
/// counted, never warned of: a stack that tries IPv6 is not an attack.
public struct PortDropLedger: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Frames sent as another address (source MAC, ARP, source IPv4).
        case spoofing
        /// New connections past the instance's cap.
        case connectionLimit

        init?(_ drop: PortDrop) {
            if drop.isSpoofing {
                self = .spoofing
            } else if drop == .connectionLimit {
                self = .connectionLimit
            } else {
                return nil
            }
        }
    }

    /// An instance (by its binding key) to be told what its port dropped since it was last told.
    public struct Warning: Sendable, Equatable {
        public var key: String
        public var kind: Kind
        public var counts: [PortDrop: UInt64]
    }

    /// The shortest time between two warnings of one kind to one instance.
    public let quiet: TimeInterval
    private var last: [String: [PortDrop: UInt64]] = [:]
    private var untold: [String: [PortDrop: UInt64]] = [:]
    private var told: [String: [Kind: Date]] = [:]

    public init(quiet: TimeInterval = 600) { self.quiet = quiet }

    /// Takes a reading; returns what to add to each reason's count, and the warnings due at `now`.
    /// A counter lower than last time was made anew (an instance bound again): all of it is new.
    /// A key no longer read is an instance gone, and forgotten.
    public mutating func observe(_ reading: [String: [PortDrop: UInt64]], at now: Date) -> (
        increments: [PortDrop: UInt64], warnings: [Warning]
    ) {
        var increments: [PortDrop: UInt64] = [:]
        var warnings: [Warning] = []
        for (key, counts) in reading.sorted(by: { $0.key < $1.key }) {
            for (drop, value) in counts {
                let before = last[key]?[drop] ?? 0
                let added = value >= before ? value - before : value
                guard added > 0 else { continue }
                increments[drop, default: 0] += added
                if Kind(drop) != nil { untold[key, default: [:]][drop, default: 0] += added }
            }
            last[key] = counts
            for kind in [Kind.spoofing, .connectionLimit] {
                let due = (untold[key] ?? [:]).filter { Kind($0.key) == kind }
                guard !due.isEmpty else { continue }
                if let at = told[key]?[kind], now.timeIntervalSince(at) < quiet { continue }
                warnings.append(Warning(key: key, kind: kind, counts: due))
                told[key, default: [:]][kind] = now
                for drop in due.keys { untold[key]?[drop] = nil }
            }
        }
        for key in last.keys where reading[key] == nil {
            last[key] = nil
            untold[key] = nil
            told[key] = nil
        }
        return (increments, warnings)
    }

    /// A warning as a person reads it in the instance's events.
    public static func message(_ warning: Warning, address: String?, connectionLimit: Int) -> String {
        let own = address.map { " (\($0))" } ?? ""
        func count(_ drop: PortDrop) -> UInt64 { warning.counts[drop] ?? 0 }
        switch warning.kind {
        case .spoofing:
            var parts: [String] = []
            if count(.sourceIP) > 0 { parts.append("\(count(.sourceIP)) with a source IPv4 address not the instance's\(own)") }
            if count(.sourceMAC) > 0 { parts.append("\(count(.sourceMAC)) with a source MAC address not the instance's") }
            if count(.arp) > 0 { parts.append("\(count(.arp)) ARP claiming another address") }
            return "Dropped \(warning.counts.values.reduce(0, +)) frames sent as another address: "
                + parts.joined(separator: ", ") + ". An instance sends only as itself."
        case .connectionLimit:
            return "Dropped \(count(.connectionLimit)) new connections: the instance has \(connectionLimit) connections tracked, "
                + "as many as it may; new ones go through once some of them end."
        }
    }
}
