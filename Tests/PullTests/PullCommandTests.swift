import Foundation
import IMCModel
import IMCTestSupport
import Testing

/// `imc pull` as a script would run it: exit codes, `--json`, errors a person can act on, and a
/// result that skopeo reads.
@Suite(.enabled(if: Requirements.isRoot, "needs root"))
struct PullCommandTests {
    @Test func pullsAndPrintsOneJSONSummary() async throws {
        let registry = try await FaultRegistry.start()
        let image = try TestImage(layers: SampleLayers.rich(), compression: [.gzip, .zstd])
        registry.add(image, repository: "app", tag: "v1")
        let dir = try TemporaryDirectory()
        let r = try await CommandRunner.run(
            "imc", ["pull", "\(registry.host)/app:v1", "--plain-http", registry.host, "--dest", dir.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(object["manifestDigest"] as? String == image.manifestDescriptor.digest.description)
        #expect(object["layerCount"] as? Int == 3)
        #expect(object["platform"] as? String == Platform.host.description)
        #expect((object["unpackedBytes"] as? Int ?? 0) > 30_000)
        for key in ["compressedBytes", "downloadSeconds", "unpackSeconds", "totalSeconds"] { #expect(object[key] != nil, "\(key)") }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/skopeo"), "needs skopeo"))
    func theLayoutIsOneSkopeoReads() async throws {
        let registry = try await FaultRegistry.start()
        let image = try TestImage(layers: SampleLayers.rich())
        registry.add(image, repository: "app", tag: "v1")
        let dir = try TemporaryDirectory()
        let r = try await CommandRunner.run("imc", ["pull", "\(registry.host)/app:v1", "--plain-http", registry.host, "--dest", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let inspect = try run("/usr/bin/skopeo", ["inspect", "oci:\(dir.path):\(registry.host)/app:v1"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as? [String: Any])
        #expect(object["Digest"] as? String == image.manifestDescriptor.digest.description)
        #expect((object["Layers"] as? [String])?.count == 3)
    }

    @Test(arguments: [
        ("Bad:Ref", 2, "badReference"),
        ("{host}/missing:v1", 3, "notFound"),
        ("{host}/app:v1 --platform linux/s390x", 6, "noMatchingPlatform"),
        ("127.0.0.1:1/app:v1 --plain-http 127.0.0.1:1 --connect-timeout 1", 5, "unreachable"),
    ])
    func failuresHaveExitCodesAndSayWhatIsWrong(arguments: String, status: Int32, code: String) async throws {
        let registry = try await FaultRegistry.start()
        registry.add(try TestImage(layers: SampleLayers.rich()), repository: "app", tag: "v1")
        let dir = try TemporaryDirectory()
        let words = arguments.replacingOccurrences(of: "{host}", with: registry.host).split(separator: " ").map(String.init)
        let r = try await CommandRunner.run("imc", ["pull"] + words + ["--plain-http", registry.host, "--dest", dir.path, "--json"])
        #expect(r.status == status, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((object["error"] as? [String: Any])?["code"] as? String == code)
        #expect(r.stderr.hasPrefix("imc: error: "))
    }

    @Test func wrongCredentialsFromARegistryConfigFile() async throws {
        let registry = try await FaultRegistry.start(auth: .bearer(user: "alice", password: "right"))
        registry.add(try TestImage(layers: SampleLayers.rich()), repository: "app", tag: "v1")
        let dir = try TemporaryDirectory()
        let config = dir.appending("registry.json")
        try
            #"{"ImageRegistryCredentials":[{"Server":"\#(registry.host)","Username":"alice","Password":"CANARY-wrong"}],"RegistryHttpEndPointList":["\#(registry.host)"]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try await CommandRunner.run(
            "imc", ["pull", "\(registry.host)/app:v1", "--registry-config", config, "--dest", dir.appending("out")])
        #expect(r.status == 4)
        #expect(r.stderr.contains("alice") && !r.stderr.contains("CANARY") && !r.stdout.contains("CANARY"))

        try
            #"{"ImageRegistryCredentials":[{"Server":"\#(registry.host)","Username":"alice","Password":"right"}],"RegistryHttpEndPointList":["\#(registry.host)"]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let ok = try await CommandRunner.run(
            "imc", ["pull", "\(registry.host)/app:v1", "--registry-config", config, "--dest", dir.appending("out")])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("3 layers"))
    }

    @Test func badUsageIsExit64() async throws {
        #expect(try await CommandRunner.run("imc", ["pull"]).status == 64)
        #expect(try await CommandRunner.run("imc", ["pull", "x", "--concurrency", "0"]).status == 64)
    }
}
