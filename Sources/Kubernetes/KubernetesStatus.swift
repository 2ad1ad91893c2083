import Foundation
import IMCDocuments
import IMCKubernetesModels

/// A refusal in Kubernetes' terms: a `Status` (metav1.Status, typed in `IMCKubernetesModels`)
/// with its HTTP code and reason, so that kubectl and client libraries print their usual lines
/// ("Error from server (NotFound): ...").
public struct KubernetesStatus: Error, Sendable, CustomStringConvertible {
    public var status: Status

    public init(code: Int, reason: String, message: String, details: StatusDetails? = nil) {
        status = Status(code: code, reason: reason, message: message, details: details)
    }

    public var code: Int { status.code }
    public var reason: String { status.reason }
    public var message: String { status.message }
    public var description: String { "\(reason): \(message)" }

    /// The status as the body of the answer.
    public var object: JSON {
        (try? JSONValueEncoder().encode(status)) ?? ["kind": "Status", "apiVersion": "v1", "status": "Failure", "code": .int(Int64(code))]
    }

    static func about(_ resource: Resource, _ name: String) -> StatusDetails {
        StatusDetails(name: name, group: resource.group, kind: resource.name)
    }

    static func notFound(_ resource: Resource, _ name: String) -> KubernetesStatus {
        KubernetesStatus(
            code: 404, reason: "NotFound", message: "\(resource.qualifiedName) \"\(name)\" not found", details: about(resource, name))
    }

    static func alreadyExists(_ resource: Resource, _ name: String) -> KubernetesStatus {
        KubernetesStatus(
            code: 409, reason: "AlreadyExists", message: "\(resource.qualifiedName) \"\(name)\" already exists",
            details: about(resource, name))
    }

    static func conflict(_ resource: Resource, _ name: String, _ why: String) -> KubernetesStatus {
        KubernetesStatus(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(resource.qualifiedName) \"\(name)\": \(why)", details: about(resource, name))
    }

    /// An object that does not validate: each cause names its field.
    static func invalid(_ resource: Resource, _ name: String, causes: [(field: String, message: String)]) -> KubernetesStatus {
        let listed = causes.map { "\($0.field): \($0.message)" }.joined(separator: ", ")
        let many = causes.count > 1 ? "[\(listed)]" : listed
        return KubernetesStatus(
            code: 422, reason: "Invalid", message: "\(resource.kind).\(resource.group) \"\(name)\" is invalid: \(many)",
            details: StatusDetails(
                name: name, group: resource.group, kind: resource.kind,
                causes: causes.map { StatusCause(message: $0.message, field: $0.field) }))
    }

    static func badRequest(_ message: String) -> KubernetesStatus { KubernetesStatus(code: 400, reason: "BadRequest", message: message) }
    static let unauthorized = KubernetesStatus(code: 401, reason: "Unauthorized", message: "Unauthorized")
    static func notAllowed(_ message: String) -> KubernetesStatus {
        KubernetesStatus(code: 405, reason: "MethodNotAllowed", message: message)
    }
    static func gone(_ message: String) -> KubernetesStatus { KubernetesStatus(code: 410, reason: "Expired", message: message) }
    static func unsupportedMedia(_ type: String) -> KubernetesStatus {
        KubernetesStatus(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format: \(type)")
    }
    static func pathNotFound(_ path: String) -> KubernetesStatus {
        KubernetesStatus(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(path.prefix(200)))")
    }
    static func internalError() -> KubernetesStatus {
        KubernetesStatus(code: 500, reason: "InternalError", message: "the server failed to handle the request; it was logged")
    }
}
