import Crypto
import Foundation

/// OpenAPI v3 documents of the served group versions: what `kubectl explain` reads, and how
/// kubectl learns that this server validates fields itself (`fieldValidation` on its PATCH), so
/// that it sends `fieldValidation=Strict` instead of validating against an OpenAPI v2 document.
enum OpenAPI {
    static let objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    static let listMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
    static let patch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
    static let status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    static let imageCache = "com.tencent.cloud.eks.v1.ImageCache"
    static let imageCacheList = "com.tencent.cloud.eks.v1.ImageCacheList"

    static func string(_ description: String) -> JSON { ["type": "string", "description": .string(description)] }
    static func integer(_ description: String, minimum: Int64? = nil, maximum: Int64? = nil) -> JSON {
        var s: JSON = ["type": "integer", "format": "int64", "description": .string(description)]
        if let minimum { s["minimum"] = .int(minimum) }
        if let maximum { s["maximum"] = .int(maximum) }
        return s
    }
    static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }

    static func gvk(_ group: String, _ version: String, _ kind: String) -> JSON {
        ["group": .string(group), "version": .string(version), "kind": .string(kind)]
    }

    static func query(_ name: String, _ description: String) -> JSON {
        ["name": .string(name), "in": "query", "description": .string(description), "schema": ["type": "string", "uniqueItems": true]]
    }

    static let writeParameters: [JSON] = [
        query("dryRun", "When present (All), the change is checked and not persisted."),
        query("fieldManager", "A name for the actor making the change."),
        query("fieldValidation", "Ignore, Warn (the default) or Strict: what an unknown field does."),
    ]

    static func operation(
        _ action: String, _ id: String, _ description: String, gvk: JSON, response: JSON, parameters: [JSON] = [], body: JSON? = nil
    ) -> JSON {
        var op: JSON = [
            "description": .string(description), "operationId": .string(id), "tags": ["eksCloudTencentCom_v1"],
            "responses": ["200": ["description": "OK", "content": ["application/json": ["schema": response]]]],
            "x-kubernetes-action": .string(action), "x-kubernetes-group-version-kind": gvk,
        ]
        if !parameters.isEmpty { op["parameters"] = .array(parameters) }
        if let body { op["requestBody"] = body }
        return op
    }

    static func imageCacheDocument(_ imageCacheSchema: JSON) -> JSON {
        let g = gvk("eks.cloud.tencent.com", "v1", "ImageCache")
        let base = "/apis/eks.cloud.tencent.com/v1/imagecaches"
        let object = ref(imageCache)
        let jsonBody: JSON = ["required": true, "content": ["application/json": ["schema": object]]]
        let patchSchema: JSON = ["schema": ref(patch)]
        let patchBody: JSON = [
            "required": true,
            "content": [
                "application/apply-patch+yaml": patchSchema, "application/json-patch+json": patchSchema,
                "application/merge-patch+json": patchSchema,
            ],
        ]
        var schema = imageCacheSchema
        schema["properties"]?["metadata"] = ["allOf": [ref(objectMeta)], "description": "Standard object's metadata."]
        schema["x-kubernetes-group-version-kind"] = [g]
        return [
            "openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.33.0"],
            "paths": [
                base: [
                    "get": operation(
                        "list", "listEksCloudTencentComV1ImageCache", "list or watch objects of kind ImageCache", gvk: g,
                        response: ref(imageCacheList),
                        parameters: [
                            query("fieldSelector", "Restricts the objects by their fields."),
                            query("labelSelector", "Restricts the objects by their labels."),
                            query("resourceVersion", "Where a watch starts."), query("watch", "Watch for changes."),
                            query("allowWatchBookmarks", "Bookmarks in a watch."), query("timeoutSeconds", "How long a watch lasts."),
                        ]),
                    "post": operation(
                        "post", "createEksCloudTencentComV1ImageCache", "create an ImageCache", gvk: g, response: object,
                        parameters: writeParameters, body: jsonBody),
                ],
                base + "/{name}": [
                    "parameters": [
                        [
                            "name": "name", "in": "path", "required": true, "description": "name of the ImageCache",
                            "schema": ["type": "string"],
                        ]
                    ],
                    "get": operation(
                        "get", "readEksCloudTencentComV1ImageCache", "read the specified ImageCache", gvk: g, response: object),
                    "put": operation(
                        "put", "replaceEksCloudTencentComV1ImageCache", "replace the specified ImageCache", gvk: g, response: object,
                        parameters: writeParameters, body: jsonBody),
                    "patch": operation(
                        "patch", "patchEksCloudTencentComV1ImageCache", "partially update the specified ImageCache", gvk: g,
                        response: object,
                        parameters: writeParameters + [query("force", "Server-side apply: take fields other managers own.")],
                        body: patchBody),
                    "delete": operation(
                        "delete", "deleteEksCloudTencentComV1ImageCache", "delete an ImageCache", gvk: g, response: object,
                        parameters: [query("dryRun", "When present (All), nothing is deleted.")]),
                ],
                base + "/{name}/status": [
                    "get": operation(
                        "get", "readEksCloudTencentComV1ImageCacheStatus", "read status of the specified ImageCache", gvk: g,
                        response: object)
                ],
            ],
            "components": [
                "schemas": .object([
                    imageCache: schema,
                    imageCacheList: [
                        "type": "object", "description": "ImageCacheList is a list of ImageCache", "required": ["items"],
                        "properties": [
                            "apiVersion": string("APIVersion of the list."), "kind": string("Kind of the list."),
                            "metadata": ["allOf": [ref(listMeta)]], "items": ["type": "array", "items": object],
                        ],
                        "x-kubernetes-group-version-kind": [gvk("eks.cloud.tencent.com", "v1", "ImageCacheList")],
                    ],
                    objectMeta: objectMetaSchema, listMeta: listMetaSchema,
                    patch: [
                        "type": "object",
                        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
                    ],
                ])
            ],
        ]
    }

    static var objectMetaSchema: JSON {
        [
            "type": "object",
            "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
            "properties": [
                "name": string("Name must be unique within a namespace (here: the account)."),
                "namespace": string("Namespace of the object; empty for cluster-scoped ones."),
                "uid": string("UID is the unique in time and space value for this object."),
                "resourceVersion": string("An opaque value that represents the internal version of this object."),
                "generation": integer("A sequence number representing a specific generation of the desired state."),
                "creationTimestamp": string("When the object was created (RFC 3339)."),
                "labels": ["type": "object", "additionalProperties": ["type": "string"], "description": "Map of string keys and values."],
                "annotations": [
                    "type": "object", "additionalProperties": ["type": "string"], "description": "Unstructured key value map.",
                ],
            ],
        ]
    }

    static var listMetaSchema: JSON {
        [
            "type": "object", "description": "ListMeta describes metadata that synthetic resources must have.",
            "properties": ["resourceVersion": string("The version of the list."), "continue": string("Where the next page starts.")],
        ]
    }

    /// A small core/v1 document: namespaces and events, which this door serves read-only.
    static var coreDocument: JSON {
        var paths: [String: JSON] = [:]
        for (path, kind) in [("/api/v1/namespaces", "Namespace"), ("/api/v1/events", "Event")] {
            let g = gvk("", "v1", kind)
            paths[path] = [
                "get": operation("list", "listCoreV1\(kind)", "list objects of kind \(kind)", gvk: g, response: ["type": "object"])
            ]
        }
        return [
            "openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.33.0"], "paths": .object(paths),
            "components": ["schemas": [:]],
        ]
    }

    static var crdDocument: JSON {
        let g = gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
        return [
            "openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.33.0"],
            "paths": [
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}": [
                    "get": operation(
                        "get", "readApiextensionsV1CustomResourceDefinition", "read a CustomResourceDefinition", gvk: g,
                        response: ["type": "object"])
                ]
            ],
            "components": ["schemas": [:]],
        ]
    }

}

/// The OpenAPI v3 documents the door serves, built once when it starts (the ImageCache's
/// schema carries the configuration's limits), and `/openapi/v3`'s index of them.
struct OpenAPIDocuments: Sendable {
    let documents: [String: JSON]
    /// Where each group version's document is, with a hash of its content.
    let root: JSON

    init(_ schema: ImageCacheSchema) {
        documents = [
            "apis/eks.cloud.tencent.com/v1": OpenAPI.imageCacheDocument(schema.objectSchema), "api/v1": OpenAPI.coreDocument,
            "apis/apiextensions.k8s.io/v1": OpenAPI.crdDocument,
        ]
        var paths: [String: JSON] = [:]
        for (key, document) in documents {
            let hash = SHA256.hash(data: document.data).prefix(8).map { String(format: "%02X", $0) }.joined()
            paths[key] = ["serverRelativeURL": .string("\(KubernetesAPI.prefix)/openapi/v3/\(key)?hash=\(hash)")]
        }
        root = ["paths": .object(paths)]
    }
}
