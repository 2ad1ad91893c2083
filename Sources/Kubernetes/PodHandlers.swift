import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel
import IMCPods
import IMCService
import IMCStore

/// Pods (container instances), namespaces and image pull secrets: what `kubectl run`, `apply`,
/// `get pods`, `describe pod`, `logs`, `delete pod`, `create namespace` and `create secret
/// docker-registry` use.
extension KubernetesAPI {
    // MARK: - Namespaces

    func namespaceExists(_ name: String, _ account: String) async throws -> Bool {
        if Namespaces.all.contains(name) { return true }
        return try await objects?.object(account: account, kind: "Namespace", namespace: "", name: name) != nil
    }

    func namespaces(_ call: Call, rest: [String]) async throws -> Response {
        let name = rest.first ?? ""
        guard let objects = self.objects ?? (call.method == .get ? NoObjects() : nil) else {
            throw KubernetesStatus.notAllowed("this server keeps no namespaces of its own")
        }
        switch (call.method, rest.count) {
        case (.get, 0):
            let stored = try await objects.objects(account: call.account, kind: "Namespace", namespace: "").compactMap {
                JSON.parse(Array($0.data))
            }
            let items = Namespaces.all.map(Namespaces.object) + stored
            if call.wantsTable {
                let now = clock.now()
                let rows = items.map { item -> (cells: [JSON], object: JSON) in
                    let created = item["metadata"]?["creationTimestamp"]?.string.flatMap(parseTime) ?? now
                    return ([item["metadata"]?["name"] ?? "", "Active", .string(humanDuration(now.timeIntervalSince(created)))], item)
                }
                let columns = [
                    ImageCacheObject.column("Name", "string", "name", "Name", priority: 0),
                    ImageCacheObject.column("Status", "string", "", "Phase", priority: 0),
                    ImageCacheObject.column("Age", "string", "", "Age", priority: 0),
                ]
                return Self.respond(Tables.table(rows, columns: columns, revision: "1"))
            }
            return Self.respond(List.of(items, kind: "NamespaceList", apiVersion: "v1", revision: 1))
        case (.get, 1):
            if Namespaces.all.contains(name) { return Self.respond(Namespaces.object(name)) }
            guard let stored = try await objects.object(account: call.account, kind: "Namespace", namespace: "", name: name),
                let object = JSON.parse(Array(stored.data))
            else { throw KubernetesStatus.notFound(Resource.namespaces, name) }
            return Self.respond(object)
        case (.post, 0):
            let body = try await call.object()
            let given = body["metadata"]?["name"]?.string ?? ""
            if let problem = Self.labelProblem(given) {
                throw KubernetesStatus.invalid(Resource.namespaces, given, causes: [("metadata.name", problem)])
            }
            if Namespaces.all.contains(given) { throw KubernetesStatus.alreadyExists(Resource.namespaces, given) }
            let uid = UUID().uuidString.lowercased()
            let object: JSON = [
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": [
                    "name": .string(given), "uid": .string(uid), "resourceVersion": "1",
                    "creationTimestamp": .string(timestamp(clock.now())),
                    "labels": ["kubernetes.io/metadata.name": .string(given)],
                ],
                "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"],
            ]
            do {
                try await objects.insertObject(
                    StoredObject(kind: "Namespace", namespace: "", name: given, uid: uid, created: clock.now(), data: object.data),
                    account: call.account)
            } catch let e as StoreError where e.code == .duplicate {
                throw KubernetesStatus.alreadyExists(Resource.namespaces, given)
            }
            return Self.respond(object, code: 201)
        case (.delete, 1):
            if Namespaces.all.contains(name) {
                throw KubernetesStatus(
                    code: 403, reason: "Forbidden", message: "namespaces \"\(name)\" is forbidden: this namespace may not be deleted")
            }
            guard let stored = try await objects.object(account: call.account, kind: "Namespace", namespace: "", name: name) else {
                throw KubernetesStatus.notFound(Resource.namespaces, name)
            }
            // What is in it goes with it, as the namespace controller does.
            if let instances {
                let inside = try await pods(call.account, namespace: name)
                if !inside.isEmpty { try await instances.delete(ids: inside.map(\.id), account: call.account) }
            }
            for secret in try await objects.objects(account: call.account, kind: "Secret", namespace: name) {
                try await objects.deleteObject(account: call.account, kind: "Secret", namespace: name, name: secret.name)
            }
            try await objects.deleteObject(account: call.account, kind: "Namespace", namespace: "", name: name)
            var object = JSON.parse(Array(stored.data)) ?? [:]
            object["status"] = ["phase": "Terminating"]
            return Self.respond(object)
        default:
            throw KubernetesStatus.notAllowed("the server does not allow this method on namespaces")
        }
    }

    /// Why `name` is not a DNS label (a namespace's name), or nil.
    static func labelProblem(_ name: String) -> String? {
        let ok =
            !name.isEmpty && name.count <= 63 && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
            && name.first != "-" && name.last != "-"
        return ok
            ? nil
            : "Invalid value: \"\(name.prefix(80))\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    }

    // MARK: - Secrets

    func secrets(_ call: Call, namespace: String?, rest: [String]) async throws -> Response {
        guard let objects else { throw KubernetesStatus.pathNotFound(call.path) }
        let name = rest.first ?? ""
        switch (call.method, rest.count) {
        case (.get, 0):
            let items = try await objects.objects(account: call.account, kind: "Secret", namespace: namespace).compactMap {
                JSON.parse(Array($0.data))
            }
            if call.wantsTable {
                let now = clock.now()
                let rows = items.map { item -> (cells: [JSON], object: JSON) in
                    let created = item["metadata"]?["creationTimestamp"]?.string.flatMap(parseTime) ?? now
                    return (
                        [
                            item["metadata"]?["name"] ?? "", item["type"] ?? "Opaque", .int(Int64(item["data"]?.object?.count ?? 0)),
                            .string(humanDuration(now.timeIntervalSince(created))),
                        ], item
                    )
                }
                let columns = [
                    ImageCacheObject.column("Name", "string", "name", "Name", priority: 0),
                    ImageCacheObject.column("Type", "string", "", "Type", priority: 0),
                    ImageCacheObject.column("Data", "integer", "", "Keys", priority: 0),
                    ImageCacheObject.column("Age", "string", "", "Age", priority: 0),
                ]
                return Self.respond(Tables.table(rows, columns: columns, revision: "1"))
            }
            return Self.respond(List.of(items, kind: "SecretList", apiVersion: "v1", revision: 1))
        case (.get, 1):
            guard let namespace,
                let stored = try await objects.object(account: call.account, kind: "Secret", namespace: namespace, name: name),
                let object = JSON.parse(Array(stored.data))
            else { throw KubernetesStatus.notFound(Resource.secrets, name) }
            return Self.respond(object)
        case (.post, 0):
            guard let namespace else { throw KubernetesStatus.notAllowed("create a secret in a namespace") }
            guard try await namespaceExists(namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.namespaces, namespace)
            }
            var body = try await call.object()
            let given = body["metadata"]?["name"]?.string ?? ""
            if let problem = Self.nameProblem(given) {
                throw KubernetesStatus.invalid(Resource.secrets, given, causes: [("metadata.name", problem)])
            }
            // `stringData` is folded into `data`, base64, as the API server does.
            var data = body["data"]?.object ?? [:]
            for (k, v) in body["stringData"]?.stringMap ?? [:] { data[k] = .string(Data(v.utf8).base64EncodedString()) }
            for (k, v) in data where v.string.flatMap({ Data(base64Encoded: $0) }) == nil {
                throw KubernetesStatus.invalid(Resource.secrets, given, causes: [("data[\(k)]", "Invalid value: not base64")])
            }
            if body["type"]?.string == "kubernetes.io/dockerconfigjson" {
                guard let config = data[".dockerconfigjson"]?.string.flatMap({ Data(base64Encoded: $0) }), Self.dockerConfig(config) != nil
                else {
                    throw KubernetesStatus.invalid(
                        Resource.secrets, given,
                        causes: [("data[.dockerconfigjson]", "Invalid value: must be a docker config JSON with auths")])
                }
            }
            let uid = UUID().uuidString.lowercased()
            body["data"] = .object(data)
            body["stringData"] = nil
            body["metadata"]?["namespace"] = .string(namespace)
            body["metadata"]?["uid"] = .string(uid)
            body["metadata"]?["resourceVersion"] = "1"
            body["metadata"]?["creationTimestamp"] = .string(timestamp(clock.now()))
            if body["type"] == nil { body["type"] = "Opaque" }
            do {
                try await objects.insertObject(
                    StoredObject(kind: "Secret", namespace: namespace, name: given, uid: uid, created: clock.now(), data: body.data),
                    account: call.account)
            } catch let e as StoreError where e.code == .duplicate {
                throw KubernetesStatus.alreadyExists(Resource.secrets, given)
            }
            return Self.respond(body, code: 201)
        case (.delete, 1):
            guard let namespace,
                let stored = try await objects.object(account: call.account, kind: "Secret", namespace: namespace, name: name)
            else { throw KubernetesStatus.notFound(Resource.secrets, name) }
            try await objects.deleteObject(account: call.account, kind: "Secret", namespace: namespace, name: name)
            return Self.respond(JSON.parse(Array(stored.data)) ?? [:])
        default:
            throw KubernetesStatus.notAllowed("the server does not allow this method on secrets")
        }
    }

    /// The registry credentials of a `.dockerconfigjson`: `auths` of server -> username and
    /// password (or `auth`, base64 of `user:password`).
    static func dockerConfig(_ data: Data) -> [CacheCredential]? {
        guard let auths = JSON.parse(Array(data))?["auths"]?.object else { return nil }
        return auths.sorted { $0.key < $1.key }.compactMap { server, entry in
            var user = entry["username"]?.string
            var password = entry["password"]?.string
            if user == nil || password == nil, let auth = entry["auth"]?.string, let decoded = Data(base64Encoded: auth) {
                let pair = String(decoding: decoded, as: UTF8.self).split(separator: ":", maxSplits: 1).map(String.init)
                if pair.count == 2 { (user, password) = (pair[0], pair[1]) }
            }
            guard let user, let password else { return nil }
            let host =
                server.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
                .split(separator: "/").first.map(String.init) ?? server
            return CacheCredential(server: host, username: user, password: password)
        }
    }

    /// The credentials of `namespace/name` pull secrets; the missing ones named.
    func credentials(_ names: [String], account: String) async throws -> (found: [CacheCredential], missing: [String]) {
        var found: [CacheCredential] = []
        var missing: [String] = []
        for full in names {
            let parts = full.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2,
                let stored = try await objects?.object(account: account, kind: "Secret", namespace: parts[0], name: parts[1]),
                let object = JSON.parse(Array(stored.data)), let encoded = object["data"]?[".dockerconfigjson"]?.string,
                let config = Data(base64Encoded: encoded), let credentials = Self.dockerConfig(config)
            else {
                missing.append(full)
                continue
            }
            found += credentials
        }
        return (found, missing)
    }

    // MARK: - Pods

    func pods(_ account: String, namespace: String?) async throws -> [Instance] {
        guard let instances else { return [] }
        var query = InstanceQuery()
        query.limit = Int(Int32.max)
        return try await instances.repository.list(account: account, query: query).instances
            .filter { namespace == nil || PodObject.namespace($0) == namespace }
            .sorted { a, b in
                let (na, nb) = (PodObject.namespace(a), PodObject.namespace(b))
                return na != nb ? na < nb : a.name < b.name
            }
    }

    func findPod(_ name: String, namespace: String, _ account: String) async throws -> Instance? {
        guard let instances else { return nil }
        var query = InstanceQuery()
        query.names = [name]
        query.limit = Int(Int32.max)
        return try await instances.repository.list(account: account, query: query).instances.first { PodObject.namespace($0) == namespace }
    }

    func podsRoute(_ call: Call, namespace: String?, rest: [String]) async throws -> Response {
        guard let instances else { throw KubernetesStatus.pathNotFound(call.path) }
        let name = rest.first ?? ""
        let sub = rest.count == 2 ? rest[1] : ""
        switch (call.method, rest.count, sub) {
        case (.get, 0, _): return await call.isWatch ? try watchPods(call, namespace: namespace) : try listPods(call, namespace: namespace)
        case (.post, 0, _):
            guard let namespace else { throw KubernetesStatus.notAllowed("create a Pod in a namespace") }
            return try await createPod(call, namespace: namespace)
        case (.get, 1, _), (.get, 2, "status"):
            guard let namespace, let pod = try await findPod(name, namespace: namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.pods, name)
            }
            if call.wantsTable {
                return Self.respond(
                    Tables.table(
                        [(PodObject.row(pod, now: clock.now()), PodObject.object(pod))], columns: PodObject.columns,
                        revision: "\(pod.revision ?? 0)"))
            }
            return Self.respond(PodObject.object(pod))
        case (.delete, 1, _):
            guard let namespace, let pod = try await findPod(name, namespace: namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.pods, name)
            }
            var grace = call.query["gracePeriodSeconds"].flatMap(Int.init)
            if grace == nil, let options = JSON.parse(try await call.body()), let n = options["gracePeriodSeconds"]?.int { grace = Int(n) }
            if let g = grace, g < 0 { throw KubernetesStatus.badRequest("gracePeriodSeconds must not be negative, not \(g)") }
            try await instances.delete(ids: [pod.id], account: call.account, grace: grace)
            let now = await (try? instances.get(id: pod.id, account: call.account)) ?? pod
            return Self.respond(PodObject.object(now))
        case (.get, 2, "log"):
            guard let namespace, let pod = try await findPod(name, namespace: namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.pods, name)
            }
            return try await logs(call, pod: pod)
        case (_, 2, "exec"), (_, 2, "attach"), (_, 2, "portforward"):
            throw KubernetesStatus.badRequest(
                "imc does not \(sub == "portforward" ? "forward ports to" : sub == "exec" ? "run commands in" : "attach to") a Pod's containers: its instances run without a kubelet API; read their output with kubectl logs"
            )
        case (.put, 1, _), (.patch, 1, _):
            throw KubernetesStatus(
                code: 422, reason: "Invalid",
                message: "Pod \"\(name)\" is invalid: spec: Forbidden: a Pod made by imc cannot be changed; delete it and create it again")
        default: throw KubernetesStatus.pathNotFound(call.path)
        }
    }

    func listPods(_ call: Call, namespace: String?) async throws -> Response {
        let revision = try await caches.repository.revisions().current
        let selector = try Selector(call)
        let items = try await pods(call.account, namespace: namespace).filter { selector.matches(PodObject.object($0)) }
        if call.wantsTable {
            let now = clock.now()
            return Self.respond(
                Tables.table(
                    items.map { (PodObject.row($0, now: now), PodObject.object($0)) }, columns: PodObject.columns, revision: "\(revision)"))
        }
        return Self.respond(List.of(items.map(PodObject.object), kind: "PodList", apiVersion: "v1", revision: revision))
    }

    func watchPods(_ call: Call, namespace: String?) async throws -> Response {
        guard let instances else { throw KubernetesStatus.pathNotFound(call.path) }
        let selector = try Selector(call)
        let start = try await watchStart(call)
        let now = clock.now()
        let initial =
            await start.fromNow
            ? try pods(call.account, namespace: namespace).map {
                WatchEvent(type: "ADDED", object: PodObject.object($0), cells: PodObject.row($0, now: now))
            }
            .filter { selector.matches($0.object) } : []
        let (repository, account, clock) = (instances.repository, call.account, self.clock)
        return try stream(call, start: start, initial: initial, columns: PodObject.columns, kind: "Pod", apiVersion: "v1") { since in
            try await repository.changes(account: account, after: since).map { change in
                let object = PodObject.object(change.value)
                guard namespace == nil || PodObject.namespace(change.value) == namespace, selector.matches(object) else {
                    return (change.revision, nil)
                }
                return (
                    change.revision,
                    WatchEvent(type: change.kind.watchType, object: object, cells: PodObject.row(change.value, now: clock.now()))
                )
            }
        }
    }

    /// The Pod's field a service refusal names: `Containers[1].Image` is `spec.containers[1].image`,
    /// `VpcId` the annotation that gave it.
    static func podPath(_ field: FieldPath?) -> String {
        guard let field, let root = field.root else { return "spec" }
        let annotations = ["VpcId": vpcAnnotation, "SubnetId": subnetAnnotation, "SecurityGroupIds": securityGroupAnnotation]
        if let annotation = annotations[root] { return "metadata.annotations[\(annotation)]" }
        let roots = [
            "Containers": "spec.containers", "InitContainers": "spec.initContainers", "EksCiName": "metadata.name",
            "TerminationGracePeriodSeconds": "spec.terminationGracePeriodSeconds",
        ]
        let containerFields = [
            "Name": "name", "Image": "image", "WorkingDir": "workingDir", "Cpu": "resources.requests.cpu",
            "Memory": "resources.requests.memory",
        ]
        guard let top = roots[root] else { return "spec" }
        var path = top
        for c in field.components.dropFirst() {
            switch c {
            case .index(let i): path += "[\(i)]"
            case .key(let k): path += "." + (containerFields[k] ?? k)
            }
        }
        return path
    }

    static let vpcAnnotation = PodRequest.vpcAnnotation
    static let subnetAnnotation = PodRequest.subnetAnnotation
    static let securityGroupAnnotation = PodRequest.securityGroupAnnotation

    func createPod(_ call: Call, namespace: String) async throws -> Response {
        guard let instances else { throw KubernetesStatus.pathNotFound(call.path) }
        var body = try await call.object()
        if let v = body["apiVersion"]?.string, v != "v1" {
            throw KubernetesStatus.badRequest("the API version in the data (\(v.prefix(40))) does not match the expected API version (v1)")
        }
        if let given = body["metadata"]?["namespace"]?.string, !given.isEmpty, given != namespace {
            throw KubernetesStatus.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        guard try await namespaceExists(namespace, call.account) else { throw KubernetesStatus.notFound(Resource.namespaces, namespace) }
        var name = body["metadata"]?["name"]?.string ?? ""
        if name.isEmpty, let prefix = body["metadata"]?["generateName"]?.string {
            let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
            name = prefix + String((0..<5).map { _ in alphabet.randomElement()! })
            body["metadata"]?["name"] = .string(name)
        }
        if let problem = Self.nameProblem(name) {
            throw KubernetesStatus.invalid(Resource.pods, name, causes: [("metadata.name", problem)])
        }
        if try await findPod(name, namespace: namespace, call.account) != nil { throw KubernetesStatus.alreadyExists(Resource.pods, name) }
        body["apiVersion"] = "v1"
        body["kind"] = "Pod"
        body["metadata"]?["namespace"] = .string(namespace)
        // The Pod typed (an unknown or ill-typed field refused by its path), then read as every
        // door reads a Pod: its walls, its containers, its cache and network annotations.
        let pod: Pod
        let read: PodRequest
        do throws(DecodingProblem) {
            pod = try StrictDecoder().decode(Pod.self, from: body)
            read = try PodRequest(pod, namespace: namespace)
        } catch {
            throw Self.refusal(error, pod: name)
        }
        var request = read.request
        let (found, missing) = try await credentials(read.imagePullSecrets, account: call.account)
        request.credentials += found
        request.kubernetes = KubernetesMetadata(
            uid: UUID().uuidString.lowercased(), labels: pod.metadata.labels ?? [:], annotations: pod.metadata.annotations ?? [:],
            imagePullSecrets: read.imagePullSecrets,
            namespace: namespace)
        let warnings = missing.map { "imagePullSecrets \($0) not found; the images are pulled without it" }
        if call.query["dryRun"] == "All" { return Self.respond(body, code: 201, warnings: warnings) }
        let created: [Instance]
        do { created = try await instances.create(request, account: call.account, region: region) } catch let e as ServiceError {
            switch e.code {
            case .limitExceeded:
                throw KubernetesStatus(
                    code: 403, reason: "Forbidden", message: "pods \"\(name)\" is forbidden: exceeded quota: \(e.message)")
            default:
                throw KubernetesStatus.invalid(Resource.pods, name, causes: [(Self.podPath(e.field), e.message)])
            }
        }
        let made = await (try? instances.get(id: created[0].id, account: call.account)) ?? created[0]
        return Self.respond(PodObject.object(made), code: 201, warnings: warnings)
    }

    /// A Pod the strict decoder or the Pod reader refused, as the API server answers: a field it
    /// does not know or of the wrong type is a 400 ("strict decoding error"), a value it does not
    /// take a 422 with the field as the cause.
    static func refusal(_ problem: DecodingProblem, pod name: String) -> KubernetesStatus {
        switch problem.kind {
        case .unknownField:
            return .badRequest("Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"\(problem.path)\"")
        case .wrongType, .unreadable:
            return .badRequest("Pod in version \"v1\" cannot be handled as a Pod: \(problem.message)")
        case .missing, .invalid:
            let field = problem.path.components.isEmpty ? "spec" : problem.path.description
            return KubernetesStatus.invalid(Resource.pods, name, causes: [(field, problem.message)])
        }
    }

    /// `kubectl logs`: a container's output (`container`, `tailLines`, `limitBytes`, `previous`,
    /// `timestamps` not kept), and with `follow` what it writes next, until it ends.
    func logs(_ call: Call, pod: Instance) async throws -> Response {
        guard let instances else { throw KubernetesStatus.pathNotFound(call.path) }
        let names = (pod.initContainers + pod.containers).map(\.name)
        let container = call.query["container"] ?? (pod.containers.count == 1 ? pod.containers[0].name : nil)
        guard let container else {
            throw KubernetesStatus.badRequest(
                "a container name must be specified for pod \(pod.name), choose one of: [\(pod.containers.map(\.name).joined(separator: " "))]"
            )
        }
        guard names.contains(container) else {
            throw KubernetesStatus.badRequest("container \(container.prefix(60)) is not valid for pod \(pod.name)")
        }
        if call.flag("previous") {
            guard (pod.states[container]?.restartCount ?? 0) > 0 else {
                throw KubernetesStatus.badRequest("previous terminated container \"\(container)\" in pod \"\(pod.name)\" not found")
            }
        }
        let tail = call.query["tailLines"].flatMap(Int.init)
        let limit = call.query["limitBytes"].flatMap(Int.init)
        let (_, text) = try await mappedInstance {
            try await instances.logs(id: pod.id, account: call.account, container: container, tail: tail, limitBytes: limit)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        guard call.flag("follow") else {
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        let (id, account, interval) = (pod.id, call.account, watchInterval)
        let slot = try streams.acquire(account)
        let body = ResponseBody { writer in
            defer { withExtendedLifetime(slot) {} }
            try await writer.write(ByteBuffer(string: text))
            // What was sent is the end of the log; what follows it is new (after a rotation, or
            // once the window moved past it, from where its last bytes are found again).
            var sent = text
            while true {
                try await Task.sleep(for: interval)
                guard let now = try? await instances.get(id: id, account: account) else { break }
                let current =
                    await (try? instances.logs(id: id, account: account, container: container, tail: nil, limitBytes: 1 << 20).1) ?? ""
                var new = Substring("")
                if current.hasPrefix(sent) {
                    new = current.dropFirst(sent.count)
                } else if !sent.isEmpty, let r = current.range(of: String(sent.suffix(512)), options: .backwards) {
                    new = current[r.upperBound...]
                } else if current != sent {
                    new = Substring(current)
                }
                if !new.isEmpty { try await writer.write(ByteBuffer(string: String(new))) }
                sent = current
                let ended = now.status == .succeeded || now.status == .failed || now.status == .terminating
                if ended || (now.states[container]?.state == .terminated && now.restartPolicy == .never) { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    func mappedInstance<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as ServiceError {
            switch e.code {
            case .notFound: throw KubernetesStatus(code: 404, reason: "NotFound", message: e.message)
            default: throw KubernetesStatus.badRequest(e.message)
            }
        }
    }

    /// Pod events, as `kubectl describe pod` asks for them.
    static func events(of pod: Instance) -> [JSON] {
        events(pod.events, of: PodObject.object(pod), id: pod.id, namespace: PodObject.namespace(pod), revision: pod.revision)
    }
}

/// No objects kept (a door serving ImageCaches only).
struct NoObjects: ObjectRepository {
    func insertObject(_ object: StoredObject, account: String) throws {}
    func object(account: String, kind: String, namespace: String, name: String) throws -> StoredObject? { nil }
    func objects(account: String, kind: String, namespace: String?) throws -> [StoredObject] { [] }
    func deleteObject(account: String, kind: String, namespace: String, name: String) throws -> Bool { false }
}

func parseTime(_ text: String) -> Date? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: text)
}
