import Foundation
import IMCModel
import IMCRegistry
import IMCTestSupport
import NIOCore
import Synchronization
import Testing

/// RELIABILITY.md "Network" and "Content", against the in-process registry with scripted faults.
struct FaultRegistryTests {
    /// Sleeps the client asked for, recorded instead of slept.
    final class Sleeps: Sendable {
        let waits = Mutex<[Double]>([])
        var all: [Double] { waits.withLock { $0 } }
    }

    static func client(
        _ registry: FaultRegistry, credentials: [RegistryCredential] = [], stall: TimeAmount = .seconds(30), sleeps: Sleeps = Sleeps(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) -> RegistryClient {
        var options = RegistryClientOptions()
        options.stallTimeout = stall
        options.sleep = { seconds in sleeps.waits.withLock { $0.append(seconds) } }
        options.random = { 0.5 }
        options.now = now
        return RegistryClient(
            config: RegistryConfig(credentials: credentials, plainHTTPHosts: [registry.host, registry.otherHost]), options: options)
    }

    /// An image whose one layer holds `size` incompressible bytes, so the blob is about that big.
    static func image(size: Int = 300_000) throws -> TestImage {
        var t = TarBuilder()
        var generator = SystemRandomNumberGenerator()
        t.add("big", .file((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        return try TestImage(layers: [t])
    }

    static func fetchLayer(_ client: RegistryClient, _ registry: FaultRegistry, _ image: TestImage, repository: String = "a/b") async throws
        -> [UInt8]
    {
        let ref = try ImageReference(parsing: "\(registry.host)/\(repository):v1")
        var out: [UInt8] = []
        try await client.streamBlob(ref, image.layers[0].descriptor) { out += Array(buffer: $0) }
        return out
    }

    @Test func anonymousBearerTokensAreFetchedAndCached() async throws {
        let registry = try await FaultRegistry.start(auth: .bearer(user: nil, password: nil))
        let image = try Self.image()
        registry.add(image, repository: "a/b", tag: "v1")
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        let ref = try ImageReference(parsing: "\(registry.host)/a/b:v1")
        let m = try await client.fetchManifest(ref)
        #expect(m.digest == image.manifestDescriptor.digest)
        #expect(try await Self.fetchLayer(client, registry, image) == image.layers[0].blob)
        let tokenRequests = registry.requests.filter { $0.path.hasPrefix("/token") }
        #expect(tokenRequests.count == 1, "one token for one (registry, credential, scope)")
        #expect(tokenRequests[0].path.contains("scope=repository:a/b:pull"))
        #expect(tokenRequests[0].authorization == nil, "no credentials configured, none sent")
    }

    @Test func tokensExpireAsTheRegistrySays() async throws {
        let registry = try await FaultRegistry.start(auth: .bearer(user: nil, password: nil, expiresIn: 60))
        let image = try Self.image(size: 100)
        registry.add(image, repository: "a/b", tag: "v1")
        let clock = Mutex(Date())
        let client = Self.client(registry, now: { clock.withLock { $0 } })
        defer { Task { try await client.shutdown() } }
        let ref = try ImageReference(parsing: "\(registry.host)/a/b:v1")
        _ = try await client.fetchManifest(ref)
        _ = try await client.fetchManifest(ref)
        #expect(registry.requests.filter { $0.path.hasPrefix("/token") }.count == 1)
        clock.withLock { $0 = $0.addingTimeInterval(61) }
        _ = try await client.fetchManifest(ref)
        #expect(registry.requests.filter { $0.path.hasPrefix("/token") }.count == 2)
    }

    @Test func credentialedBearerTokens() async throws {
        let registry = try await FaultRegistry.start(auth: .bearer(user: "alice", password: "right-password"))
        let image = try Self.image(size: 100)
        registry.add(image, repository: "a/b", tag: "v1")
        let ref = try ImageReference(parsing: "\(registry.host)/a/b:v1")
        let good = Self.client(
            registry, credentials: [RegistryCredential(server: registry.host, username: "alice", password: "right-password")])
        #expect(try await good.fetchManifest(ref).digest == image.manifestDescriptor.digest)
        try await good.shutdown()

        let bad = Self.client(
            registry, credentials: [RegistryCredential(server: registry.host, username: "alice", password: "CANARY-wrong")])
        do {
            _ = try await bad.fetchManifest(ref)
            Issue.record("wrong credentials were accepted")
        } catch let e as RegistryError {
            #expect(e.code == .unauthorized)
            #expect(e.message.contains("alice"))
            #expect(!e.description.contains("CANARY"))
        }
        try await bad.shutdown()

        let none = Self.client(registry)
        await #expect(throws: RegistryError.self) { _ = try await none.fetchManifest(ref) }
        try await none.shutdown()
    }

    @Test func retriesHonourRetryAfterAndThen5xx() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image(size: 100)
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.status(429, retryAfter: "3"), on: .manifest)
        registry.script(.status(503), on: .manifest)
        let sleeps = Sleeps()
        let client = Self.client(registry, sleeps: sleeps)
        defer { Task { try await client.shutdown() } }
        _ = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/a/b:v1"))
        #expect(sleeps.all.count == 2)
        #expect(sleeps.all.first == 3)
        #expect(registry.requests.filter { $0.path.contains("/manifests/") }.count == 3)
    }

    @Test func persistentFailuresEndAfterBoundedAttemptsAnd404IsNotRetried() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image(size: 100)
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.status(500), on: .manifest, times: RetryPolicy().maxAttempts)
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        do {
            _ = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/a/b:v1"))
            Issue.record("a failing registry succeeded")
        } catch let e as RegistryError {
            #expect(e.code == .unavailable)
        }
        #expect(registry.requests.count == RetryPolicy().maxAttempts)
        registry.clearRequests()
        do {
            _ = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/a/missing:v1"))
            Issue.record("a missing image was found")
        } catch let e as RegistryError {
            #expect(e.code == .notFound)
            #expect(e.message.contains("MANIFEST_UNKNOWN"))
        }
        #expect(registry.requests.count == 1)
    }

    @Test func aStalledTransferIsCutAndResumedWithRange() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image()
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.stall(afterBytes: 100_000, seconds: 30), on: .blob)
        let client = Self.client(registry, stall: .seconds(1))
        defer { Task { try await client.shutdown() } }
        #expect(try await Self.fetchLayer(client, registry, image) == image.layers[0].blob)
        // Cut and fetched again: with Range from the bytes already delivered, or from the start
        // when the cut came before any byte reached the consumer.
        let gets = registry.requests.filter { $0.path.contains("/blobs/") }
        #expect(gets.count >= 2)
        #expect(gets.dropFirst().allSatisfy { $0.range == nil || ($0.range!.hasPrefix("bytes=") && $0.range != "bytes=0-") })
    }

    @Test func aSlowButMovingTransferIsLeftAlone() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image()
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.stall(afterBytes: 100_000, seconds: 0.2), on: .blob)
        // A limit far above the pause: a loaded machine (a Ceph cluster starting beside this
        // test) must not turn the pause into a stall.
        let client = Self.client(registry, stall: .seconds(30))
        defer { Task { try await client.shutdown() } }
        #expect(try await Self.fetchLayer(client, registry, image) == image.layers[0].blob)
        #expect(registry.requests.filter { $0.path.contains("/blobs/") }.count == 1)
    }

    @Test func aTransferThatTricklesIsCutAsStalled() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image()
        registry.add(image, repository: "a/b", tag: "v1")
        // Every attempt trickles; a byte every 0.1 s never lets a 2 s read timeout fire.
        registry.script(.trickle(afterBytes: 1000, interval: 0.1), on: .blob, times: 5)
        let client = Self.client(registry, stall: .seconds(2))
        defer { Task { try await client.shutdown() } }
        await #expect {
            _ = try await Self.fetchLayer(client, registry, image)
        } throws: { error in
            guard let e = error as? RegistryError else { return false }
            return e.code == .stalled && e.message.contains("sent only") && e.message.contains("the transfer was cut")
        }
        // Cut, not retried on and on (a connection fault on a loaded machine may cost one retry).
        #expect(registry.requests.filter { $0.path.contains("/blobs/") }.count <= 2)
    }

    @Test func truncatedBodiesResume() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image()
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.truncate(afterBytes: 150_000), on: .blob)
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        #expect(try await Self.fetchLayer(client, registry, image) == image.layers[0].blob)
        #expect(registry.requests.filter { $0.path.contains("/blobs/") }.count == 2)
    }

    @Test(arguments: [FaultRegistry.Fault.ignoreRange, .wrongRange])
    func aServerThatDoesNotHonourRangeRestartsCleanly(fault: FaultRegistry.Fault) async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image()
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.truncate(afterBytes: 120_000), on: .blob)
        registry.script(fault, on: .blob)
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        #expect(try await Self.fetchLayer(client, registry, image) == image.layers[0].blob)
    }

    @Test func authorizationNeverFollowsARedirectToAnotherHost() async throws {
        let registry = try await FaultRegistry.start(auth: .basic(user: "u", password: "CANARY-pw"))
        let image = try Self.image(size: 1000)
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.redirect("http://\(registry.otherHost)/redirected/{digest}?X-Signature=abc"), on: .blob)
        let client = Self.client(registry, credentials: [RegistryCredential(server: registry.host, username: "u", password: "CANARY-pw")])
        defer { Task { try await client.shutdown() } }
        #expect(try await Self.fetchLayer(client, registry, image) == image.layers[0].blob)
        let redirected = try #require(registry.requests.first { $0.path.hasPrefix("/redirected/") })
        #expect(redirected.authorization == nil)
        #expect(registry.requests.filter { $0.path.contains("/blobs/") }.allSatisfy { $0.authorization != nil || $0.method == "GET" })
    }

    @Test func redirectLoopsEnd() async throws {
        let registry = try await FaultRegistry.start()
        let image = try Self.image(size: 100)
        registry.add(image, repository: "a/b", tag: "v1")
        registry.script(.redirect("{path}"), on: .blob, times: 50)
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        await #expect(throws: RegistryError.self) { _ = try await Self.fetchLayer(client, registry, image) }
        #expect(registry.requests.count == 11)
    }

    @Test func credentialsGoOnlyToTheirOwnRegistry() async throws {
        let registry = try await FaultRegistry.start(auth: .basic(user: "u", password: "p"))
        let image = try Self.image(size: 100)
        registry.add(image, repository: "a/b", tag: "v1")
        let client = Self.client(
            registry, credentials: [RegistryCredential(server: "elsewhere.example.com", username: "u", password: "CANARY")])
        defer { Task { try await client.shutdown() } }
        await #expect(throws: RegistryError.self) {
            _ = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/a/b:v1"))
        }
        #expect(registry.requests.allSatisfy { $0.authorization == nil })
    }

    @Test func oversizedManifestsAreRefused() async throws {
        let registry = try await FaultRegistry.start()
        registry.script(.oversized, on: .manifest)
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        do {
            _ = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/a/b:v1"))
            Issue.record("an oversized manifest was accepted")
        } catch let e as RegistryError {
            #expect(e.code == .tooLarge)
        }
    }

    @Test func aTokenRealmOnAnUnconfiguredInternalHostIsNeverContacted() async throws {
        let registry = try await FaultRegistry.start(auth: .bearer(user: nil, password: nil, realm: "https://10.255.255.1/token"))
        let client = Self.client(registry)
        defer { Task { try await client.shutdown() } }
        do {
            _ = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/a/b:v1"))
            Issue.record("the realm was accepted")
        } catch let e as RegistryError {
            #expect(e.code == .refused)
        }
    }

    @Test func pushesMonolithicChunkedAndMounted() async throws {
        let registry = try await FaultRegistry.start(auth: .bearer(user: "u", password: "p"))
        let client = Self.client(registry, credentials: [RegistryCredential(server: registry.host, username: "u", password: "p")])
        defer { Task { try await client.shutdown() } }
        let image = try Self.image(size: 50_000)
        try await client.push(image, host: registry.host, repository: "src/img", tag: "v1", mode: .chunked(4096))
        #expect(registry.requests.filter { $0.method == "PATCH" }.count > 1)
        registry.clearRequests()
        try await client.push(image, host: registry.host, repository: "dst/img", tag: "v1", mountFrom: "src/img")
        #expect(registry.requests.contains { $0.path.contains("mount=") })
        #expect(!registry.requests.contains { $0.method == "PUT" && $0.path.contains("/blobs/uploads/") }, "mounted, not uploaded")
        let m = try await client.fetchManifest(try ImageReference(parsing: "\(registry.host)/dst/img:v1"))
        #expect(m.digest == image.manifestDescriptor.digest)
    }
}
