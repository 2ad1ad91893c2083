import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCCaches
import IMCDocuments
import IMCDoors
import IMCInstance
import IMCInstances
import IMCKubernetesModels
import IMCModel
import IMCServiceSupport
import IMCStore
import Logging
import Synchronization

/// The Kubernetes door: the Kubernetes API for imc's own objects, under `/k8s`, so that
/// unmodified kubectl and client libraries drive imc as they drive a cluster (a bearer token
/// from `imc kubeconfig` names the account). Discovery and OpenAPI (v2 as protobuf, v3);
/// `ImageCache` objects of `eks.cloud.tencent.com/v1` (create, get, list as a table, apply client-
/// and server-side, merge and JSON patch, update with resourceVersion preconditions, delete,
/// watch with bookmarks); Pods (typed and read by `PodRequest`: create, get, list, watch, logs
/// with follow, graceful delete), Namespaces, docker-registry Secrets (sealed at rest) and the
/// Events of caches and Pods. Routes are Hummingbird patterns (`KubernetesRoutes.swift`). One
/// model underneath: an object made here is a cache or an instance of the Cloud API and the
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
    /// The ImageCache's schema, with the service's limits, and the OpenAPI documents from it.
    let schema: ImageCacheSchema
    let openAPI: OpenAPIDocuments

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
        schema = ImageCacheSchema(limits: caches.limits)
        openAPI = OpenAPIDocuments(schema)
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
        /// What a table's rows carry of their objects (`includeObject`, metadata by default).
        func includeObject() throws -> IncludeObject {
            guard let asked = query["includeObject"], !asked.isEmpty else { return .Metadata }
            guard let include = IncludeObject(rawValue: asked) else {
                throw KubernetesStatus.badRequest(
                    "includeObject \(asked.prefix(40)) is not one of \(IncludeObject.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return include
        }
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

    // MARK: - Replies

    /// A typed object, list or table, written straight to JSON text.
    static func respond<T: Encodable>(_ value: T, code: Int = 200, warnings: [String] = []) -> Response {
        respond(bytes: (try? JSONBytesEncoder().encode(value)) ?? Array("{}".utf8), code: code, warnings: warnings)
    }

    static func respond(_ object: JSON, code: Int = 200, warnings: [String] = []) -> Response {
        respond(bytes: object.bytes, code: code, warnings: warnings)
    }

    static func respond(bytes: [UInt8], code: Int, warnings: [String]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for warning in warnings {
            headers.append(
                HTTPField(name: HTTPField.Name("Warning")!, value: "299 - \"\(warning.replacingOccurrences(of: "\"", with: "'"))\""))
        }
        return Response(
            status: HTTPResponse.Status(code: code), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
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

}

/// Lists as Kubernetes writes them.
enum List {
    static func of<Item>(_ items: [Item], kind: String, apiVersion: String, revision: Int64) -> ObjectList<Item> {
        ObjectList(kind: kind, apiVersion: apiVersion, resourceVersion: "\(revision)", items: items)
    }
}

/// The namespaces every account has (objects of imc's are cluster-scoped or in these).
enum Namespaces {
    static let all = ["default", "kube-system", "kube-public"]
    /// The built-in namespaces are as old as the service's process.
    static let started = timestamp(Date())
    static func object(_ name: String) -> Namespace {
        object(name: name, uid: ImageCaches.uid("namespace/" + name), created: started)
    }

    /// A namespace as the API server shows it; `labels` and `annotations` are its own, beside
    /// the name label every namespace has.
    static func object(name: String, uid: String, created: String, labels: [String: String] = [:], annotations: [String: String] = [:])
        -> Namespace
    {
        var metadata = ObjectMeta(
            name: name, labels: labels.merging(["kubernetes.io/metadata.name": name]) { _, fixed in fixed },
            annotations: annotations.isEmpty ? nil : annotations)
        metadata.uid = uid
        metadata.resourceVersion = "1"
        metadata.creationTimestamp = created
        return Namespace(metadata: metadata, spec: NamespaceSpec(finalizers: ["kubernetes"]), status: NamespaceStatus(phase: "Active"))
    }
}
