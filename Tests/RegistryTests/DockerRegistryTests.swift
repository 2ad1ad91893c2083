import Foundation
import IMCModel
import IMCRegistry
import IMCTestSupport
import Testing

/// Debian's docker-registry with htpasswd basic auth and with TLS.
@Suite(.enabled(if: DockerRegistry.isAvailable, "needs Debian's docker-registry"))
struct DockerRegistryTests {
    @Test func basicAuthWithRightWrongAndNoCredentials() async throws {
        let registry = try await DockerRegistry.start(auth: .htpasswd(user: "bob", password: "right"))
        let image = try TestImage(layers: SampleLayers.rich())
        let good = RegistryClient(
            config: RegistryConfig(
                credentials: [RegistryCredential(server: registry.host, username: "bob", password: "right")],
                plainHTTPHosts: [registry.host]))
        try await good.push(image, host: registry.host, repository: "private/app", tag: "1")
        let ref = try ImageReference(parsing: "\(registry.host)/private/app:1")
        #expect(try await good.fetchManifest(ref).digest == image.manifestDescriptor.digest)
        try await good.shutdown()

        let wrong = RegistryClient(
            config: RegistryConfig(
                credentials: [RegistryCredential(server: registry.host, username: "bob", password: "CANARY-wrong")],
                plainHTTPHosts: [registry.host]))
        do {
            _ = try await wrong.fetchManifest(ref)
            Issue.record("wrong password accepted")
        } catch let e as RegistryError {
            #expect(e.code == .unauthorized && e.message.contains("bob") && !e.description.contains("CANARY"))
        }
        try await wrong.shutdown()

        let anonymous = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host]))
        do {
            _ = try await anonymous.fetchManifest(ref)
            Issue.record("no credentials accepted")
        } catch let e as RegistryError {
            #expect(e.code == .unauthorized && e.message.contains("none are configured"))
        }
        try await anonymous.shutdown()
    }

    @Test func tlsWithASelfSignedCertificateNeedsSkipVerify() async throws {
        let registry = try await DockerRegistry.start(tls: true)
        let image = try TestImage(layers: SampleLayers.rich())
        let ref = try ImageReference(parsing: "\(registry.host)/secure/app:1")
        let trusting = RegistryClient(config: RegistryConfig(skipVerifyHosts: [registry.host]))
        try await trusting.push(image, host: registry.host, repository: "secure/app", tag: "1")
        #expect(try await trusting.fetchManifest(ref).digest == image.manifestDescriptor.digest)
        try await trusting.shutdown()

        // async-http-client retries a failed handshake until the connect timeout; keep it short.
        var options = RegistryClientOptions()
        options.connectTimeout = .seconds(2)
        let verifying = RegistryClient(options: options)
        do {
            _ = try await verifying.fetchManifest(ref)
            Issue.record("a self-signed certificate was trusted")
        } catch let e as RegistryError {
            #expect(e.code == .unreachable)
            #expect(e.message.contains("TLS") && e.message.contains("RegistrySkipVerifyList"))
        }
        try await verifying.shutdown()
    }
}
