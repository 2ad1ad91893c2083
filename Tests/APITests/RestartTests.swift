import Foundation
import IMCAPI
import IMCClient
import IMCDisks
import IMCOS
import IMCTestSupport
import Testing

/// RELIABILITY.md "State": kill -9 the service while it builds, start it again.
@Suite(.enabled(if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs"), "needs root and xfsprogs"))
struct RestartTests {
    final class Serve {
        let process = Process()
        init(dataRoot: String, port: Int, extra: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: CommandRunner.productsDirectory + "/imc")
            process.arguments =
                [
                    "serve", "--data-root", dataRoot, "--listen", "127.0.0.1:\(port)", "--builders", "1", "--pool-size-gib", "64",
                    "--listen-tls", "127.0.0.1:0", "--allow-registry-network", "127.0.0.0/8",
                ] + extra
            process.environment = ProcessInfo.processInfo.environment.merging([
                "IMC_ROOT_SECRET_ID": "AKIDrestart", "IMC_ROOT_SECRET_KEY": "restart-key",
            ]) { $1 }
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }
        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        /// Stops the service if it still runs (also when a test ends early).
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
        deinit { stop() }
    }

    static func until<T>(_ seconds: Double, _ what: String, _ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let value = try? await probe() { return value }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("timed out waiting for \(what)")
    }

    static func cache(_ client: APIClient, _ id: String) async throws -> ImageCacheView? { try await client.cache(id) }

    @Test func aBuildKilledMidPullIsCleanedUpAndBuiltAgain() async throws {
        let registry = try await FaultRegistry.start()
        var layer = TarBuilder()
        layer.add("blob", .file(Array(try #require(FileHandle(forReadingAtPath: "/dev/urandom")).readData(ofLength: 2_000_000))))
        let image = try TestImage(layers: [layer])
        registry.add(image, repository: "slow", tag: "v1")
        registry.script(.stall(afterBytes: 500_000, seconds: 120), on: .blobDigest(image.layers[0].descriptor.digest.description))
        let dir = try TemporaryDirectory(prefix: "imc-restart")
        let port = try freePort()
        let client = APIClient(
            .init(endpoint: "127.0.0.1:\(port)", secretID: "AKIDrestart", secretKey: "restart-key", region: "ap-guangzhou"))
        defer {
            Task { try await client.shutdown() }
        }
        let first = try Serve(dataRoot: dir.path, port: port)
        _ = try await Self.until(20, "the service") { try await client.send(DescribeImageCachesRequest()) }
        var create = CreateImageCacheRequest(Images: ["\(registry.host)/slow:v1"])
        create.RegistryHttpEndPointList = [registry.host]
        let id = try await client.send(create).ImageCacheId
        // Killed while the layer is streaming: the registry has sent part of it and stalls.
        let layerPath = "/blobs/\(image.layers[0].descriptor.digest)"
        do {
            _ = try await Self.until(30, "the layer download to start") { () -> Bool? in
                registry.requests.contains { $0.path.hasSuffix(layerPath) } ? true : nil
            }
        } catch {
            Issue.record("requests: \(registry.requests.map(\.path)) want \(layerPath)")
            throw error
        }
        first.kill9()
        let mounts = { MountTable.entries().map(\.target).joined(separator: "\n") }
        #expect(mounts().contains(dir.appending("build")), "the killed build left its disk mounted")

        let second = try Serve(dataRoot: dir.path, port: port)
        let built = try await Self.until(60, "the cache to be built again") { () -> ImageCacheView? in
            let c = try await Self.cache(client, id)
            return ["Ready", "Failed"].contains(c?.Status ?? "") ? c : nil
        }
        #expect(built.Status == "Ready", "\(built.Events.map(\.Message))")
        #expect(!mounts().contains(dir.appending("build")), "no build mount is left")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appending("pool/disks")).isEmpty, "no disk image is left")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.appending("pool/snapshots")).filter { $0.hasSuffix(".img") }.count == 1)
        second.stop()
        #expect(!MountTable.isMountPoint(dir.appending("pool")), "a clean stop unmounts the pool it mounted")
    }

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
                && FileManager.default.isExecutableFile(atPath: "/bin/busybox"),
            "needs runc and busybox-static"))
    func anInstanceOfAKilledServiceIsStoppedAndCleanedUpByTheNextStart() async throws {
        let registry = try await FaultRegistry.start()
        registry.add(try RunnableImages.image(cmd: ["/bin/sleep", "300"]), repository: "app", tag: "v1")
        let dir = try TemporaryDirectory(prefix: "imc-restart")
        let port = try freePort()
        let client = APIClient(
            .init(endpoint: "127.0.0.1:\(port)", secretID: "AKIDrestart", secretKey: "restart-key", region: "ap-guangzhou"))
        defer {
            Task { try await client.shutdown() }
        }
        let extra = ["--plain-http", registry.host]
        let first = try Serve(dataRoot: dir.path, port: port, extra: extra)
        _ = try await Self.until(20, "the service") { try await client.send(DescribeImageCachesRequest()) }
        var create = CreateImageCacheRequest(Images: ["\(registry.host)/app:v1"])
        create.RegistryHttpEndPointList = [registry.host]
        let cacheID = try await client.send(create).ImageCacheId
        _ = try await Self.until(60, "the cache") { () -> Bool? in
            try await Self.cache(client, cacheID)?.Status == "Ready" ? true : nil
        }
        var run = CreateEKSContainerInstancesRequest(Containers: [Container(Name: "app", Image: "\(registry.host)/app:v1")])
        run.AutoMatchImageCache = true
        run.VpcId = "vpc-restart"  // on a VPC network: its veth must not outlive the crash either
        let id = try #require(try await client.send(run).EksCiIds.first)
        func instance() async throws -> EksCi? { try await client.instance(id) }
        _ = try await Self.until(60, "the instance to run") { () -> Bool? in
            try await instance()?.Status == "Running" ? true : nil
        }
        first.kill9()
        // The containers runc knows under the service's root, and whether their processes live.
        let containers = { () -> [String] in
            let listed =
                (try? CommandRunner.capture("/usr/sbin/runc", ["--root", dir.appending("instances/runc"), "list", "-q"]).stdout) ?? ""
            return listed.split(separator: "\n").map(String.init)
        }
        let pid = { (name: String) -> Int32? in
            let state =
                (try? CommandRunner.capture("/usr/sbin/runc", ["--root", dir.appending("instances/runc"), "state", name]).stdout) ?? ""
            let object = (try? JSONSerialization.jsonObject(with: Data(state.utf8))) as? [String: Any]
            return (object?["pid"] as? NSNumber)?.int32Value
        }
        let mounts = { MountTable.entries().map(\.target).joined(separator: "\n") }
        let survivor = try #require(containers().first, "the container outlived the killed service")
        let survivorPID = try #require(pid(survivor))
        #expect(kill(survivorPID, 0) == 0)
        #expect(mounts().contains(dir.appending("instances/run/\(id)")))

        let second = try Serve(dataRoot: dir.path, port: port, extra: extra)
        let after = try await Self.until(20, "the service again") { try await instance() }
        #expect(after.Status == "Failed")
        let links = (try? CommandRunner.capture("/usr/sbin/ip", ["-o", "link"]).stdout) ?? ""
        #expect(!links.contains("imcv" + String(id.suffix(8))), "the instance's veth is gone with its network namespace")
        let rules = (try? CommandRunner.capture("/usr/sbin/iptables", ["-S"]).stdout) ?? ""
        #expect(!rules.contains(String(id.suffix(8))), "its firewall chains and rules are gone")
        #expect((after.StatusMessage ?? "").contains("restarted"))
        #expect(containers().isEmpty, "the next start stopped the container")
        #expect(kill(survivorPID, 0) != 0, "its process is gone")
        #expect(!mounts().contains(dir.appending("instances/")), "no instance mount is left")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.appending("pool/disks")).isEmpty, "the instance's disk was released")
        _ = try await client.send(DeleteEKSContainerInstancesRequest(EksCiIds: [id]))
        _ = try await Self.until(20, "the instance to go") { () -> Bool? in try await instance() == nil ? true : nil }
        second.stop()
        #expect(!MountTable.isMountPoint(dir.appending("pool")), "a clean stop unmounts the pool it mounted")
    }
}
