import AsyncHTTPClient
import Foundation
import IMCModel
import NIOCore
import NIOFoundationCompat
import Synchronization

/// Bearer tokens, cached per (registry, credential, scope) until `expires_in` runs out.
final class TokenCache: Sendable {
    struct Key: Hashable {
        var host: String
        var credential: RegistryCredential?
        var scope: String
    }
    private let entries = Mutex<[Key: (token: String, expires: Date)]>([:])

    func token(for key: Key, now: Date) -> String? {
        entries.withLock { e in
            guard let entry = e[key] else { return nil }
            if entry.expires <= now {
                e[key] = nil
                return nil
            }
            return entry.token
        }
    }

    func store(_ token: String, for key: Key, expires: Date) {
        entries.withLock { $0[key] = (token, expires) }
    }

    func remove(_ key: Key) { _ = entries.withLock { $0.removeValue(forKey: key) } }
}

extension RegistryClient {
    func tokenKey(for request: Request) -> TokenCache.Key {
        TokenCache.Key(host: request.host, credential: config.credential(for: request.host), scope: request.scope)
    }

    /// The `Authorization` header to send with `request`, when one is known.
    func authorization(for request: Request) -> String? {
        if let token = tokens.token(for: tokenKey(for: request), now: options.now()) { return "Bearer \(token)" }
        if basicHosts.withLock({ $0.contains(request.host) }), let credential = config.credential(for: request.host) {
            return Self.basic(credential)
        }
        return nil
    }

    static func basic(_ credential: RegistryCredential) -> String {
        "Basic " + Data("\(credential.username):\(credential.password)".utf8).base64EncodedString()
    }

    /// Answers a 401 challenge: remembers Basic hosts, or fetches and caches a bearer token.
    func answer(_ challenge: AuthChallenge, for request: Request) async throws {
        let credential = config.credential(for: request.host)
        switch challenge.scheme {
        case .basic:
            guard credential != nil else {
                throw RegistryError(
                    .unauthorized, "registry \(request.host) requires credentials and none are configured for it (401 Unauthorized)")
            }
            basicHosts.withLock { _ = $0.insert(request.host) }
        case .bearer:
            guard let realmString = challenge.parameters["realm"], let realm = URL(string: realmString) else {
                throw RegistryError(.protocolViolation, "registry \(request.host) sent a bearer challenge without a realm")
            }
            let addresses = realm.host.map(Self.resolve) ?? []
            try RealmPolicy.check(realm: realm, registryHost: request.host, config: config, addresses: addresses)
            let (token, lifetime) = try await fetchToken(
                realm: realm, service: challenge.parameters["service"], scope: request.scope, credential: credential, host: request.host)
            // Expire a little early so that a token is never sent as it runs out.
            tokens.store(token, for: tokenKey(for: request), expires: options.now().addingTimeInterval(max(1, lifetime - 5)))
        }
    }

    private func fetchToken(realm: URL, service: String?, scope: String, credential: RegistryCredential?, host: String) async throws -> (
        String, Double
    ) {
        var components = URLComponents(url: realm, resolvingAgainstBaseURL: false)
        var items = components?.queryItems ?? []
        if let service { items.append(URLQueryItem(name: "service", value: service)) }
        for s in scope.split(separator: " ") { items.append(URLQueryItem(name: "scope", value: String(s))) }
        components?.queryItems = items
        guard let url = components?.url else { throw RegistryError(.protocolViolation, "registry \(host) sent an unusable token realm") }
        var attempt = 0
        while true {
            attempt += 1
            var r = HTTPClientRequest(url: url.absoluteString)
            r.headers.add(name: "User-Agent", value: options.userAgent)
            if let credential { r.headers.add(name: "Authorization", value: Self.basic(credential)) }
            let realmHost = realm.port.map { "\(realm.host ?? ""):\($0)" } ?? (realm.host ?? "")
            let response: HTTPClientResponse
            do {
                response = try await client(to: url.absoluteString, tlsHost: config.skipsVerify(realmHost) ? realmHost : host).execute(
                    r, timeout: options.requestTimeout)
            } catch let error as RegistryError {
                throw error
            } catch {
                let decision = options.retry.decide(
                    attempt: attempt, outcome: .connectionFault, random: options.random(), now: options.now())
                guard isRetryableConnectionError(error), case .retry(let wait) = decision else {
                    throw RegistryError(
                        .unreachable, "cannot get a token for registry \(host) from \(realm.host ?? "its realm")",
                        cause: classify(error, host: realmHost))
                }
                try await options.sleep(wait)
                continue
            }
            let code = Int(response.status.code)
            let body: ByteBuffer
            do { body = try await response.body.collect(upTo: Self.maxSmallBody) } catch {
                throw RegistryError(.tooLarge, "token response from \(realm.host ?? "realm") is larger than \(Self.maxSmallBody) bytes")
            }
            if code == 429 || code >= 500 {
                let decision = options.retry.decide(
                    attempt: attempt, outcome: .status(code, retryAfter: response.headers.first(name: "Retry-After")),
                    random: options.random(), now: options.now())
                if case .retry(let wait) = decision {
                    try await options.sleep(wait)
                    continue
                }
                throw RegistryError(.unavailable, "token service for registry \(host) answered \(code)")
            }
            if code == 401 || code == 403 {
                if let credential {
                    throw RegistryError(
                        .unauthorized,
                        "registry \(host) refused the credentials of user \"\(credential.username)\" (token service answered \(code))")
                }
                throw RegistryError(
                    .unauthorized, "registry \(host) requires credentials and none are configured for it (token service answered \(code))")
            }
            guard code == 200 else { throw RegistryError(.protocolViolation, "token service for registry \(host) answered \(code)") }
            struct TokenResponse: Decodable {
                var token: String?
                var access_token: String?
                var expires_in: Double?
            }
            guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(buffer: body)),
                let token = decoded.token ?? decoded.access_token, !token.isEmpty
            else {
                throw RegistryError(.protocolViolation, "token service for registry \(host) sent no token")
            }
            return (token, decoded.expires_in ?? 60)
        }
    }

    /// The IP addresses `host` resolves to (an IP literal is itself).
    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                out.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            p = ai.pointee.ai_next
        }
        return out
    }
}
