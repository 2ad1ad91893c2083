import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDoors
import IMCInstance
import IMCModel
import IMCService
import IMCStore
import Logging
import Synchronization

/// The Kubernetes door: the Kubernetes API for imc's own objects, under `/k8s`, so that
/// unmodified kubectl and client libraries drive imc as they drive a cluster (a bearer token
/// from `imc kubeconfig` names the account). Discovery, OpenAPI v3, `ImageCache` objects of
/// `eks.cloud.tencent.com/v1` (create, get, list as a table, apply client- and server-side,
/// merge patch, update with resourceVersion preconditions, delete, watch with bookmarks) and
/// their events. One model underneath: an object made here is a cache of the Cloud API and the
/// console, and the other way round.
public struct KubernetesAPI: Sendable {
    public static let prefix = "/k8s"
    let accounts: Accounts
    let caches: CacheService
    /// Pods are instances; nil serves ImageCaches only.
    let instances: InstanceService?
    /// Namespaces and secrets.
    let objects: (any ObjectRepository)?
    /// The region caches made here are in (Kubernetes has no regions; a cluster is in one).
    let region: String
    let clock: any ServiceClock
    /// How often a watch looks for changes.
    let watchInterval: Duration
    /// How long a watch without `timeoutSeconds` lasts, and how often it sends a bookmark.
    let watchTimeout: Duration
    let bookmarkInterval: Duration
    /// Rung when the store commits a change of a cache or an instance: watches wake on it (and
    /// look anyway every `watchInterval`).
    public let storeChanged = Wakeup()
    /// Where kubectl is to reach this door (set once the HTTPS listener runs).
    public let published = Published()
    /// Open watches and log follows, counted per account and in all: each polls the store, so
    /// no tenant may hold enough of them to slow the service for others.
    let streams: StreamLimiter

    /// Counts open streams; refuses one past the limits.
    public final class StreamLimiter: Sendable {
        let perAccount: Int
        let total: Int
        private let open = Mutex<[String: Int]>([:])
        public init(perAccount: Int = 100, total: Int = 2000) {
            self.perAccount = perAccount
            self.total = total
        }
        /// A held place: given back when the stream's body is done with it (or dropped unwritten).
        final class Slot: Sendable {
            let limiter: StreamLimiter
            let account: String
            init(_ limiter: StreamLimiter, _ account: String) {
                self.limiter = limiter
                self.account = account
            }
            deinit { limiter.release(account) }
        }

        func acquire(_ account: String) throws -> Slot {
            let admitted = open.withLock { counts -> Bool in
                guard counts[account, default: 0] < perAccount, counts.values.reduce(0, +) < total else { return false }
                counts[account, default: 0] += 1
                return true
            }
            guard admitted else {
                throw KubernetesStatus(
                    code: 429, reason: "TooManyRequests",
                    message: "too many open watches and log follows (at most \(perAccount) per account); close some and try again")
            }
            return Slot(self, account)
        }
        func release(_ account: String) { open.withLock { $0[account, default: 1] -= 1 } }
        var count: Int { open.withLock { $0.values.reduce(0, +) } }
    }

    /// kubectl sends a bearer token only over TLS, so the kubeconfig names the HTTPS listener;
    /// `imc kubeconfig` reads it (and the CA that signed it) from the loopback listener.
    public final class Published: Sendable {
        private let value = Mutex<(server: String?, caPEM: String?)>((nil, nil))
        public init() {}
        public func set(server: String, caPEMPath: String?) {
            let pem = caPEMPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            value.withLock { $0 = (server, pem) }
        }
        var document: JSON {
            let (server, pem) = value.withLock { $0 }
            var doc: JSON = ["server": server.map(JSON.string) ?? .null]
            doc["certificateAuthorityData"] = pem.map { .string(Data($0.utf8).base64EncodedString()) } ?? .null
            return doc
        }
    }

    public init(
        accounts: Accounts, caches: CacheService, instances: InstanceService? = nil, objects: (any ObjectRepository)? = nil, region: String,
        clock: any ServiceClock = SystemClock(),
        watchInterval: Duration = .milliseconds(200), watchTimeout: Duration = .seconds(1800), bookmarkInterval: Duration = .seconds(60),
        streams: StreamLimiter = StreamLimiter()
    ) {
        self.streams = streams
        self.accounts = accounts
        self.caches = caches
        self.instances = instances
        self.objects = objects
        self.region = region
        self.clock = clock
        self.watchInterval = watchInterval
        self.watchTimeout = watchTimeout
        self.bookmarkInterval = bookmarkInterval
    }

    public func addRoutes(to router: Router<DoorContext>) {
        let api = self
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("\(Self.prefix)/**", method: method) { request, context in await api.respond(to: request, context: context) }
        }
    }

    /// One request: authenticated, routed, and any refusal turned into a `Status`.
    func respond(to request: Request, context: DoorContext) async -> Response {
        if request.method == .get, request.uri.path == Self.prefix + "/.well-known/imc-kubeconfig" {
            return Self.respond(published.document)
        }
        do {
            guard let account = authenticate(request) else { throw KubernetesStatus.unauthorized }
            var path = String(request.uri.path.dropFirst(Self.prefix.count))
            // A client that joins a server-relative URL to the server's own path sends the prefix twice.
            if path.hasPrefix(Self.prefix + "/") { path = String(path.dropFirst(Self.prefix.count)) }
            let call = Call(
                account: account, method: request.method, path: path, query: Self.query(request.uri.query ?? ""),
                accept: request.headers[.accept] ?? "", contentType: request.headers[.contentType] ?? "", request: request,
                context: context)
            return try await route(call)
        } catch let status as KubernetesStatus {
            return Self.respond(status.object, code: status.code)
        } catch {
            context.logger.error("kubernetes request failed", metadata: ["error": "\(error)"])
            return Self.respond(KubernetesStatus.internalError().object, code: 500)
        }
    }

    func authenticate(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return KubernetesToken.account(of: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), accounts: accounts)
    }

    /// What one request asks.
    struct Call {
        let account: String
        let method: HTTPRequest.Method
        let path: String
        let query: [String: String]
        let accept: String
        let contentType: String
        let request: Request
        let context: DoorContext

        var wantsTable: Bool { accept.contains("as=Table") }
        var isWatch: Bool { flag("watch") }

        /// A boolean parameter as the API server reads one (Go's ParseBool: 1, t, true, True ...).
        func flag(_ name: String) -> Bool { ["1", "t", "T", "true", "True", "TRUE"].contains(query[name] ?? "") }

        func body() async throws -> [UInt8] {
            do { return Array(buffer: try await request.body.collect(upTo: context.maxUploadSize)) } catch {
                throw KubernetesStatus(code: 413, reason: "RequestEntityTooLarge", message: "the request body is larger than 1 MiB")
            }
        }

        /// The body as an object: JSON, or YAML for server-side apply.
        func object() async throws -> JSON {
            let bytes = try await body()
            let parsed =
                contentType.contains("yaml")
                ? (try? JSON.parseYAML(String(decoding: bytes, as: UTF8.self))) ?? nil
                : contentType.hasPrefix(KubernetesProtobuf.mediaType) ? KubernetesProtobuf.decode(bytes) : JSON.parse(bytes)
            guard let parsed, parsed.object != nil else {
                throw KubernetesStatus.badRequest("the body is not a JSON object (Content-Type \(contentType.prefix(80)))")
            }
            return parsed
        }
    }

    func route(_ call: Call) async throws -> Response {
        let parts = call.path.split(separator: "/").map(String.init)
        let get = call.method == .get
        func match(_ pattern: String) -> [String]? { Route.match(parts, pattern) }
        if get, match("version") != nil { return Self.respond(Discovery.version) }
        if get, match("api") != nil { return Self.respond(Discovery.coreVersions(call.request.head.authority ?? "")) }
        if get, match("apis") != nil { return Self.respond(Discovery.groups) }
        if get, match("api/v1") != nil { return Self.respond(Discovery.resourceList("v1")) }
        if get, let m = match("apis/*") {
            guard let group = Discovery.group(m[0]) else { throw KubernetesStatus.pathNotFound(call.path) }
            return Self.respond(group)
        }
        if get, let m = match("apis/*/*"), Resource.byGroupVersion["\(m[0])/\(m[1])"] != nil {
            return Self.respond(Discovery.resourceList("\(m[0])/\(m[1])"))
        }
        if get, match("openapi/v3") != nil { return Self.respond(OpenAPI.root) }
        if get, let m = match("openapi/v3/**"), let doc = OpenAPI.document(m.joined(separator: "/")) { return Self.respond(doc) }
        if get, match("openapi/v2") != nil {
            var headers = HTTPFields()
            headers[.contentType] = OpenAPIv2.mediaType
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIv2.document)))
        }
        if let m = match("apis/eks.cloud.tencent.com/v1/imagecaches/**") { return try await imageCaches(call, rest: m) }
        if get, match("apis/apiextensions.k8s.io/v1/customresourcedefinitions") != nil {
            return Self.respond(
                List.of([Discovery.imageCacheCRD], kind: "CustomResourceDefinitionList", apiVersion: "apiextensions.k8s.io/v1", revision: 1)
            )
        }
        if get, let m = match("apis/apiextensions.k8s.io/v1/customresourcedefinitions/*") {
            guard m[0] == Resource.imageCaches.qualifiedName else {
                throw KubernetesStatus.notFound(Resource.customResourceDefinitions, m[0])
            }
            return Self.respond(Discovery.imageCacheCRD)
        }
        if get, match("api/v1/events") != nil { return try await events(call, namespace: nil) }
        if get, let m = match("api/v1/namespaces/*/events") { return try await events(call, namespace: m[0]) }
        if get, match("api/v1/pods") != nil { return try await podsRoute(call, namespace: nil, rest: []) }
        if get, match("api/v1/secrets") != nil { return try await secrets(call, namespace: nil, rest: []) }
        if let m = match("api/v1/namespaces/*/pods/**") {
            guard try await namespaceExists(m[0], call.account) else { throw KubernetesStatus.notFound(Resource.namespaces, m[0]) }
            return try await podsRoute(call, namespace: m[0], rest: Array(m.dropFirst()))
        }
        if let m = match("api/v1/namespaces/*/secrets/**") { return try await secrets(call, namespace: m[0], rest: Array(m.dropFirst())) }
        if let m = match("api/v1/namespaces/**"), m.count <= 1 { return try await namespaces(call, rest: m) }
        if !get, Discovery.knownPath(parts) {
            throw KubernetesStatus.notAllowed(
                "the server does not allow this method on the requested resource (\(call.method.rawValue) \(call.path.prefix(120)))")
        }
        throw KubernetesStatus.pathNotFound(call.path)
    }

    // MARK: - Replies

    static func respond(_ object: JSON, code: Int = 200, warnings: [String] = []) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for warning in warnings {
            headers.append(
                HTTPField(name: HTTPField.Name("Warning")!, value: "299 - \"\(warning.replacingOccurrences(of: "\"", with: "'"))\""))
        }
        return Response(
            status: HTTPResponse.Status(code: code), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: object.bytes)))
    }

    /// The query's parameters, percent-decoded.
    static func query(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                (String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding) ?? String(s)
            }
            out[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return out
    }
}

/// Path patterns: `*` matches one segment, a final `**` any rest (possibly none); the matched
/// segments are returned in order.
enum Route {
    static func match(_ parts: [String], _ pattern: String) -> [String]? {
        let want = pattern.split(separator: "/").map(String.init)
        var captured: [String] = []
        for (i, w) in want.enumerated() {
            if w == "**" { return captured + parts.dropFirst(i) }
            guard i < parts.count else { return nil }
            if w == "*" { captured.append(parts[i]) } else if w != parts[i] { return nil }
        }
        return parts.count == want.count ? captured : nil
    }
}

/// `limit` and `continue` of a list (kubectl asks 500 at a time): items are in key order, and
/// the token is the last key given, so a page is the next items after it.
enum Paging {
    static func page<T>(_ all: [T], key: (T) -> String, call: KubernetesAPI.Call) throws -> ([T], String?, Int) {
        var items = all
        if let token = call.query["continue"], !token.isEmpty {
            guard let data = Data(base64Encoded: token), let after = String(data: data, encoding: .utf8) else {
                throw KubernetesStatus.badRequest("continue \(token.prefix(40)) is not a token this server gave")
            }
            items = items.filter { key($0) > after }
        }
        guard let limit = call.query["limit"].flatMap(Int.init), limit > 0, items.count > limit else { return (items, nil, 0) }
        let page = Array(items.prefix(limit))
        return (page, Data(key(page[page.count - 1]).utf8).base64EncodedString(), items.count - limit)
    }

    static func mark(_ list: inout JSON, next: String?, remaining: Int) {
        guard let next else { return }
        list["metadata"]?["continue"] = .string(next)
        list["metadata"]?["remainingItemCount"] = .int(Int64(remaining))
    }
}

/// Lists as Kubernetes writes them.
enum List {
    static func of(_ items: [JSON], kind: String, apiVersion: String, revision: Int64) -> JSON {
        [
            "kind": .string(kind), "apiVersion": .string(apiVersion), "metadata": ["resourceVersion": .string("\(revision)")],
            "items": .array(items),
        ]
    }
}

/// The namespaces every account has (objects of imc's are cluster-scoped or in these).
enum Namespaces {
    static let all = ["default", "kube-system", "kube-public"]
    /// The built-in namespaces are as old as the service's process.
    static let started = timestamp(Date())
    static func object(_ name: String) -> JSON {
        [
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": [
                "name": .string(name), "uid": .string(ImageCacheObject.uid("namespace/" + name)), "resourceVersion": "1",
                "creationTimestamp": .string(started), "labels": ["kubernetes.io/metadata.name": .string(name)],
            ],
            "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"],
        ]
    }
}
