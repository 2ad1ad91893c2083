import HTTPTypes
import Hummingbird
import IMCDoors

/// The door's routes, on Hummingbird router groups: one group per resource, each path a
/// pattern (`/k8s/api/v1/namespaces/{namespace}/pods/{name}`), so that the router matches the
/// request and the HTTP metrics and logs name the route. Every method is registered on every
/// pattern so that a verb a resource does not take is answered as the API server answers it (a
/// `Status` of 405), not by the router's bare 405; what no pattern matches is a `Status` of 404.
extension KubernetesAPI {
    static let methods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]

    public func addRoutes(to router: Router<DoorContext>) {
        let api = self
        router.get(RouterPath(Self.prefix + "/.well-known/imc-kubeconfig")) { _, _ in Self.respond(api.published.document) }
        // A client that joins a server-relative URL to the server's own path sends the prefix twice.
        for prefix in [Self.prefix, Self.prefix + Self.prefix] {
            let door = router.group(RouterPath(prefix))
            addDiscovery(to: door.group())
            addImageCaches(to: door.group("apis/eks.cloud.tencent.com/v1/imagecaches"))
            addCoreResources(to: door.group("api/v1"))
            on(door, "**") { call, _ in try api.unmatched(call) }
        }
    }

    /// Registers `handler` for every method on `path` of `group`, authenticated, with refusals as
    /// `Status` objects.
    func on(
        _ group: RouterGroup<DoorContext>, _ path: String,
        _ handler: @escaping @Sendable (Call, Parameters) async throws -> Response
    ) {
        let api = self
        for method in Self.methods {
            group.on(RouterPath(path), method: method) { request, context in
                await api.serve(request, context) { call in try await handler(call, context.parameters) }
            }
        }
    }

    /// `on` for what is only read: another method is answered as an unmatched path is.
    func onGet(
        _ group: RouterGroup<DoorContext>, _ path: String, _ handler: @escaping @Sendable (Call, Parameters) async throws -> Response
    ) {
        let api = self
        on(group, path) { call, parameters in
            guard call.method == .get else { return try api.unmatched(call) }
            return try await handler(call, parameters)
        }
    }

    func addDiscovery(to group: RouterGroup<DoorContext>) {
        onGet(group, "version") { _, _ in Self.respond(Discovery.version) }
        onGet(group, "api") { call, _ in Self.respond(Discovery.coreVersions(call.request.head.authority ?? "")) }
        onGet(group, "apis") { _, _ in Self.respond(Discovery.groups) }
        onGet(group, "api/v1") { _, _ in Self.respond(Discovery.resourceList("v1")) }
        // Each served group and version by name (the router does not fall back from a path's
        // constant prefix, `apis/eks.cloud.tencent.com/v1/imagecaches`, to a pattern).
        for groupVersion in Resource.byGroupVersion.keys.sorted() where groupVersion.contains("/") {
            let name = String(groupVersion.split(separator: "/")[0])
            onGet(group, "apis/\(groupVersion)") { _, _ in Self.respond(Discovery.resourceList(groupVersion)) }
            onGet(group, "apis/\(name)") { call, _ in
                guard let served = Discovery.group(name) else { throw KubernetesStatus.pathNotFound(call.path) }
                return Self.respond(served)
            }
        }
        let api = self
        onGet(group, "openapi/v3") { _, _ in Self.respond(api.openAPI.root) }
        onGet(group, "openapi/v3/**") { call, p in
            guard let doc = api.openAPI.documents[String(p.getCatchAll().joined(separator: "/"))] else {
                throw KubernetesStatus.pathNotFound(call.path)
            }
            return Self.respond(doc)
        }
        onGet(group, "openapi/v2") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = OpenAPIv2.mediaType
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIv2.document)))
        }
        onGet(group, "apis/apiextensions.k8s.io/v1/customresourcedefinitions") { _, _ in
            Self.respond(
                List.of([api.schema.crd], kind: "CustomResourceDefinitionList", apiVersion: "apiextensions.k8s.io/v1", revision: 1)
            )
        }
        onGet(group, "apis/apiextensions.k8s.io/v1/customresourcedefinitions/:name") { _, p in
            let name = p.get("name") ?? ""
            guard name == Resource.imageCaches.qualifiedName else {
                throw KubernetesStatus.notFound(Resource.customResourceDefinitions, name)
            }
            return Self.respond(api.schema.crd)
        }
    }

    func addImageCaches(to group: RouterGroup<DoorContext>) {
        let api = self
        on(group, "") { call, _ in try await api.imageCaches(call, rest: []) }
        on(group, ":name") { call, p in try await api.imageCaches(call, rest: [p.get("name") ?? ""]) }
        on(group, ":name/:subresource") { call, p in
            try await api.imageCaches(call, rest: [p.get("name") ?? "", p.get("subresource") ?? ""])
        }
    }

    /// Namespaces, and what lives in them: Pods, Secrets, ConfigMaps, Events.
    func addCoreResources(to group: RouterGroup<DoorContext>) {
        let api = self
        onGet(group, "events") { call, _ in try await api.events(call, namespace: nil) }
        onGet(group, "pods") { call, _ in try await api.podsRoute(call, namespace: nil, rest: []) }
        onGet(group, "secrets") { call, _ in try await api.secrets(call, namespace: nil, rest: []) }
        onGet(group, "configmaps") { call, _ in try await api.configMaps(call, namespace: nil, rest: []) }
        on(group, "namespaces") { call, _ in try await api.namespaces(call, rest: []) }
        on(group, "namespaces/:namespace") { call, p in try await api.namespaces(call, rest: [p.get("namespace") ?? ""]) }
        let namespaced = group.group("namespaces/:namespace")
        onGet(namespaced, "events") { call, p in try await api.events(call, namespace: p.get("namespace")) }
        for path in ["pods", "pods/:name", "pods/:name/:subresource"] {
            on(namespaced, path) { call, p in
                let namespace = p.get("namespace") ?? ""
                guard try await api.namespaceExists(namespace, call.account) else {
                    throw KubernetesStatus.notFound(Resource.namespaces, namespace)
                }
                return try await api.podsRoute(call, namespace: namespace, rest: Self.rest(p))
            }
        }
        for path in ["secrets", "secrets/:name", "secrets/:name/:subresource"] {
            on(namespaced, path) { call, p in try await api.secrets(call, namespace: p.get("namespace"), rest: Self.rest(p)) }
        }
        for path in ["configmaps", "configmaps/:name"] {
            on(namespaced, path) { call, p in try await api.configMaps(call, namespace: p.get("namespace"), rest: Self.rest(p)) }
        }
    }

    /// The object's name and subresource a pattern matched, as the handlers take them.
    static func rest(_ p: Parameters) -> [String] { [p.get("name"), p.get("subresource")].compactMap { $0 } }

    /// A path no pattern matched: a resource's path with a verb it does not take is 405, anything
    /// else 404, as the API server answers.
    func unmatched(_ call: Call) throws -> Response {
        let parts = call.path.split(separator: "/").map(String.init)
        if call.method != .get, Discovery.knownPath(parts) { throw KubernetesStatus.methodNotAllowed(call) }
        throw KubernetesStatus.pathNotFound(call.path)
    }

    /// One request: authenticated, handled, and any refusal turned into a `Status`.
    func serve(_ request: Request, _ context: DoorContext, _ handler: (Call) async throws -> Response) async -> Response {
        do {
            return try await handler(try call(request, context))
        } catch let status as KubernetesStatus {
            return Self.respond(status.object, code: status.code)
        } catch {
            context.logger.error("kubernetes request failed", metadata: ["error": "\(error)"])
            return Self.respond(KubernetesStatus.internalError().object, code: 500)
        }
    }
}

extension KubernetesAPI {
    /// What `request` asks, from the account its token names.
    func call(_ request: Request, _ context: DoorContext) throws(KubernetesStatus) -> Call {
        guard let account = authenticate(request) else { throw KubernetesStatus.unauthorized }
        var path = String(request.uri.path.dropFirst(Self.prefix.count))
        if path.hasPrefix(Self.prefix + "/") { path = String(path.dropFirst(Self.prefix.count)) }
        return Call(
            account: account, method: request.method, path: path, query: Self.query(request.uri.query ?? ""),
            accept: request.headers[.accept] ?? "", contentType: request.headers[.contentType] ?? "", request: request,
            context: context)
    }
}

extension KubernetesStatus {
    /// A verb the resource does not take.
    static func methodNotAllowed(_ call: KubernetesAPI.Call) -> KubernetesStatus {
        .notAllowed("the server does not allow this method on the requested resource (\(call.method.rawValue) \(call.path.prefix(120)))")
    }
}
