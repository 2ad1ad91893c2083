import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel
import IMCPods
import IMCStore

/// docker-registry Secrets (sealed at rest), and the credentials Pods and caches name by them.
extension KubernetesAPI {
    // MARK: - Secrets

    func secrets(_ call: Call, namespace: String?, rest: [String]) async throws -> Response {
        guard let objects else { throw KubernetesStatus.pathNotFound(call.path) }
        let name = rest.first ?? ""
        switch (call.method, rest.count) {
        case (.get, 0):
            let items = try await objects.objects(account: call.account, kind: "Secret", namespace: namespace).compactMap {
                try? JSONDecoder().decode(Secret.self, from: $0.data)
            }
            if call.wantsTable {
                let now = clock.now()
                let rows = items.map { item -> (cells: [TableCell], object: Secret) in
                    let created = item.metadata.creationTimestamp.flatMap(Date.init(rfc3339:)) ?? now
                    return (
                        [
                            .text(item.metadata.name ?? ""), .text(item.type ?? "Opaque"), .integer(Int64(item.data?.count ?? 0)),
                            .text(humanDuration(now.timeIntervalSince(created))),
                        ], item
                    )
                }
                let columns = [
                    TableColumnDefinition("Name", "Name", format: "name"), TableColumnDefinition("Type", "Type"),
                    TableColumnDefinition("Data", "Keys", type: "integer"), TableColumnDefinition("Age", "Age"),
                ]
                return Self.respond(Tables.table(rows, columns: columns, revision: "1", include: try call.includeObject()))
            }
            return Self.respond(List.of(items, kind: "SecretList", apiVersion: "v1", revision: 1))
        case (.get, 1):
            guard let namespace,
                let stored = try await objects.object(account: call.account, kind: "Secret", namespace: namespace, name: name),
                let object = try? JSONDecoder().decode(Secret.self, from: stored.data)
            else { throw KubernetesStatus.notFound(Resource.secrets, name) }
            return Self.respond(object)
        case (.post, 0):
            guard let namespace else { throw KubernetesStatus.notAllowed("create a secret in a namespace") }
            guard try await namespaceExists(namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.namespaces, namespace)
            }
            let body = try await call.object()
            let given = body["metadata"]?["name"]?.string ?? ""
            if let problem = Self.nameProblem(given) {
                throw KubernetesStatus.invalid(Resource.secrets, given, causes: [("metadata.name", problem)])
            }
            // Typed: a field a Secret has not is refused by its path.
            var secret: Secret
            do throws(DecodingProblem) { secret = try StrictDecoder().decode(Secret.self, from: body) } catch {
                throw Self.refusal(error, of: Resource.secrets, name: given)
            }
            // `stringData` is folded into `data`, base64, as the API server does.
            var data = secret.data ?? [:]
            for (k, v) in secret.stringData ?? [:] { data[k] = Data(v.utf8).base64EncodedString() }
            for (k, v) in data.sorted(by: { $0.key < $1.key }) where Data(base64Encoded: v) == nil {
                throw KubernetesStatus.invalid(Resource.secrets, given, causes: [("data[\(k)]", "Invalid value: not base64")])
            }
            if secret.type == "kubernetes.io/dockerconfigjson" {
                guard let config = data[".dockerconfigjson"].flatMap({ Data(base64Encoded: $0) }) else {
                    throw KubernetesStatus.invalid(
                        Resource.secrets, given, causes: [("data[.dockerconfigjson]", "Required value: a docker config JSON with auths")])
                }
                do { _ = try Self.dockerConfig(config) } catch {
                    throw KubernetesStatus.invalid(
                        Resource.secrets, given, causes: [("data[.dockerconfigjson]", "Invalid value: \(error.message)")])
                }
            }
            let uid = UUID().uuidString.lowercased()
            secret.data = data
            secret.stringData = nil
            secret.apiVersion = "v1"
            secret.kind = "Secret"
            secret.type = secret.type ?? "Opaque"
            secret.metadata.namespace = namespace
            secret.metadata.uid = uid
            secret.metadata.resourceVersion = "1"
            secret.metadata.creationTimestamp = timestamp(clock.now())
            let object = try JSONValueEncoder().encode(secret)
            do {
                try await objects.insertObject(
                    StoredObject(kind: "Secret", namespace: namespace, name: given, uid: uid, created: clock.now(), data: object.data),
                    account: call.account)
            } catch let e as StoreError where e.code == .duplicate {
                throw KubernetesStatus.alreadyExists(Resource.secrets, given)
            }
            return Self.respond(object, code: 201)
        case (.delete, 1):
            guard let namespace,
                let stored = try await objects.object(account: call.account, kind: "Secret", namespace: namespace, name: name)
            else { throw KubernetesStatus.notFound(Resource.secrets, name) }
            try await objects.deleteObject(account: call.account, kind: "Secret", namespace: namespace, name: name)
            return Self.respond((try? JSONDecoder().decode(Secret.self, from: stored.data)) ?? Secret(metadata: ObjectMeta(name: name)))
        default:
            throw KubernetesStatus.notAllowed("the server does not allow this method on secrets")
        }
    }

    /// The registry credentials of a `.dockerconfigjson`, read by the one reader of Docker's
    /// config (`RegistryConfig.parse`: an unknown field, or an entry without a credential, is a
    /// problem named by its path).
    static func dockerConfig(_ data: Data) throws(ModelError) -> [CacheCredential] {
        try RegistryConfig.parse(data, source: ".dockerconfigjson").credentials.map {
            CacheCredential(server: $0.server, username: $0.username, password: $0.password)
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
                let config = Data(base64Encoded: encoded), let credentials = try? Self.dockerConfig(config)
            else {
                missing.append(full)
                continue
            }
            found += credentials
        }
        return (found, missing)
    }
}
