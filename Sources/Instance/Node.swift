import Foundation

/// An imc host that runs instances (`imc serve --role node|all`): what it offers, what is placed
/// on it, which caches it holds warm, and whether it is alive (its last heartbeat).
public struct Node: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Heartbeating; instances are placed on it.
        case ready = "Ready"
        /// Missed its heartbeats: fenced, its instances started elsewhere. It must stop; it is
        /// Ready again only when it registers again (a restart).
        case lost = "Lost"
    }

    public var name: String
    public var state: State
    /// Cores, GiB of memory and GiB of disk offered to instances.
    public var cpu: Double
    public var memoryGiB: Double
    public var diskGiB: Int64
    /// What the instances placed on it and not ended ask for.
    public var allocatedCPU: Double = 0
    public var allocatedMemoryGiB: Double = 0
    /// Caches whose snapshot this node holds warm (built here, or a disk cloned from it here
    /// lately): an instance of such a cache starts without fetching its parent's first blocks.
    public var warmCaches: [String] = []
    /// Placements the node's own count may not hold yet: an instance placed between the node's
    /// read of its instances and its heartbeat, or placed and not yet written. Each is counted in
    /// the allocation until a heartbeat's read holds its instance, or for `reservationLifetime`
    /// (a placement whose instance was never written).
    public var reservations: [Reservation] = []
    public var registered: Date
    public var heartbeat: Date

    public struct Reservation: Codable, Sendable, Equatable {
        public var instance: String
        public var cpu: Double
        public var memoryGiB: Double
        public var at: Date
    }

    public static let reservationLifetime: TimeInterval = 60

    public init(name: String, cpu: Double, memoryGiB: Double, diskGiB: Int64, at now: Date) {
        self.name = name
        state = .ready
        self.cpu = cpu
        self.memoryGiB = memoryGiB
        self.diskGiB = diskGiB
        registered = now
        heartbeat = now
    }

    enum CodingKeys: String, CodingKey {
        case name, state, cpu, memoryGiB, diskGiB, allocatedCPU, allocatedMemoryGiB, warmCaches, reservations, registered, heartbeat
    }

    /// Rows written before reservations were kept decode with none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        state = try c.decode(State.self, forKey: .state)
        cpu = try c.decode(Double.self, forKey: .cpu)
        memoryGiB = try c.decode(Double.self, forKey: .memoryGiB)
        diskGiB = try c.decode(Int64.self, forKey: .diskGiB)
        allocatedCPU = try c.decodeIfPresent(Double.self, forKey: .allocatedCPU) ?? 0
        allocatedMemoryGiB = try c.decodeIfPresent(Double.self, forKey: .allocatedMemoryGiB) ?? 0
        warmCaches = try c.decodeIfPresent([String].self, forKey: .warmCaches) ?? []
        reservations = try c.decodeIfPresent([Reservation].self, forKey: .reservations) ?? []
        registered = try c.decode(Date.self, forKey: .registered)
        heartbeat = try c.decode(Date.self, forKey: .heartbeat)
    }

    public var freeCPU: Double { cpu - allocatedCPU }
    public var freeMemoryGiB: Double { memoryGiB - allocatedMemoryGiB }

    /// A heartbeat of a Ready node: its allocation as its instances say (`counted`: the
    /// instances that count was taken from), the placements it did not see yet, and its warm
    /// caches. A heartbeat never takes back a placement made after the node read its instances.
    public mutating func beat(
        at now: Date, allocatedCPU: Double, allocatedMemoryGiB: Double, counted: Set<String>, warmCaches: [String]
    ) {
        heartbeat = now
        reservations.removeAll { counted.contains($0.instance) || now.timeIntervalSince($0.at) > Self.reservationLifetime }
        self.allocatedCPU = allocatedCPU + reservations.reduce(0) { $0 + $1.cpu }
        self.allocatedMemoryGiB = allocatedMemoryGiB + reservations.reduce(0) { $0 + $1.memoryGiB }
        self.warmCaches = warmCaches
    }

    /// An instance placed on it.
    public mutating func allocate(instance: String, cpu: Double, memoryGiB: Double, at now: Date) {
        allocatedCPU += cpu
        allocatedMemoryGiB += memoryGiB
        reservations.append(Reservation(instance: instance, cpu: cpu, memoryGiB: memoryGiB, at: now))
    }

    public func fits(cpu wanted: Double, memoryGiB wantedMemory: Double) -> Bool {
        state == .ready && freeCPU + 1e-9 >= wanted && freeMemoryGiB + 1e-9 >= wantedMemory
    }
}

/// Where an instance goes: a pure choice among nodes, as the Kubernetes scheduler's filter and
/// score, with two rules: only a Ready node with room for the instance's CPU and memory, and
/// among those one that holds the instance's cache warm first, then the one with the most
/// room left (CPU, then memory), then by name (the same inputs always choose the same node).
public enum Placement {
    public static func choose(
        _ nodes: [Node], cpu: Double, memoryGiB: Double, cache: String?, excluding: Set<String> = []
    ) -> Node? {
        nodes.filter { !excluding.contains($0.name) && $0.fits(cpu: cpu, memoryGiB: memoryGiB) }.min { a, b in
            let warmA = cache.map { a.warmCaches.contains($0) } ?? false
            let warmB = cache.map { b.warmCaches.contains($0) } ?? false
            if warmA != warmB { return warmA }
            if a.freeCPU != b.freeCPU { return a.freeCPU > b.freeCPU }
            if a.freeMemoryGiB != b.freeMemoryGiB { return a.freeMemoryGiB > b.freeMemoryGiB }
            return a.name < b.name
        }
    }

    /// Why no node was chosen, as a tenant is told: what it asked for, nothing of the nodes
    /// (their names and free room are the operator's, and would tell one tenant of the others).
    public static func tenantRefusal(cpu: Double, memoryGiB: Double) -> String {
        "no node has room for \(amount(cpu)) CPU and \(amount(memoryGiB)) GiB of memory now"
    }

    /// Why no node was chosen, for the operator's log.
    public static func refusal(_ nodes: [Node], cpu: Double, memoryGiB: Double, excluding: Set<String> = []) -> String {
        let ready = nodes.filter { $0.state == .ready && !excluding.contains($0.name) }
        guard !ready.isEmpty else { return "no node is Ready to run instances" }
        let free = ready.sorted { $0.name < $1.name }.map {
            "\($0.name) has \(amount($0.freeCPU)) CPU and \(amount($0.freeMemoryGiB)) GiB free"
        }
        return "no node has room for \(amount(cpu)) CPU and \(amount(memoryGiB)) GiB of memory (\(free.joined(separator: "; ")))"
    }

    /// 0.25, 2, 1.5: at most two decimals, none when whole.
    static func amount(_ value: Double) -> String {
        let hundredths = (value * 100).rounded()
        if hundredths.truncatingRemainder(dividingBy: 100) == 0 { return String(Int64(hundredths / 100)) }
        return String(hundredths / 100)
    }
}

extension Instance {
    /// Whether a node's loss starts the instance again elsewhere: it still runs (or starts) and
    /// its restart policy restarts it (Always, OnFailure: its containers did not end by choice).
    public var survivesNodeLoss: Bool { (status == .pending || status == .running) && restartPolicy != .never }

    /// The instance as it starts again on `node` after its node was lost: Pending, its
    /// containers waiting, its disk and cache choice made again there (from its cache, never
    /// from the lost node's disk), its id, name, address and events kept.
    public func moved(to node: String, because reason: String, at now: Date) -> Instance {
        var moved = self
        moved.node = node
        moved.status = .pending
        moved.message = nil
        moved.finishTime = nil
        moved.cacheOutcome = nil
        moved.cacheID = nil
        moved.diskID = nil
        moved.diskSizeGiB = nil
        moved.phases = []
        moved.restartRequested = nil
        for c in initContainers + containers { moved.states[c.name] = ContainerState(reason: "ContainerCreating") }
        moved.record(.rescheduled, reason, at: now)
        moved.mark(StartupPhase.created, at: now)
        return moved
    }
}
