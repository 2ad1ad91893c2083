import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCInstance
import IMCInstances
import IMCKubernetesModels
import IMCModel
import IMCPods
import IMCServiceSupport
import IMCStore

/// Pods (container instances), namespaces and image pull secrets: what `kubectl run`, `apply`,
/// `get pods`, `describe pod`, `logs`, `delete pod`, `create namespace` and `create secret
/// docker-registry` use.
extension KubernetesAPI {
    // MARK: - Pods

    func pods(_ account: String, namespace: String?) async throws -> [Instance] {
        guard let instances else { return [] }
        var query = InstanceQuery()
        query.limit = Int(Int32.max)
        return try await instances.repository.list(account: account, query: query).instances
            .filter { namespace == nil || Pods.namespace($0) == namespace }
            .sorted { a, b in
                let (na, nb) = (Pods.namespace(a), Pods.namespace(b))
                return na != nb ? na < nb : a.name < b.name
            }
    }

    func findPod(_ name: String, namespace: String, _ account: String) async throws -> Instance? {
        guard let instances else { return nil }
        var query = InstanceQuery()
        query.names = [name]
        query.limit = Int(Int32.max)
        return try await instances.repository.list(account: account, query: query).instances.first { Pods.namespace($0) == namespace }
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
                        [(Pods.row(pod, now: clock.now()), Pods.object(pod))], columns: Pods.columns,
                        revision: "\(pod.revision ?? 0)", include: try call.includeObject()))
            }
            return Self.respond(Pods.object(pod))
        case (.delete, 1, _):
            guard let namespace, let pod = try await findPod(name, namespace: namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.pods, name)
            }
            var grace = call.query["gracePeriodSeconds"].flatMap(Int.init)
            if grace == nil, let options = JSON.parse(try await call.body()), let n = options["gracePeriodSeconds"]?.int { grace = Int(n) }
            if let g = grace, g < 0 { throw KubernetesStatus.badRequest("gracePeriodSeconds must not be negative, not \(g)") }
            try await instances.delete(ids: [pod.id], account: call.account, grace: grace)
            let now = await (try? instances.get(id: pod.id, account: call.account)) ?? pod
            return Self.respond(Pods.object(now))
        case (.get, 2, "log"):
            guard let namespace, let pod = try await findPod(name, namespace: namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.pods, name)
            }
            return try await logs(call, pod: pod)
        case (_, 2, "exec"), (_, 2, "attach"):
            return try await refusedRemoteCommand(call, name: name, namespace: namespace ?? "", attach: sub == "attach")
        case (_, 2, "portforward"):
            throw KubernetesStatus.badRequest(
                "imc does not forward ports to a Pod yet (kubectl port-forward tunnels SPDY frames inside its WebSocket, which imc does not speak); reach the Pod by its address in its VPC, or run a command in it with kubectl exec"
            )
        case (.put, 1, _), (.patch, 1, _): return try await changePod(call, name: name, namespace: namespace)
        default: throw KubernetesStatus.pathNotFound(call.path)
        }
    }

    func listPods(_ call: Call, namespace: String?) async throws -> Response {
        let revision = try await caches.repository.revisions().current
        let selector = try Selector(call)
        let items = try await pods(call.account, namespace: namespace).filter { selector.isEmpty || selector.matches(Pods.json($0)) }
        if call.wantsTable {
            let now = clock.now()
            return Self.respond(
                Tables.table(
                    items.map { (Pods.row($0, now: now), Pods.object($0)) }, columns: Pods.columns, revision: "\(revision)",
                    include: try call.includeObject()))
        }
        return Self.respond(List.of(items.map(Pods.object), kind: "PodList", apiVersion: "v1", revision: revision))
    }

    func watchPods(_ call: Call, namespace: String?) async throws -> Response {
        guard let instances else { throw KubernetesStatus.pathNotFound(call.path) }
        let selector = try Selector(call)
        let start = try await watchStart(call)
        let now = clock.now()
        let initial =
            await start.fromNow
            ? try pods(call.account, namespace: namespace).map {
                WatchEvent(type: "ADDED", object: Pods.json($0), cells: Pods.row($0, now: now))
            }
            .filter { selector.matches($0.object) } : []
        let (repository, account, clock) = (instances.repository, call.account, self.clock)
        return try stream(call, start: start, initial: initial, columns: Pods.columns, kind: "Pod", apiVersion: "v1") { since in
            try await repository.changes(account: account, after: since).map { change in
                let object = Pods.json(change.value)
                guard namespace == nil || Pods.namespace(change.value) == namespace, selector.matches(object) else {
                    return (change.revision, nil)
                }
                return (
                    change.revision,
                    WatchEvent(type: change.kind.watchType, object: object, cells: Pods.row(change.value, now: clock.now()))
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
            throw Self.refusal(error, name: name)
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
        return Self.respond(Pods.object(made), code: 201, warnings: warnings)
    }

    /// A Pod the strict decoder or the Pod reader refused, as the API server answers: a field it
    /// does not know or of the wrong type is a 400 ("strict decoding error"), a value it does not
    /// take a 422 with the field as the cause.
    static func refusal(_ problem: DecodingProblem, of resource: Resource = Resource.pods, name: String) -> KubernetesStatus {
        let kind = resource.kind
        switch problem.kind {
        case .unknownField:
            return .badRequest(
                "\(kind) in version \"\(resource.version)\" cannot be handled as a \(kind): strict decoding error: unknown field \"\(problem.path)\""
            )
        case .wrongType, .unreadable:
            return .badRequest("\(kind) in version \"\(resource.version)\" cannot be handled as a \(kind): \(problem.message)")
        case .missing, .invalid:
            let field = problem.path.components.isEmpty ? "spec" : problem.path.description
            return KubernetesStatus.invalid(resource, name, causes: [(field, problem.message)])
        }
    }

    /// `kubectl logs`: a container's output (`container`, `tailLines`, `limitBytes`, `previous`,
    /// `sinceSeconds`, `sinceTime`, `timestamps`), and with `follow` what it writes next, until it
    /// ends.
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
        var request = LogRequest(container: container)
        request.previous = call.flag("previous")
        if request.previous {
            guard (pod.states[container]?.restartCount ?? 0) > 0 else {
                throw KubernetesStatus.badRequest("previous terminated container \"\(container)\" in pod \"\(pod.name)\" not found")
            }
        }
        func number(_ name: String, least: Int) throws -> Int? {
            guard let text = call.query[name] else { return nil }
            guard let n = Int(text), n >= least else {
                throw KubernetesStatus.badRequest("\(name) must be a whole number of at least \(least), not \"\(text.prefix(30))\"")
            }
            return n
        }
        request.tail = try number("tailLines", least: 0)
        request.limitBytes = try number("limitBytes", least: 1)
        request.timestamps = call.flag("timestamps")
        let sinceSeconds = try number("sinceSeconds", least: 1)
        if let sinceSeconds {
            request.since = Date().addingTimeInterval(-Double(min(sinceSeconds, 100 * 365 * 86400)))
        }
        if let text = call.query["sinceTime"] {
            guard sinceSeconds == nil else {
                throw KubernetesStatus.badRequest("at most one of sinceTime or sinceSeconds may be specified")
            }
            guard let date = Date(rfc3339: text) else {
                throw KubernetesStatus.badRequest("sinceTime \"\(text.prefix(40))\" is not an RFC 3339 time")
            }
            request.since = date
        }
        let (_, text) = try await mappedInstance { try await instances.logs(id: pod.id, account: call.account, request) }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        guard call.flag("follow") else {
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        let (id, account, interval) = (pod.id, call.account, watchInterval)
        var whole = request
        (whole.tail, whole.limitBytes) = (nil, nil)
        let following = whole
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
                let current = await (try? instances.logs(id: id, account: account, following).1) ?? ""
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
    static func events(of pod: Instance) -> [Event] {
        events(pod.events, of: Pods.json(pod), id: pod.id, namespace: Pods.namespace(pod), revision: pod.revision)
    }
}

/// No objects kept (a door serving ImageCaches only).
struct NoObjects: ObjectRepository {
    func insertObject(_ object: StoredObject, account: String) throws {}
    func object(account: String, kind: String, namespace: String, name: String) throws -> StoredObject? { nil }
    func objects(account: String, kind: String, namespace: String?) throws -> [StoredObject] { [] }
    func deleteObject(account: String, kind: String, namespace: String, name: String) throws -> Bool { false }
    func replaceObject(_ object: StoredObject, expected: Data, account: String) throws -> Bool { false }
}
