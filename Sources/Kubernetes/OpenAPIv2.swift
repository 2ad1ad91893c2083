import Foundation
import IMCKubernetesProtobuf

/// The OpenAPI v2 document older kubectl (1.27) downloads before applying, in the protobuf form
/// it asks for (gnostic's `openapi_v2.Document`). It holds only what kubectl reads from it: for
/// each served kind, a PATCH operation tagged with its group-version-kind that takes the
/// `fieldValidation` query parameter, which tells kubectl that this server validates fields
/// itself (then it sends `fieldValidation=Strict` and validates nothing on its side).
enum OpenAPIv2 {
    /// Served as plain bytes: Go's media-type parser refuses the `@` of the type kubectl asks for.
    static let mediaType = "application/octet-stream"

    /// A query parameter of an operation.
    static func queryParameter(_ name: String, _ description: String) -> Openapi_V2_ParametersItem {
        var query = Openapi_V2_QueryParameterSubSchema()
        query.in = "query"
        query.description_p = description
        query.name = name
        query.type = "string"
        var nonBody = Openapi_V2_NonBodyParameter()
        nonBody.queryParameterSubSchema = query
        var parameter = Openapi_V2_Parameter()
        parameter.nonBodyParameter = nonBody
        var item = Openapi_V2_ParametersItem()
        item.parameter = parameter
        return item
    }

    /// A vendor extension: its name and its value as YAML.
    static func vendorExtension(_ name: String, yaml: String) -> Openapi_V2_NamedAny {
        var entry = Openapi_V2_NamedAny()
        entry.name = name
        entry.value.yaml = yaml
        return entry
    }

    /// A PATCH operation of `kind`: its parameters and the `x-kubernetes-group-version-kind`
    /// and `x-kubernetes-action` vendor extensions.
    static func patchOperation(group: String, version: String, kind: String) -> Openapi_V2_Operation {
        var operation = Openapi_V2_Operation()
        operation.description_p = "partially update the specified \(kind)"
        operation.operationID = "patch\(kind)"
        operation.consumes = ["application/merge-patch+json", "application/apply-patch+yaml"]
        operation.parameters = [
            ("dryRun", "When present (All), the change is checked and not persisted."),
            ("fieldManager", "A name for the actor making the change."),
            ("fieldValidation", "Ignore, Warn (the default) or Strict: what an unknown field does."),
            ("force", "Server-side apply: take fields other managers own."),
        ].map(queryParameter)
        operation.vendorExtension = [
            vendorExtension("x-kubernetes-group-version-kind", yaml: "group: \"\(group)\"\nkind: \(kind)\nversion: \(version)\n"),
            vendorExtension("x-kubernetes-action", yaml: "patch\n"),
        ]
        return operation
    }

    static let document: [UInt8] = {
        let entries: [(path: String, group: String, version: String, kind: String)] = [
            ("/apis/eks.cloud.tencent.com/v1/imagecaches/{name}", "eks.cloud.tencent.com", "v1", "ImageCache"),
            ("/api/v1/namespaces/{name}", "", "v1", "Namespace"),
        ]
        var document = Openapi_V2_Document()
        document.swagger = "2.0"
        document.info.title = "Kubernetes"
        document.info.version = "v1.33.0"
        document.paths.path = entries.map { e in
            var item = Openapi_V2_NamedPathItem()
            item.name = e.path
            item.value.patch = patchOperation(group: e.group, version: e.version, kind: e.kind)
            return item
        }
        // Serializing a message of set fields cannot fail.
        return (try? document.serializedBytes()) ?? []
    }()
}
