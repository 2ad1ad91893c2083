import Foundation
import HTTPTypes
import Hummingbird
import IMCModel
import Logging
import NIOCore
import Synchronization

import struct Crypto.SHA256

/// An in-process registry (Hummingbird) that speaks enough of the distribution API for imc's
/// pulls and pushes, with the bearer-token flow, basic auth, and faults a test scripts:
/// 429 with `Retry-After`, 5xx, stalls, truncated bodies, wrong bytes, redirects (also to
/// another host name), ignored or wrong ranges, oversized manifests. It records every request.
public final class FaultRegistry: Sendable {
    public enum Auth: Sendable {
        case none
        case basic(user: String, password: String)
        /// Bearer tokens from `/token`; anonymous tokens when `user` is nil. `realm` overrides the
        /// realm URL the challenge names.
        case bearer(user: String?, password: String?, expiresIn: Int = 300, realm: String? = nil)
    }

    /// Which requests a fault applies to.
    public enum Target: Sendable, Equatable {
        case manifest
        case blob
        /// Only the blob with this digest.
        case blobDigest(String)
        case token
        case any
    }

    public enum Fault: Sendable {
        case status(Int, retryAfter: String? = nil)
        /// Send `afterBytes` of the body, wait `seconds`, then send the rest.
        case stall(afterBytes: Int, seconds: Double)
        /// Send `afterBytes` of the body, then one byte every `interval` seconds (a registry that
        /// moves, too slowly for any read timeout to fire).
        case trickle(afterBytes: Int, interval: Double)
        /// Send `afterBytes` of the body, then close the connection.
        case truncate(afterBytes: Int)
        /// Serve other bytes of the same length.
        case wrongBytes
        /// Answer 307 to this URL (`{digest}` and `{path}` are replaced).
        case redirect(String)
        /// Answer a `Range` request with the whole body and 200.
        case ignoreRange
        /// Answer a `Range` request with 206 and a `Content-Range` that is not the one asked for.
        case wrongRange
        /// Serve a manifest padded past 4 MiB.
        case oversized
    }

    public struct Recorded: Sendable {
        public var method: String
        public var path: String
        public var authorization: String?
        public var range: String?
        public var host: String?
    }

    struct Scripted {
        var target: Target
        var times: Int
        var fault: Fault
    }

    struct State {
        var manifests: [String: [String: (Data, String)]] = [:]
        var blobs: [String: [UInt8]] = [:]
        var repositoryBlobs: [String: Set<String>] = [:]
        var uploads: [String: (repository: String, bytes: [UInt8])] = [:]
        var faults: [Scripted] = []
        var requests: [Recorded] = []
        var tokens: [String: (scope: String, expires: Date)] = [:]
        var nextToken = 0
    }

    let state = Mutex(State())
    let auth: Auth
    public let port: Int
    /// `127.0.0.1:PORT`.
    public var host: String { "127.0.0.1:\(port)" }
    /// The same server under another host name (`localhost:PORT`), for cross-host redirects.
    public var otherHost: String { "localhost:\(port)" }
    private let task: Task<Void, any Error>

    /// Starts the registry on a free loopback port.
    public static func start(auth: Auth = .none) async throws -> FaultRegistry {
        let ready = AsyncStream<Int>.makeStream()
        let box = Mutex<FaultRegistry?>(nil)
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            guard let registry = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return try await registry.respond(request)
        }
        let app = Application(
            responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            }, logger: Logger(label: "fault-registry", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task { try await app.run() }
        var port = 0
        for await p in ready.stream { port = p }
        guard port > 0 else {
            task.cancel()
            throw TestSupportError("fault registry did not start")
        }
        let registry = FaultRegistry(auth: auth, port: port, task: task)
        box.withLock { $0 = registry }
        return registry
    }

    private init(auth: Auth, port: Int, task: Task<Void, any Error>) {
        self.auth = auth
        self.port = port
        self.task = task
    }

    deinit { task.cancel() }

    /// Stops serving.
    public func stop() { task.cancel() }

    /// Applies `fault` to the next `times` requests of `target`.
    public func script(_ fault: Fault, on target: Target, times: Int = 1) {
        state.withLock { $0.faults.append(Scripted(target: target, times: times, fault: fault)) }
    }

    /// Every request so far.
    public var requests: [Recorded] { state.withLock { $0.requests } }

    /// Forgets the requests recorded so far.
    public func clearRequests() { state.withLock { $0.requests.removeAll() } }

    /// Puts an image straight into the store (tests that need no push).
    public func add(_ image: TestImage, repository: String, tag: String?) {
        state.withLock { s in
            for (d, bytes) in image.blobs {
                s.blobs[d.description] = bytes
                s.repositoryBlobs[repository, default: []].insert(d.description)
            }
            s.manifests[repository, default: [:]][image.manifestDescriptor.digest.description] = (
                image.manifest, image.manifestDescriptor.mediaType
            )
            if let tag { s.manifests[repository, default: [:]][tag] = (image.manifest, image.manifestDescriptor.mediaType) }
        }
    }

    /// Puts an index and its images into the store.
    public func add(_ index: TestIndex, repository: String, tag: String) {
        for image in index.images { add(image, repository: repository, tag: nil) }
        state.withLock { s in
            s.manifests[repository, default: [:]][tag] = (index.data, index.descriptor.mediaType)
            s.manifests[repository, default: [:]][index.descriptor.digest.description] = (index.data, index.descriptor.mediaType)
        }
    }

    /// Replaces the bytes served for a blob (a registry that lies).
    public func corruptBlob(_ digest: Digest, with bytes: [UInt8]) {
        state.withLock { $0.blobs[digest.description] = bytes }
    }

    // MARK: Serving

    func takeFault(_ target: Target, digest: String? = nil) -> Fault? {
        state.withLock { s in
            guard
                let i = s.faults.firstIndex(where: {
                    ($0.target == target || $0.target == .any || (digest != nil && $0.target == .blobDigest(digest ?? ""))) && $0.times > 0
                })
            else { return nil }
            s.faults[i].times -= 1
            let f = s.faults[i].fault
            if s.faults[i].times == 0 { s.faults.remove(at: i) }
            return f
        }
    }

    func respond(_ request: Request) async throws -> Response {
        let path = request.uri.path
        state.withLock {
            $0.requests.append(
                Recorded(
                    method: request.method.rawValue, path: request.uri.description, authorization: request.headers[.authorization],
                    range: request.headers[.range], host: request.head.authority))
        }
        if path == "/token" { return try await token(request) }
        if path.hasPrefix("/redirected/") {
            // The other end of a redirect: serves a blob by digest without asking for auth.
            let digest = String(path.dropFirst("/redirected/".count))
            guard let bytes = state.withLock({ $0.blobs[digest] }) else { return Response(status: .notFound) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        guard path.hasPrefix("/v2/") else { return Response(status: .notFound) }
        if path == "/v2/" || path == "/v2" {
            if let denied = authorize(request, scope: nil) { return denied }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let rest = String(path.dropFirst(4))
        for kind in ["/manifests/", "/blobs/uploads/", "/blobs/"] {
            guard let r = rest.range(of: kind, options: .backwards) else { continue }
            let repository = String(rest[..<r.lowerBound])
            let reference = String(rest[r.upperBound...])
            let push = request.method != .get && request.method != .head
            if let denied = authorize(request, scope: "repository:\(repository):\(push ? "pull,push" : "pull")") { return denied }
            switch kind {
            case "/manifests/": return try await manifest(request, repository: repository, reference: reference)
            case "/blobs/uploads/": return try await upload(request, repository: repository, id: reference)
            default: return try await blob(request, repository: repository, digest: reference)
            }
        }
        return Response(status: .notFound)
    }

    private func challenge(_ scope: String?) -> Response {
        var headers = HTTPFields()
        switch auth {
        case .none: return Response(status: .unauthorized)
        case .basic: headers[.wwwAuthenticate] = #"Basic realm="fault-registry""#
        case .bearer(_, _, _, let realm):
            let r = realm ?? "http://\(host)/token"
            headers[.wwwAuthenticate] = #"Bearer realm="\#(r)",service="fault-registry""# + (scope.map { #",scope="\#($0)""# } ?? "")
        }
        return Response(
            status: .unauthorized, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)))
    }

    /// nil when the request may go on; otherwise the 401 to send.
    private func authorize(_ request: Request, scope: String?) -> Response? {
        let header = request.headers[.authorization]
        switch auth {
        case .none: return nil
        case .basic(let user, let password):
            return header == "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() ? nil : challenge(scope)
        case .bearer:
            guard let header, header.hasPrefix("Bearer ") else { return challenge(scope) }
            let token = String(header.dropFirst(7))
            let ok = state.withLock { s -> Bool in
                guard let t = s.tokens[token], t.expires > Date() else { return false }
                guard let scope else { return true }
                let repo = scope.split(separator: ":")[1]
                return t.scope.split(separator: " ").contains { $0.hasPrefix("repository:\(repo):") }
            }
            return ok ? nil : challenge(scope)
        }
    }

    private func token(_ request: Request) async throws -> Response {
        if let fault = takeFault(.token), case .status(let code, let retryAfter) = fault {
            var headers = HTTPFields()
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: code), headers: headers)
        }
        guard case .bearer(let user, let password, let expiresIn, _) = auth else { return Response(status: .notFound) }
        if let user, let password {
            guard request.headers[.authorization] == "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() else {
                return Response(status: .unauthorized)
            }
        }
        let scope = request.uri.queryParameters.getAll("scope").map { String($0) }.joined(separator: " ")
        let token = state.withLock { s -> String in
            s.nextToken += 1
            let t = "token-\(s.nextToken)"
            s.tokens[t] = (scope, Date().addingTimeInterval(Double(expiresIn)))
            return t
        }
        return json(#"{"token":"\#(token)","expires_in":\#(expiresIn)}"#)
    }

    private func json(_ s: String, status: HTTPResponse.Status = .ok) -> Response {
        let body = ResponseBody(byteBuffer: ByteBuffer(string: s))
        return Response(status: status, headers: [.contentType: "application/json"], body: body)
    }

    private func manifest(_ request: Request, repository: String, reference: String) async throws -> Response {
        if request.method == .put {
            let body = try await request.body.collect(upTo: 8 << 20)
            let data = Data(buffer: body)
            let digest = "sha256:" + Hex.encode(SHA256.hash(data: data))
            let type = request.headers[.contentType] ?? MediaType.ociManifest
            state.withLock { s in
                s.manifests[repository, default: [:]][reference] = (data, type)
                s.manifests[repository, default: [:]][digest] = (data, type)
            }
            return Response(
                status: .created,
                headers: [.location: "/v2/\(repository)/manifests/\(digest)", HTTPField.Name("Docker-Content-Digest")!: digest])
        }
        if let fault = takeFault(.manifest), let response = simpleFault(fault, digest: reference, path: request.uri.path) {
            return response
        }
        guard let (data, type) = state.withLock({ $0.manifests[repository]?[reference] }) else {
            return json(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#, status: .notFound)
        }
        let digest = "sha256:" + Hex.encode(SHA256.hash(data: data))
        return Response(
            status: .ok, headers: [.contentType: type, HTTPField.Name("Docker-Content-Digest")!: digest],
            body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(data: data)))
    }

    /// Faults that replace the whole answer; nil for those that shape a body.
    private func simpleFault(_ fault: Fault, digest: String, path: String) -> Response? {
        switch fault {
        case .status(let code, let retryAfter):
            var headers = HTTPFields()
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(
                status: .init(code: code), headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: #"{"errors":[{"code":"UNAVAILABLE","message":"scripted"}]}"#)))
        case .redirect(let url):
            let location = url.replacingOccurrences(of: "{digest}", with: digest).replacingOccurrences(of: "{path}", with: path)
            return Response(status: .temporaryRedirect, headers: [.location: location])
        case .oversized:
            let padding = String(repeating: " ", count: 5 << 20)
            return json(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]\#(padding)}"#)
        default: return nil
        }
    }

    private func blob(_ request: Request, repository: String, digest: String) async throws -> Response {
        let fault = takeFault(.blob, digest: digest)
        if let fault, let response = simpleFault(fault, digest: digest, path: request.uri.path) { return response }
        guard var bytes = state.withLock({ s in s.repositoryBlobs[repository]?.contains(digest) == true ? s.blobs[digest] : nil }) else {
            return json(#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#, status: .notFound)
        }
        if request.method == .head {
            return Response(status: .ok, headers: [.contentLength: "\(bytes.count)"])
        }
        if case .wrongBytes = fault { bytes = bytes.map { $0 ^ 0x5a } }
        var status = HTTPResponse.Status.ok
        var headers = HTTPFields()
        if let range = request.headers[.range], range.hasPrefix("bytes="),
            let start = Int(range.dropFirst(6).split(separator: "-").first ?? "")
        {
            switch fault {
            case .ignoreRange?: break
            case .wrongRange?:
                status = .partialContent
                headers[.contentRange] = "bytes 0-\(bytes.count - 1)/\(bytes.count)"
            default:
                status = .partialContent
                headers[.contentRange] = "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"
                bytes = Array(bytes[min(start, bytes.count)...])
            }
        }
        let body = bytes
        headers[.contentLength] = "\(body.count)"
        switch fault {
        case .stall(let after, let seconds)?:
            return Response(
                status: status, headers: headers,
                body: ResponseBody(contentLength: body.count) { writer in
                    try await writer.write(ByteBuffer(bytes: body.prefix(after)))
                    try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                    try await writer.write(ByteBuffer(bytes: body.dropFirst(after)))
                    try await writer.finish(nil)
                })
        case .trickle(let after, let interval)?:
            return Response(
                status: status, headers: headers,
                body: ResponseBody(contentLength: body.count) { writer in
                    try await writer.write(ByteBuffer(bytes: body.prefix(after)))
                    for byte in body.dropFirst(after) {
                        try await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                        try await writer.write(ByteBuffer(bytes: [byte]))
                    }
                    try await writer.finish(nil)
                })
        case .truncate(let after)?:
            return Response(
                status: status, headers: headers,
                body: ResponseBody(contentLength: body.count) { writer in
                    try await writer.write(ByteBuffer(bytes: body.prefix(after)))
                    throw TestSupportError("scripted truncation")
                })
        default:
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    private func upload(_ request: Request, repository: String, id: String) async throws -> Response {
        let query = request.uri.queryParameters
        if request.method == .post {
            if let mount = query.get("mount"), let from = query.get("from") {
                let mounted = state.withLock { s -> Bool in
                    guard s.repositoryBlobs[from]?.contains(mount) == true else { return false }
                    s.repositoryBlobs[repository, default: []].insert(mount)
                    return true
                }
                if mounted { return Response(status: .created, headers: [.location: "/v2/\(repository)/blobs/\(mount)"]) }
            }
            let uuid = UUID().uuidString.lowercased()
            state.withLock { $0.uploads[uuid] = (repository, []) }
            return Response(status: .accepted, headers: [.location: "/v2/\(repository)/blobs/uploads/\(uuid)", .range: "0-0"])
        }
        let body = Array(buffer: try await request.body.collect(upTo: 1 << 30))
        guard state.withLock({ $0.uploads[id] != nil }) else { return Response(status: .notFound) }
        state.withLock { $0.uploads[id]!.bytes += body }
        if request.method == .patch {
            let size = state.withLock { $0.uploads[id]!.bytes.count }
            return Response(status: .accepted, headers: [.location: "/v2/\(repository)/blobs/uploads/\(id)", .range: "0-\(size - 1)"])
        }
        guard request.method == .put, let digest = query.get("digest") else { return Response(status: .badRequest) }
        let ok = state.withLock { s -> Bool in
            let bytes = s.uploads.removeValue(forKey: id)?.bytes ?? []
            let actual = "sha256:" + Hex.encode(SHA256.hash(data: bytes))
            guard actual == digest else { return false }
            s.blobs[digest] = bytes
            s.repositoryBlobs[repository, default: []].insert(digest)
            return true
        }
        return ok
            ? Response(status: .created, headers: [.location: "/v2/\(repository)/blobs/\(digest)"])
            : json(#"{"errors":[{"code":"DIGEST_INVALID"}]}"#, status: .badRequest)
    }
}
