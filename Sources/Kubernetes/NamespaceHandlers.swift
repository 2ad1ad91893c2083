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

/// Namespaces: the built-in ones every account has, and those `kubectl create namespace` makes.
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
                try? JSONDecoder().decode(Namespace.self, from: $0.data)
            }
            let items = Namespaces.all.map(Namespaces.object) + stored
            if call.wantsTable {
                let now = clock.now()
                let rows = items.map { item -> (cells: [TableCell], object: Namespace) in
                    let created = item.metadata.creationTimestamp.flatMap(Date.init(rfc3339:)) ?? now
                    return ([.text(item.metadata.name ?? ""), "Active", .text(humanDuration(now.timeIntervalSince(created)))], item)
                }
                let columns = [
                    TableColumnDefinition("Name", "Name", format: "name"), TableColumnDefinition("Status", "Phase"),
                    TableColumnDefinition("Age", "Age"),
                ]
                return Self.respond(Tables.table(rows, columns: columns, revision: "1", include: try call.includeObject()))
            }
            return Self.respond(List.of(items, kind: "NamespaceList", apiVersion: "v1", revision: 1))
        case (.get, 1):
            if Namespaces.all.contains(name) { return Self.respond(Namespaces.object(name)) }
            guard let stored = try await objects.object(account: call.account, kind: "Namespace", namespace: "", name: name),
                let object = try? JSONDecoder().decode(Namespace.self, from: stored.data)
            else { throw KubernetesStatus.notFound(Resource.namespaces, name) }
            return Self.respond(object)
        case (.post, 0):
            let body = try await call.object()
            let given = body["metadata"]?["name"]?.string ?? ""
            if let problem = Self.labelProblem(given) {
                throw KubernetesStatus.invalid(Resource.namespaces, given, causes: [("metadata.name", problem)])
            }
            if Namespaces.all.contains(given) { throw KubernetesStatus.alreadyExists(Resource.namespaces, given) }
            // Typed, as a Pod is: a field a Namespace does not have is refused by its path; its
            // labels and annotations are kept.
            let namespace: Namespace
            do throws(DecodingProblem) { namespace = try StrictDecoder().decode(Namespace.self, from: body) } catch {
                throw Self.refusal(error, of: Resource.namespaces, name: given)
            }
            let uid = UUID().uuidString.lowercased()
            let object = Namespaces.object(
                name: given, uid: uid, created: timestamp(clock.now()), labels: namespace.metadata.labels ?? [:],
                annotations: namespace.metadata.annotations ?? [:])
            do {
                try await objects.insertObject(
                    StoredObject(
                        kind: "Namespace", namespace: "", name: given, uid: uid, created: clock.now(),
                        data: ((try? JSONValueEncoder().encode(object)) ?? [:]).data),
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
            for kind in ["Secret", Self.configMapKind] {
                for object in try await objects.objects(account: call.account, kind: kind, namespace: name) {
                    try await objects.deleteObject(account: call.account, kind: kind, namespace: name, name: object.name)
                }
            }
            try await objects.deleteObject(account: call.account, kind: "Namespace", namespace: "", name: name)
            var object = (try? JSONDecoder().decode(Namespace.self, from: stored.data)) ?? Namespace(metadata: ObjectMeta(name: name))
            object.status = NamespaceStatus(phase: "Terminating")
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
}
