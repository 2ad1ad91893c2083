import Foundation
import IMCAPI
import IMCClient
import IMCTestSupport
import Testing

/// RELIABILITY.md "Tenants and secrets": a canary password goes through every path a registry
/// password takes (a build that works, wrong credentials, 401 and 500 from the registry, a
/// redirect, a stalled transfer, a failed build, an instance's pull, an update, the console)
/// with the service logging at trace level, and then it is looked for everywhere a person or a
/// program could read it: the service's log, every API answer, every console page, /metrics,
/// and every file under the data root (the database in clear included).
@Suite(
    .enabled(
        if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
            && FileManager.default.isExecutableFile(atPath: "/bin/busybox"),
        "needs root, xfsprogs, runc and busybox-static"))
struct CanaryTests {
    let canary = "canary-\(UUID().uuidString.prefix(12))-pw"

    @Test func aPasswordAppearsNowhereButOnTheWireToItsRegistry() async throws {
        let image = try RunnableImages.image(files: ["app/msg": "ok\n"])
        let good = try await FaultRegistry.start(auth: .basic(user: "u", password: canary))
        good.add(image, repository: "app", tag: "v1")
        let wrong = try await FaultRegistry.start(auth: .bearer(user: "u", password: "not-the-canary"))
        wrong.add(image, repository: "app", tag: "v1")
        let failing = try await FaultRegistry.start(auth: .basic(user: "u", password: canary))
        failing.add(image, repository: "app", tag: "v1")
        failing.script(.status(500), on: .manifest, times: 1000)
        // Blobs redirected to storage elsewhere (which needs no credentials: none are sent there).
        let storage = try await FaultRegistry.start()
        storage.add(image, repository: "app", tag: "v1")
        let redirecting = try await FaultRegistry.start(auth: .basic(user: "u", password: canary))
        redirecting.add(image, repository: "app", tag: "v1")
        redirecting.script(.redirect("http://\(storage.host)/v2/app/blobs/{digest}"), on: .blob, times: 1000)
        let stalling = try await FaultRegistry.start(auth: .basic(user: "u", password: canary))
        stalling.add(image, repository: "app", tag: "v1")
        stalling.script(.stall(afterBytes: 10, seconds: 30), on: .blob, times: 1000)
        let registries = [good, wrong, failing, storage, redirecting, stalling]
        defer { for r in registries { r.stop() } }

        let dir = try TemporaryDirectory(prefix: "imc-canary")
        let port = try freePort()
        let log = dir.appending("serve.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: CommandRunner.productsDirectory + "/imc")
        serve.arguments = [
            "serve", "--data-root", dir.appending("root"), "--listen", "127.0.0.1:\(port)", "--builders", "2", "--pool-size-gib", "64",
            "--log-level", "trace", "--registry-stall-timeout", "1", "--listen-tls", "127.0.0.1:0", "--allow-registry-network",
            "127.0.0.0/8",
        ]
        serve.environment = ProcessInfo.processInfo.environment.merging(["IMC_ROOT_SECRET_ID": "AKIDcanary", "IMC_ROOT_SECRET_KEY": "k"]) {
            $1
        }
        serve.standardOutput = FileHandle(forWritingAtPath: log)
        serve.standardError = FileHandle(forWritingAtPath: log)
        try serve.run()
        defer {
            if serve.isRunning {
                serve.terminate()
                serve.waitUntilExit()
            }
            _ = try? CommandRunner.capture("/usr/bin/umount", [dir.appending("root/pool")])
        }
        let client = APIClient(.init(endpoint: "127.0.0.1:\(port)", secretID: "AKIDcanary", secretKey: "k", region: "ap-guangzhou"))
        defer { Task { try await client.shutdown() } }
        var answers: [String] = []
        func call(_ action: String, _ p: [String: Any]) async throws -> [String: Any] {
            do {
                let data = try await client.post(action, body: try JSONSerialization.data(withJSONObject: p))
                answers.append(String(decoding: data, as: UTF8.self))
                let r = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["Response"] as? [String: Any] ?? [:]
                if let error = r["Error"] as? [String: Any] {
                    throw APIError(error["Code"] as? String ?? "", error["Message"] as? String ?? "")
                }
                return r
            } catch let e as APIError {
                answers.append("\(e.code) \(e.message)")
                throw e
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? await client.send(DescribeImageCachesRequest())) == nil {
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("imc serve did not start: \(try String(contentsOfFile: log, encoding: .utf8))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        func credentials(_ r: FaultRegistry) -> [String: Any] {
            ["ImageRegistryCredentials": [["Server": r.host, "Username": "u", "Password": canary]], "RegistryHttpEndPointList": [r.host]]
        }

        // Builds: one that works, and one per way of failing.
        var caches: [String: String] = [:]
        for (name, r) in [("good", good), ("wrong", wrong), ("failing", failing), ("redirecting", redirecting), ("stalling", stalling)] {
            caches[name] =
                try await call(
                    "CreateImageCache", ["Images": ["\(r.host)/app:v1"], "ImageCacheName": name].merging(credentials(r)) { $1 })[
                    "ImageCacheId"] as? String
        }
        var outcomes: [String: String] = [:]
        let buildDeadline = ContinuousClock.now + .seconds(120)
        while outcomes.count < caches.count && ContinuousClock.now < buildDeadline {
            for (name, id) in caches where outcomes[name] == nil {
                let c = (try await call("DescribeImageCaches", ["ImageCacheIds": [id]])["ImageCaches"] as? [[String: Any]])?.first
                if let s = c?["Status"] as? String, s == "Ready" || s == "Failed" { outcomes[name] = s }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(outcomes == ["good": "Ready", "wrong": "Failed", "failing": "Failed", "redirecting": "Ready", "stalling": "Failed"])

        // An update with the canary, and instances that pull with it (one works, one is refused).
        _ = try await call(
            "UpdateImageCache",
            [
                "ImageCacheId": caches["good"]!, "ImageCacheName": "renamed",
                "ImageRegistryCredentials": [["Server": good.host, "Username": "u", "Password": canary]],
            ])
        var instances: [String] = []
        for r in [good, wrong] {
            let ids =
                try await call(
                    "CreateEKSContainerInstances",
                    [
                        "RestartPolicy": "Never",
                        "Containers": [["Name": "app", "Image": "\(r.host)/app:v1", "Commands": ["/bin/cat", "/app/msg"]]],
                    ]
                    .merging(credentials(r)) { $1 })["EksCiIds"] as? [String] ?? []
            instances += ids
        }
        for id in instances {
            let end = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < end {
                let i = (try await call("DescribeEKSContainerInstances", ["EksCiIds": [id]])["EksCis"] as? [[String: Any]])?.first
                if ["Succeeded", "Failed"].contains(i?["Status"] as? String ?? "") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = try await call("DescribeEKSContainerInstanceEvent", ["EksCiId": id])
            _ = try? await call("DescribeEksContainerInstanceLog", ["EksCiId": id])
        }
        _ = try await call("DescribeEKSContainerInstances", [:])
        _ = try await call("DescribeImageCaches", ["Limit": 50])
        _ = try await call("DescribeImageCacheBill", [:])
        _ = try await call("GetMostSuitableImageCache", ["Images": ["\(good.host)/app:v1"]])

        // The console, signed in.
        let base = "http://127.0.0.1:\(port)"
        let jar = dir.appending("cookies")
        func page(_ path: String, form: String? = nil) throws -> String {
            var args = ["-s", "-L", "-c", jar, "-b", jar, base + path]
            if let form { args += ["--data", form] }
            return try CommandRunner.capture("/usr/bin/curl", args).stdout
        }
        _ = try page("/console/login", form: "SecretId=AKIDcanary&SecretKey=k&Region=ap-guangzhou")
        var pages = [try page("/console/caches"), try page("/console/instances"), try page("/console/bill")]
        // A Create form refused with the canary in it: the password is not sent back.
        pages.append(
            try page("/console/caches", form: "images=nginx&size=5&retention=0&credServer=r.example&credUsername=u&credPassword=\(canary)"))
        for id in caches.values { pages.append(try page("/console/caches/\(id)")) }
        for id in instances { pages.append(try page("/console/instances/\(id)")) }
        #expect(pages.allSatisfy { $0.contains("imc console") }, "the pages were served")
        let metrics = try page("/metrics")
        #expect(metrics.contains("imc_builds_total"))

        serve.terminate()
        serve.waitUntilExit()
        let logText = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logText.contains("trace") || logText.contains("debug"), "the service logged at its most verbose")
        #expect(!logText.contains(canary), "the log")
        #expect(!answers.contains { $0.contains(canary) }, "an API answer")
        #expect(!pages.contains { $0.contains(canary) }, "a console page")
        #expect(!metrics.contains(canary), "/metrics")
        // Every file under the data root, the database and its journal included (the pool's
        // disk images hold images, not credentials, and are skipped for their size).
        let root = dir.appending("root")
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        var leaked: [String] = []
        for f in files where !f.hasPrefix("pool") {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root + "/" + f, isDirectory: &isDir), !isDir.boolValue,
                let data = FileManager.default.contents(atPath: root + "/" + f)
            else { continue }
            if data.range(of: Data(canary.utf8)) != nil { leaked.append(f) }
        }
        #expect(leaked.isEmpty, "files holding the canary: \(leaked)")
        #expect(files.contains("imc.sqlite"))
        // And the registries did receive it: the test sent it where it had to go.
        #expect(good.requests.contains { $0.authorization?.hasPrefix("Basic ") == true })
        #expect(!storage.requests.contains { $0.authorization != nil }, "no credentials followed the redirect")
    }
}
