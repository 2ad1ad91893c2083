import Foundation

/// A refusal in Kubernetes' terms: a `metav1.Status` with its HTTP code and reason, so that
/// kubectl and client libraries print their usual lines ("Error from server (NotFound): ...").
public struct KubernetesStatus: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: JSON?

    public init(code: Int, reason: String, message: String, details: JSON? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public var description: String { "\(reason): \(message)" }

    public var object: JSON {
        var status: JSON = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure", "message": .string(message),
            "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if let details { status["details"] = details }
        return status
    }

    static func notFound(_ resource: Resource, _ name: String) -> KubernetesStatus {
        KubernetesStatus(
            code: 404, reason: "NotFound", message: "\(resource.qualifiedName) \"\(name)\" not found",
            details: ["name": .string(name), "group": .string(resource.group), "kind": .string(resource.name)])
    }

    static func alreadyExists(_ resource: Resource, _ name: String) -> KubernetesStatus {
        KubernetesStatus(
            code: 409, reason: "AlreadyExists", message: "\(resource.qualifiedName) \"\(name)\" already exists",
            details: ["name": .string(name), "group": .string(resource.group), "kind": .string(resource.name)])
    }

    static func conflict(_ resource: Resource, _ name: String, _ why: String) -> KubernetesStatus {
        KubernetesStatus(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(resource.qualifiedName) \"\(name)\": \(why)",
            details: ["name": .string(name), "group": .string(resource.group), "kind": .string(resource.name)])
    }

    /// An object that does not validate: each cause names its field.
    static func invalid(_ resource: Resource, _ name: String, causes: [(field: String, message: String)]) -> KubernetesStatus {
        let listed = causes.map { "\($0.field): \($0.message)" }.joined(separator: ", ")
        let many = causes.count > 1 ? "[\(listed)]" : listed
        return KubernetesStatus(
            code: 422, reason: "Invalid", message: "\(resource.kind).\(resource.group) \"\(name)\" is invalid: \(many)",
            details: [
                "name": .string(name), "group": .string(resource.group), "kind": .string(resource.kind),
                "causes": .array(
                    causes.map { ["reason": "FieldValueInvalid", "message": .string($0.message), "field": .string($0.field)] }),
            ])
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
