import Foundation
import IMCInstance

/// The hosts that run instances, each a row: registered at start, kept alive by heartbeats,
/// chosen by placement, and marked Lost when their heartbeats stop.
///
/// Contract: every call is atomic. `place` never gives one node more than it offers, whichever
/// replicas place at once (the rows are locked while one chooses). `markLost` returns a node to
/// exactly one caller, so one replica fences it and moves its instances.
public protocol NodeRepository: Sendable {
    /// Registers `node` (Ready, its allocation as given); a node of that name is replaced.
    func register(_ node: Node) async throws
    /// A heartbeat of a Ready node: its allocation as its instances say (`counted`: the ids of
    /// the instances it read), and its warm caches. Placements it did not read yet stay counted
    /// (`Node.reservations`). Returns the node's state as the store has it (Lost: another replica declared it lost;
    /// nil: it is not registered), the heartbeat recorded only if Ready.
    func heartbeat(
        name: String, at: Date, allocatedCPU: Double, allocatedMemoryGiB: Double, counted: Set<String>, warmCaches: [String]
    ) async throws -> Node.State?
    func nodes() async throws -> [Node]
    /// Chooses a node (`Placement.choose`) for `instance` and adds its CPU and memory to the
    /// node's allocation, reserved until the node's heartbeat counts it; nil when none has room.
    func place(instance: String, cpu: Double, memoryGiB: Double, cache: String?, excluding: Set<String>, at: Date) async throws
        -> Node?
    /// Marks Lost every Ready node whose last heartbeat is before `cutoff`; returns the nodes
    /// this call marked.
    func markLost(heartbeatBefore cutoff: Date) async throws -> [Node]
    /// Forgets a node (it left for good).
    func removeNode(name: String) async throws
}
