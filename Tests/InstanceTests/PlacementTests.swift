import Foundation
import IMCInstance
import Testing

struct PlacementTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    func node(_ name: String, cpu: Double, used: Double = 0, memory: Double = 16, warm: [String] = [], lost: Bool = false) -> Node {
        var n = Node(name: name, cpu: cpu, memoryGiB: memory, diskGiB: 100, at: now)
        n.allocatedCPU = used
        n.warmCaches = warm
        if lost { n.state = .lost }
        return n
    }

    @Test func theNodeWithTheMostRoomIsChosenAndTheSameInputsChooseTheSameNode() {
        let nodes = [node("b", cpu: 8, used: 2), node("a", cpu: 8, used: 2), node("c", cpu: 8, used: 5)]
        #expect(Placement.choose(nodes, cpu: 1, memoryGiB: 1, cache: nil)?.name == "a")
        #expect(Placement.choose(nodes.reversed(), cpu: 1, memoryGiB: 1, cache: nil)?.name == "a")
    }

    @Test func aNodeHoldingTheCacheWarmWinsOverMoreRoom() {
        let nodes = [node("big", cpu: 64), node("warm", cpu: 4, used: 3, warm: ["imc-x"])]
        #expect(Placement.choose(nodes, cpu: 1, memoryGiB: 1, cache: "imc-x")?.name == "warm")
        #expect(Placement.choose(nodes, cpu: 2, memoryGiB: 1, cache: "imc-x")?.name == "big", "a warm node without room")
        #expect(Placement.choose(nodes, cpu: 1, memoryGiB: 1, cache: "imc-y")?.name == "big")
    }

    @Test func lostExcludedAndFullNodesAreNeverChosen() {
        let nodes = [node("lost", cpu: 64, lost: true), node("gone", cpu: 64), node("small", cpu: 2, memory: 1)]
        #expect(Placement.choose(nodes, cpu: 1, memoryGiB: 1, cache: nil, excluding: ["gone"])?.name == "small")
        #expect(Placement.choose(nodes, cpu: 1, memoryGiB: 2, cache: nil, excluding: ["gone"]) == nil)
        #expect(
            Placement.refusal(nodes, cpu: 1, memoryGiB: 2, excluding: ["gone"])
                == "no node has room for 1 CPU and 2 GiB of memory (small has 2 CPU and 1 GiB free)")
        #expect(Placement.refusal([node("lost", cpu: 1, lost: true)], cpu: 0.25, memoryGiB: 0.5) == "no node is Ready to run instances")
        // A tenant is told what it asked for, nothing of the nodes.
        #expect(Placement.tenantRefusal(cpu: 1, memoryGiB: 2) == "no node has room for 1 CPU and 2 GiB of memory now")
    }

    @Test func aMovedInstanceStartsAfreshOnItsNewNodeKeepingWhoItIs() {
        var i = Instance(id: "eksci-1", account: "a", region: "r", name: "web", creationTime: now)
        i.containers = [ContainerSpec(name: "c", image: "nginx")]
        i.node = "old"
        i.status = .running
        i.diskID = "disk-1"
        i.cacheID = "imc-1"
        i.privateIP = "10.0.0.5"
        i.states["c"] = ContainerState(state: .running)
        #expect(i.survivesNodeLoss)
        let moved = i.moved(to: "new", because: "Started again on node new", at: now)
        #expect(moved.node == "new" && moved.status == .pending && moved.diskID == nil && moved.cacheID == nil)
        #expect(moved.id == "eksci-1" && moved.name == "web" && moved.privateIP == "10.0.0.5")
        #expect(moved.states["c"]?.state == .waiting && moved.events.last?.reason == "Rescheduled")
        i.restartPolicy = .never
        #expect(!i.survivesNodeLoss)
        i.restartPolicy = .onFailure
        i.status = .succeeded
        #expect(!i.survivesNodeLoss)
    }
}
