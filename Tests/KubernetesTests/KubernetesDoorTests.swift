import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMCCache
import IMCCaches
import IMCDocuments
import IMCDoors
import IMCModel
import IMCStore
import IMCTestSupport
import Testing

@testable import IMCKubernetes

/// The Kubernetes door in process, through Hummingbird's router, over a real SQLite store: the
/// store's revisions behind resourceVersion and watches, and the pieces kubectl relies on
/// (merge and JSON patches, selectors, tokens, ages). kubectl itself drives it in
/// Tests/Python/test_kubernetes.py.
struct KubernetesDoorTests {
    static let key = APIKey(account: "100000000001", secretID: "AKIDk8s", secretKey: "k8s-key")
    static let other = APIKey(account: "100000000002", secretID: "AKIDother", secretKey: "other-key")

    struct Door {
        let repository: SQLCacheRepository
        let service: CacheService
        let api: KubernetesAPI
        let application: Application<RouterResponder<DoorContext>>
    }

    static func door(
        _ dir: TemporaryDirectory, bookmarks: Duration = .seconds(60), streams: KubernetesAPI.StreamLimiter = .init(),
        limits: CacheLimits = CacheLimits()
    ) throws -> Door {
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
        let service = CacheService(repository: repository, limits: limits)
        let api = KubernetesAPI(
            accounts: Accounts([key, other]), caches: service, region: "ap-guangzhou", watchInterval: .milliseconds(20),
            bookmarkInterval: bookmarks, streams: streams)
        let router = Router(context: DoorContext.self)
        api.addRoutes(to: router)
        return Door(repository: repository, service: service, api: api, application: Application(router: router))
    }

    static func headers(_ key: APIKey = key, contentType: String = "application/json") -> HTTPFields {
        var h = HTTPFields()
        h[.authorization] = "Bearer " + KubernetesToken.token(secretID: key.secretID, secretKey: key.secretKey)
        h[.contentType] = contentType
        return h
    }

    static func json(_ buffer: ByteBuffer) -> JSON { JSON.parse(Array(buffer: buffer)) ?? .null }

    static let path = "/k8s/apis/eks.cloud.tencent.com/v1/imagecaches"

    static func create(_ client: some TestClientProtocol, _ name: String, images: String = #"["nginx:1.27"]"#) async throws -> JSON {
        let body =
            #"{"apiVersion":"eks.cloud.tencent.com/v1","kind":"ImageCache","metadata":{"name":"\#(name)"},"spec":{"images":\#(images)}}"#
        return try await client.execute(uri: path, method: .post, headers: headers(), body: ByteBuffer(string: body)) { response in
            #expect(response.status.code == 201, "\(String(buffer: response.body))")
            return json(response.body)
        }
    }

    @Test func everyChangeTakesTheNextRevisionAndIsKeptUntilCompacted() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        let a = try await door.service.create(
            {
                var r = CacheRequest()
                r.images = ["nginx"]
                r.name = "a"
                return r
            }(), account: Self.key.account, region: "ap-guangzhou")
        let b = try await door.service.create(
            {
                var r = CacheRequest()
                r.images = ["redis"]
                r.name = "b"
                return r
            }(), account: Self.key.account, region: "ap-guangzhou")
        let start = try await door.repository.revisions().current
        #expect(start == 2, "one revision per insert")
        _ = try await door.service.update(
            id: a.id,
            {
                var r = CacheRequest()
                r.retentionDays = 3
                return r
            }(), account: Self.key.account)
        try await door.service.delete(ids: [b.id], account: Self.key.account)
        let changes = try await door.repository.changes(account: Self.key.account, after: start)
        #expect(changes.map(\.kind) == [.changed, .deleted] && changes.map(\.revision) == [3, 4])
        #expect(changes[0].value.cache.retentionDays == 3 && changes[1].value.cache.id == b.id, "each change with the cache as it left it")
        await #expect(
            try door.repository.changes(account: Self.key.account, after: 0).map(\.kind) == [.created, .created, .changed, .deleted])
        await #expect(try door.repository.changes(account: Self.other.account, after: 0).isEmpty, "another account's changes are not told")
        try await door.repository.compactHistory(keeping: 1)
        await #expect(try door.repository.revisions() == (current: 4, compacted: 3))
        await #expect(try door.repository.changes(account: Self.key.account, after: 3).map(\.kind) == [.deleted])
    }

    @Test func aWatchTellsChangesFromItsRevisionAndGoneForAForgottenOne() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        try await door.application.test(.router) { client in
            let made = try await Self.create(client, "watched")
            let rv = try #require(made["metadata"]?["resourceVersion"]?.string)
            let id = try #require(made["status"]?["imcId"]?.string)
            // Changed and deleted before the watch starts: it replays them from the history.
            _ = try await door.service.update(
                id: id,
                {
                    var r = CacheRequest()
                    r.retentionDays = 5
                    return r
                }(), account: Self.key.account)
            try await door.service.delete(ids: [id], account: Self.key.account)
            let events = try await client.execute(
                uri: "\(Self.path)?watch=true&resourceVersion=\(rv)&timeoutSeconds=1", method: .get, headers: Self.headers()
            ) { response in
                String(buffer: response.body).split(separator: "\n").compactMap { JSON.parse(Array($0.utf8)) }
            }
            #expect(events.map { $0["type"]?.string ?? "" } == ["MODIFIED", "DELETED"], "\(events)")
            #expect(events.first?["object"]?["spec"]?["retentionDays"] == 5)
            // Deletions forgotten: a watch from before them is told 410, as the API server tells it.
            try await door.repository.compactHistory(keeping: 0)
            let gone = try await client.execute(uri: "\(Self.path)?watch=1&resourceVersion=\(rv)", method: .get, headers: Self.headers()) {
                Self.json($0.body)
            }
            #expect(gone["type"] == "ERROR" && gone["object"]?["code"] == 410 && gone["object"]?["reason"] == "Expired")
        }
    }

    @Test func bookmarksComeWhenAskedAndAnAccountsOpenWatchesAreCapped() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir, bookmarks: .milliseconds(100), streams: .init(perAccount: 1, total: 10))
        try await door.application.test(.router) { client in
            _ = try await Self.create(client, "marked")
            let lines = try await client.execute(
                uri: "\(Self.path)?watch=true&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=1", method: .get,
                headers: Self.headers()
            ) { String(buffer: $0.body).split(separator: "\n").compactMap { JSON.parse(Array($0.utf8)) } }
            let marks = lines.filter { $0["type"] == "BOOKMARK" }
            #expect(!marks.isEmpty && marks.allSatisfy { $0["object"]?["metadata"]?["resourceVersion"] == "1" }, "\(lines)")
            // One watch open: the account's next is refused with 429, another account's is not.
            let open = Task {
                try await client.execute(uri: "\(Self.path)?watch=1&timeoutSeconds=2", method: .get, headers: Self.headers()) {
                    $0.status.code
                }
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while door.api.streams.count < 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(door.api.streams.count == 1, "the first watch is open")
            try await client.execute(uri: "\(Self.path)?watch=1&timeoutSeconds=1", method: .get, headers: Self.headers()) { response in
                #expect(response.status.code == 429 && Self.json(response.body)["reason"] == "TooManyRequests")
            }
            try await client.execute(uri: "\(Self.path)?watch=1&timeoutSeconds=1", method: .get, headers: Self.headers(Self.other)) {
                #expect($0.status.code == 200)
            }
            #expect(try await open.value == 200)
            try await client.execute(uri: "\(Self.path)?watch=1&timeoutSeconds=1", method: .get, headers: Self.headers()) {
                #expect($0.status.code == 200, "the place was given back when the first watch ended")
            }
        }
    }

    /// A table's rows carry their objects' metadata only unless the whole object is asked for,
    /// as the API server does (`includeObject`).
    @Test func aTablesRowsCarryWhatIncludeObjectAsks() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        try await door.application.test(.router) { client in
            _ = try await Self.create(client, "one")
            var table = Self.headers()
            table[.accept] = "application/json;as=Table;v=v1;g=meta.k8s.io"
            func row(_ query: String) async throws -> (code: Int, row: JSON) {
                try await client.execute(uri: Self.path + query, method: .get, headers: table) {
                    ($0.status.code, Self.json($0.body)["rows"]?[0] ?? Self.json($0.body))
                }
            }
            let partial = try await row("")
            #expect(partial.row["object"]?["kind"] == "PartialObjectMetadata")
            #expect(partial.row["object"]?["apiVersion"] == "meta.k8s.io/v1")
            #expect(partial.row["object"]?["metadata"]?["name"] == "one" && partial.row["object"]?["spec"] == nil)
            #expect(partial.row["cells"]?[0] == "one")
            let whole = try await row("?includeObject=Object")
            #expect(whole.row["object"]?["kind"] == "ImageCache" && whole.row["object"]?["spec"]?["images"] == ["nginx:1.27"])
            #expect(try await row("?includeObject=None").row["object"] == .null)
            let bad = try await row("?includeObject=All")
            #expect(bad.code == 400 && bad.row["message"] == "includeObject All is not one of Metadata, Object, None")
        }
    }

    @Test func anotherAccountsTokenAndAForgedOneSeeNothing() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        try await door.application.test(.router) { client in
            _ = try await Self.create(client, "mine")
            let theirs = try await client.execute(uri: Self.path, method: .get, headers: Self.headers(Self.other)) { Self.json($0.body) }
            #expect(theirs["items"] == [])
            var forged = Self.headers()
            forged[.authorization] = "Bearer imc.\(Self.key.secretID).\(String(repeating: "0", count: 64))"
            try await client.execute(uri: Self.path, method: .get, headers: forged) { #expect($0.status.code == 401) }
            try await client.execute(uri: "\(Self.path)/mine", method: .get, headers: Self.headers(Self.other)) { response in
                #expect(response.status.code == 404)
                #expect(Self.json(response.body)["message"] == #"imagecaches.eks.cloud.tencent.com "mine" not found"#)
            }
        }
    }

    /// The door's paths are router patterns; what matches none, or a verb a resource does not
    /// take, is answered with a `Status` as the API server's, never the router's bare reply.
    @Test(arguments: [
        ("/k8s/nonsense", HTTPRequest.Method.get, 404, "NotFound"),
        ("/k8s/apis/example.com/v1", .get, 404, "NotFound"),
        ("/k8s/apis/eks.cloud.tencent.com/v1/imagecaches/a/b/c", .get, 404, "NotFound"),
        ("/k8s/api/v1/nodes", .get, 404, "NotFound"),
        ("/k8s/version", .post, 404, "NotFound"),
        ("/k8s/apis/eks.cloud.tencent.com/v1/imagecaches", .delete, 405, "MethodNotAllowed"),
        ("/k8s/apis/eks.cloud.tencent.com/v1/imagecaches/x/status", .put, 405, "MethodNotAllowed"),
        ("/k8s/k8s/apis/eks.cloud.tencent.com/v1/imagecaches/absent", .get, 404, "NotFound"),
    ])
    func pathsAndVerbsTheDoorDoesNotServeAreStatuses(path: String, method: HTTPRequest.Method, code: Int, reason: String) async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        try await door.application.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: Self.headers()) { response in
                #expect(response.status.code == code)
                let status = Self.json(response.body)
                #expect(status["kind"] == "Status" && status["reason"] == .string(reason), "\(status)")
            }
        }
    }

    @Test func discoveryOfEveryServedGroupIsRouted() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        try await door.application.test(.router) { client in
            for path in ["/k8s/apis/eks.cloud.tencent.com/v1", "/k8s/apis/eks.cloud.tencent.com", "/k8s/api/v1", "/k8s/version"] {
                try await client.execute(uri: path, method: .get, headers: Self.headers()) { #expect($0.status.code == 200, "\(path)") }
            }
        }
    }

    /// One schema: the CRD, the OpenAPI document kubectl explains from and the door's checks all
    /// say the sizes the service's configuration allows.
    @Test func theSchemaSaysTheConfiguredLimitsAndTheDoorKeepsThem() async throws {
        let dir = try TemporaryDirectory()
        var limits = CacheLimits()
        limits.minimumSize = 10
        limits.maximumSize = 4096
        let door = try Self.door(dir, limits: limits)
        try await door.application.test(.router) { client in
            let crd = try await client.execute(
                uri: "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagecaches.eks.cloud.tencent.com", method: .get,
                headers: Self.headers()
            ) { Self.json($0.body) }
            let size = crd["spec"]?["versions"]?[0]?["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]?["properties"]?["imageCacheSize"]
            #expect(size?["minimum"] == 10 && size?["maximum"] == 4096, "\(String(describing: size))")
            let openAPI = try await client.execute(
                uri: "/k8s/openapi/v3/apis/eks.cloud.tencent.com/v1", method: .get, headers: Self.headers()
            ) {
                Self.json($0.body)
            }
            let explained = openAPI["components"]?["schemas"]?["com.tencent.cloud.eks.v1.ImageCache"]?["properties"]?["spec"]?[
                "properties"]?[
                    "imageCacheSize"]
            #expect(explained?["maximum"] == 4096)
            for (size, code) in [(3000, 201), (10, 201), (5000, 422), (9, 422)] {
                let body =
                    #"{"apiVersion":"eks.cloud.tencent.com/v1","kind":"ImageCache","metadata":{"name":"s\#(size)"},"spec":{"images":["nginx"],"imageCacheSize":\#(size)}}"#
                try await client.execute(uri: Self.path, method: .post, headers: Self.headers(), body: ByteBuffer(string: body)) {
                    response in
                    #expect(response.status.code == code, "\(size): \(String(buffer: response.body))")
                    if code == 422 { #expect(String(buffer: response.body).contains("must be an integer from 10 to 4096")) }
                }
            }
            let bad =
                #"{"apiVersion":"eks.cloud.tencent.com/v1","kind":"ImageCache","metadata":{"name":"b"},"spec":{"images":["nginx"],"imagePullSecrets":["nonamespace"],"platform":"arm64"}}"#
            try await client.execute(uri: Self.path, method: .post, headers: Self.headers(), body: ByteBuffer(string: bad)) { response in
                let causes = Self.json(response.body)["details"]?["causes"]?.array?.compactMap { $0["field"]?.string } ?? []
                #expect(response.status.code == 422 && causes == ["spec.imagePullSecrets[0]", "spec.platform"], "\(causes)")
            }
        }
    }

    @Test func aPatchMergesAndAStaleUpdateConflicts() async throws {
        let dir = try TemporaryDirectory()
        let door = try Self.door(dir)
        try await door.application.test(.router) { client in
            let made = try await Self.create(client, "patched")
            let patched = try await client.execute(
                uri: "\(Self.path)/patched", method: .patch, headers: Self.headers(contentType: "application/merge-patch+json"),
                body: ByteBuffer(string: #"{"metadata":{"labels":{"team":"a"}},"spec":{"imageCacheSize":40}}"#)
            ) { Self.json($0.body) }
            #expect(patched["spec"]?["imageCacheSize"] == 40 && patched["spec"]?["images"] == ["nginx:1.27"])
            #expect(patched["metadata"]?["labels"]?["team"] == "a" && patched["metadata"]?["generation"] == 2)
            let jsonPatched = try await client.execute(
                uri: "\(Self.path)/patched", method: .patch, headers: Self.headers(contentType: "application/json-patch+json"),
                body: ByteBuffer(
                    string: #"[{"op":"add","path":"/spec/images/-","value":"redis:7"},{"op":"remove","path":"/metadata/labels/team"}]"#)
            ) { Self.json($0.body) }
            #expect(jsonPatched["spec"]?["images"] == ["nginx:1.27", "redis:7"] && jsonPatched["metadata"]?["labels"] == nil)
            // The object as first read, with its old resourceVersion: refused, nothing changed.
            var stale = made
            stale["spec"]?["retentionDays"] = 9
            try await client.execute(
                uri: "\(Self.path)/patched", method: .put, headers: Self.headers(), body: ByteBuffer(bytes: stale.data)
            ) { response in
                #expect(response.status.code == 409 && Self.json(response.body)["reason"] == "Conflict")
            }
            try await client.execute(
                uri: "\(Self.path)/patched", method: .patch, headers: Self.headers(contentType: "application/strategic-merge-patch+json"),
                body: ByteBuffer(string: "{}")
            ) { #expect($0.status.code == 415) }
            let now = try await client.execute(uri: "\(Self.path)/patched", method: .get, headers: Self.headers()) { Self.json($0.body) }
            #expect(now["spec"]?["retentionDays"] == 0 && now["spec"]?["imageCacheSize"] == 40)
        }
    }

    @Test func mergePatchesFollowRFC7386() {
        let target: JSON = ["a": "b", "c": ["d": "e", "f": "g"], "list": [1, 2]]
        let merged = target.merging(patch: ["a": "z", "c": ["f": .null], "list": [3], "new": true])
        #expect(merged == ["a": "z", "c": ["d": "e"], "list": [3], "new": true])
    }

    @Test(arguments: [
        ("team=a", true), ("team==a", true), ("team!=a", false), ("team in (a, b)", true), ("team notin (a)", false),
        ("team", true), ("!team", false), ("tier", false), ("!tier", true), ("team=a,tier!=x", true),
    ])
    func labelSelectorsMatchAsTheAPIServerDoes(selector: String, matches: Bool) throws {
        let object: JSON = ["metadata": ["name": "x", "labels": ["team": "a"]]]
        var selectorQuery: [String: String] = [:]
        selectorQuery["labelSelector"] = selector
        #expect(try Selector(query: selectorQuery).matches(object) == matches)
    }

    /// A service's refusal names the request's field; the door names the object's.
    @Test(arguments: [
        ("Containers[1].Image", "spec.containers[1].image"), ("InitContainers[0].WorkingDir", "spec.initContainers[0].workingDir"),
        ("VpcId", "metadata.annotations[eks.tke.cloud.tencent.com/vpc-id]"),
        ("SecurityGroupIds", "metadata.annotations[eks.tke.cloud.tencent.com/security-group-id]"),
        ("TerminationGracePeriodSeconds", "spec.terminationGracePeriodSeconds"), ("Replicas", "spec"), (nil, "spec"),
    ])
    func aRefusalsFieldIsThePodsField(field: String?, path: String) {
        #expect(KubernetesAPI.podPath(field.map { FieldPath(stringLiteral: $0) }) == path)
    }

    @Test(arguments: [
        ("Images[2]", "spec.images[2]"), ("ImageCacheSize", "spec.imageCacheSize"), ("ImageCacheName", "metadata.name"),
        ("ImageRegistryCredentials", "spec.imagePullSecrets"), ("Limit", "spec"),
    ])
    func aRefusalsFieldIsTheImageCachesField(field: String, path: String) {
        #expect(KubernetesAPI.specPath(FieldPath(stringLiteral: field)) == path)
    }

    @Test func agesReadAsKubectlPrintsThem() {
        #expect(humanDuration(5) == "5s" && humanDuration(119) == "119s" && humanDuration(125) == "2m5s")
        #expect(
            humanDuration(3600 * 5 + 60 * 7) == "5h7m" && humanDuration(86400 * 3 + 3600) == "3d1h" && humanDuration(86400 * 30) == "30d")
    }
}
