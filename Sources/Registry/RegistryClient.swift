import AsyncHTTPClient
import Foundation
import IMCModel
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Knobs of a `RegistryClient`. Time and randomness are injected so that tests are exact.
public struct RegistryClientOptions: Sendable {
    /// When to retry 429, 5xx and connection faults.
    public var retry = RetryPolicy()
    /// A transfer that receives no byte for this long is cut (and retried); a slow but moving one is not.
    public var stallTimeout: TimeAmount = .seconds(30)
    /// A transfer that receives fewer bytes than this in a `stallTimeout` is cut too: it moves,
    /// but too slowly to be anything but a stall.
    public var minimumBytesPerStallWindow: Int64 = 32 << 10
    /// How long to wait for a connection.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// Deadline for small requests (manifests, tokens, pushes of small blobs).
    public var requestTimeout: TimeAmount = .seconds(120)
    /// Redirects followed in a row at most.
    public var maxRedirects = 10
    /// Sent as `User-Agent`.
    public var userAgent = "imc/0.1"
    /// Which addresses may be connected to (registries, token realms, redirects). Open by
    /// default; the service passes its own.
    public var addressPolicy = AddressPolicy.open
    /// Waits between attempts.
    public var sleep: @Sendable (Double) async throws -> Void = { try await Task.sleep(nanoseconds: UInt64($0 * 1e9)) }
    /// Jitter source, 0..<1.
    public var random: @Sendable () -> Double = { Double.random(in: 0..<1) }
    /// The current time (token expiry, `Retry-After` dates).
    public var now: @Sendable () -> Date = { Date() }

    public init() {}
}

/// A client of the OCI distribution API (Docker Registry HTTP API v2): manifests, blobs, pushes,
/// with bearer and basic auth, retries, redirects and the safety rules of RELIABILITY.md.
/// Owns two `HTTPClient`s (one verifying TLS, one for `RegistrySkipVerifyList` hosts); call
/// `shutdown()` when done.
public final class RegistryClient: Sendable {
    public let config: RegistryConfig
    public let options: RegistryClientOptions
    let logger: Logger
    let verifying: HTTPClient
    let unverified: HTTPClient
    let tokens = TokenCache()
    /// Hosts that answered with a Basic challenge, so later requests send credentials at once.
    let basicHosts = Mutex<Set<String>>([])
    /// Clients pinned to one checked address of one host, when the address policy is not open.
    let pinned = Mutex<[String: HTTPClient]>([:])
    let timeout: HTTPClient.Configuration.Timeout

    /// Most bytes of a token or error body.
    public static let maxSmallBody = 1 << 20

    public init(config: RegistryConfig = RegistryConfig(), options: RegistryClientOptions = RegistryClientOptions(), logger: Logger? = nil)
    {
        self.config = config
        self.options = options
        self.logger = logger ?? Logger(label: "imc.registry", factory: { _ in SwiftLogNoOpLogHandler() })
        let timeout = HTTPClient.Configuration.Timeout(connect: options.connectTimeout, read: options.stallTimeout)
        self.timeout = timeout
        verifying = Self.makeClient(verify: true, timeout: timeout)
        unverified = Self.makeClient(verify: false, timeout: timeout)
    }

    static func makeClient(verify: Bool, timeout: HTTPClient.Configuration.Timeout, pinning: [String: String] = [:]) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            certificateVerification: verify ? .fullVerification : .none, redirectConfiguration: .disallow, timeout: timeout,
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        configuration.dnsOverride = pinning
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Shuts the HTTP clients down. Call once, when no request is running.
    public func shutdown() async throws {
        try await verifying.shutdown()
        try await unverified.shutdown()
        for client in pinned.withLock({ p in
            defer { p = [:] }
            return Array(p.values)
        }) { try? await client.shutdown() }
    }

    /// The HTTP client that sends a request to `url` (for registry `host`, whose TLS settings
    /// apply): when the address policy is not open, the URL's host is resolved here, every
    /// answer is checked, and the connection is pinned to the checked address, so that a DNS
    /// answer that changes between the check and the connection cannot lead elsewhere.
    func client(to url: String, tlsHost host: String) async throws -> HTTPClient {
        let shared = httpClient(for: host)
        let policy = options.addressPolicy
        guard !policy.isOpen, let target = URL(string: url)?.host else { return shared }
        let name = AddressPolicy.bare(target)
        let addresses = await Self.resolving(name)
        guard let first = addresses.first else {
            throw RegistryError(.unreachable, "cannot reach registry \(host): \(name) does not resolve to an address")
        }
        for address in addresses {
            if let rule = policy.refusal(address) {
                throw RegistryError(.addressRefused, policy.explain(host: name, address: address, rule: rule))
            }
        }
        if IPAddress(name) != nil { return shared }
        let verify = !config.skipsVerify(host)
        let key = "\(verify) \(name) \(first)"
        let timeout = timeout
        return pinned.withLock { clients in
            if let client = clients[key] { return client }
            let client = Self.makeClient(verify: verify, timeout: timeout, pinning: [name: first.description])
            clients[key] = client
            return client
        }
    }

    /// Resolves `name` off the cooperative pool (getaddrinfo blocks).
    static func resolving(_ name: String) async -> [IPAddress] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: IPAddress.resolve(name)) }
        }
    }

    // MARK: Requests

    /// One logical request to a registry: auth, redirects and retries are handled by `send`.
    struct Request: Sendable {
        var method: HTTPMethod
        /// The registry host (with port) the request is for.
        var host: String
        /// Path and query, starting with `/v2/`.
        var path: String
        var headers: HTTPHeaders = [:]
        var body: ByteBuffer?
        /// Token scope, `repository:NAME:pull`.
        var scope: String
        /// Whether the request may be sent again after a failure. Requests with a body are not
        /// replayed unless they are whole and idempotent.
        var replayable: Bool
        var timeout: TimeAmount?
    }

    func baseURL(for host: String) -> String {
        let endpoint = host == ImageReference.dockerHub ? ImageReference.dockerHubEndpoint : host
        return (config.isPlainHTTP(host) ? "http://" : "https://") + endpoint
    }

    func httpClient(for host: String) -> HTTPClient {
        config.skipsVerify(host) ? unverified : verifying
    }

    /// Sends `request`, following redirects (at most `maxRedirects`, never https to http, never
    /// carrying `Authorization` to another host), answering auth challenges once, and retrying
    /// 429/5xx/connection faults when the request is replayable. Returns the final response,
    /// whose body the caller must consume.
    func send(_ request: Request) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            let outcome: RetryPolicy.Outcome
            do {
                let response = try await sendOnce(request)
                if response.status.code == 429 || response.status.code >= 500, request.replayable {
                    outcome = .status(Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"))
                    let decision = options.retry.decide(attempt: attempt, outcome: outcome, random: options.random(), now: options.now())
                    guard case .retry(let wait) = decision else { return response }
                    _ = try? await response.body.collect(upTo: Self.maxSmallBody)
                    logger.debug(
                        "registry answered \(response.status.code); retrying", metadata: ["host": "\(request.host)", "wait": "\(wait)"])
                    try await options.sleep(wait)
                    continue
                }
                return response
            } catch let error as RegistryError {
                throw error
            } catch {
                let classified = classify(error, host: request.host)
                guard request.replayable, isRetryableConnectionError(error) else { throw classified }
                let decision = options.retry.decide(
                    attempt: attempt, outcome: .connectionFault, random: options.random(), now: options.now())
                guard case .retry(let wait) = decision else { throw classified }
                logger.debug(
                    "request to registry failed; retrying", metadata: ["host": "\(request.host)", "error": "\(classified.message)"])
                try await options.sleep(wait)
            }
        }
    }

    /// One attempt: auth challenge answered at most once, redirects followed.
    private func sendOnce(_ request: Request) async throws -> HTTPClientResponse {
        var url =
            request.path.hasPrefix("http://") || request.path.hasPrefix("https://")
            ? request.path : baseURL(for: request.host) + request.path
        var redirects = 0
        var answeredChallenge = false
        let registryOrigin = origin(of: url)
        while true {
            var r = HTTPClientRequest(url: url)
            r.method = request.method
            r.headers = request.headers
            r.headers.replaceOrAdd(name: "User-Agent", value: options.userAgent)
            if let body = request.body { r.body = .bytes(body) }
            let sameOrigin = origin(of: url) == registryOrigin
            if sameOrigin, let auth = authorization(for: request) {
                r.headers.replaceOrAdd(name: "Authorization", value: auth)
            }
            let timeout = request.timeout ?? options.requestTimeout
            let response = try await client(to: url, tlsHost: request.host).execute(r, timeout: timeout, logger: nil)
            let code = Int(response.status.code)
            if [301, 302, 303, 307, 308].contains(code) {
                _ = try? await response.body.collect(upTo: Self.maxSmallBody)
                redirects += 1
                guard let current = URL(string: url) else {
                    throw RegistryError(.protocolViolation, "registry \(request.host) led to an invalid URL")
                }
                let next = try RedirectPolicy.next(
                    from: current, location: response.headers.first(name: "Location"), count: redirects,
                    maxRedirects: options.maxRedirects, host: request.host)
                logger.debug("following redirect", metadata: ["to": "\(Self.redacted(next))"])
                url = next.absoluteString
                continue
            }
            if code == 401 && sameOrigin && !answeredChallenge {
                let header = response.headers.first(name: "WWW-Authenticate")
                _ = try? await response.body.collect(upTo: Self.maxSmallBody)
                answeredChallenge = true
                guard let header, let challenge = AuthChallenge(header: header) else {
                    throw RegistryError(
                        .unauthorized, "registry \(request.host) refused the request and sent no usable authentication challenge")
                }
                try await answer(challenge, for: request)
                continue
            }
            if code == 401 {
                _ = try? await response.body.collect(upTo: Self.maxSmallBody)
                if let credential = config.credential(for: request.host) {
                    throw RegistryError(
                        .unauthorized,
                        "registry \(request.host) refused the credentials of user \"\(credential.username)\" (401 Unauthorized)")
                }
                throw RegistryError(
                    .unauthorized, "registry \(request.host) requires credentials and none are configured for it (401 Unauthorized)")
            }
            return response
        }
    }

    private func origin(of url: String) -> String {
        guard let u = URL(string: url) else { return url }
        return "\(u.scheme ?? "")://\(u.host ?? "")\(u.port.map { ":\($0)" } ?? "")".lowercased()
    }

    /// A URL without its query, which may hold a signature.
    static func redacted(_ url: URL) -> String {
        var c = URLComponents(url: url, resolvingAgainstBaseURL: false)
        if c?.query != nil { c?.query = "(redacted)" }
        return c?.string ?? "(url)"
    }

    func isRetryableConnectionError(_ error: any Error) -> Bool {
        if error is NIOSSLError || error is BoringSSLError { return false }
        if let e = error as? HTTPClientError {
            // A connect timeout is not retried here: the connection pool has already retried
            // the connection for the whole connect timeout.
            return e == .readTimeout || e == .remoteConnectionClosed || e == .deadlineExceeded
        }
        return true
    }

    /// Turns transport errors into `RegistryError`s that say what to do.
    func classify(_ error: any Error, host: String) -> RegistryError {
        if let e = error as? RegistryError { return e }
        if error is NIOSSLError || error is BoringSSLError || "\(error)".contains("handshakeFailed") {
            return RegistryError(
                .unreachable,
                "TLS handshake with registry \(host) failed; if it uses a self-signed certificate, list it in RegistrySkipVerifyList (imc pull --insecure \(host))",
                cause: error)
        }
        if let e = error as? HTTPClientError {
            if e == .readTimeout { return RegistryError(.stalled, "registry \(host) stopped sending data", cause: e) }
            if e == .connectTimeout {
                return RegistryError(.unreachable, "cannot connect to registry \(host): connection timed out", cause: e)
            }
            return RegistryError(.unreachable, "transfer from registry \(host) failed", cause: e)
        }
        return RegistryError(.unreachable, "cannot reach registry \(host)", cause: error)
    }
}
