import Foundation
import IMCCaches
import IMCDocuments
import IMCModel

/// The ImageCache's one schema: the CustomResourceDefinition below, as the imc-operator add-on
/// installs it. The CRD the door serves, the OpenAPI v3 document (and so `kubectl explain`), the
/// door's validation of every object written and the resource's names in discovery all come
/// from it; the size and retention limits in it are the service's configuration's
/// (`limits:`), so kubectl is told, and the door enforces, what the service takes.
struct ImageCacheSchema: Sendable {
    /// The definition, shipped with imc; `minimum` and `maximum` of the limits are replaced by
    /// the configuration's when the door starts.
    static let definition = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: imagecaches.eks.cloud.tencent.com
        spec:
          group: eks.cloud.tencent.com
          scope: Cluster
          names:
            plural: imagecaches
            singular: imagecache
            kind: ImageCache
            listKind: ImageCacheList
            shortNames: [imc]
            categories: [all]
          versions:
          - name: v1
            served: true
            storage: true
            subresources: {status: {}}
            additionalPrinterColumns:
            - {name: Size, type: integer, jsonPath: .spec.imageCacheSize}
            - {name: ID, type: string, jsonPath: .status.imcId}
            - {name: Phase, type: string, jsonPath: .status.imcPhase}
            - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
            schema:
              openAPIV3Schema:
                type: object
                description: ImageCache is a disk snapshot holding container images, pulled and unpacked once, from which instances start without pulling (imc-operator's custom resource).
                required: [spec]
                properties:
                  apiVersion: {type: string, description: APIVersion defines the versioned schema of this representation of an object.}
                  kind: {type: string, description: Kind is a string value representing the REST resource this object represents.}
                  metadata: {type: object, description: Standard object's metadata. The name is the cache's ImageCacheName.}
                  spec:
                    type: object
                    description: What the cache holds and how it is kept.
                    required: [images]
                    properties:
                      images:
                        type: array
                        minItems: 1
                        maxItems: 100
                        description: Images to pull into the cache, as references (nginx, registry/repo:tag, repo@sha256:...).
                        items: {type: string, format: image-reference}
                      imageCacheSize:
                        type: integer
                        format: int64
                        minimum: 20
                        maximum: 2048
                        description: Size of the cache disk in GiB (default 20).
                      retentionDays:
                        type: integer
                        format: int64
                        minimum: 0
                        maximum: 3650
                        description: Days the cache is kept; 0 keeps it until it is deleted.
                      refreshIntervalMinutes:
                        type: integer
                        format: int64
                        minimum: 0
                        maximum: 525600
                        description: "imc: check the images' tags every this many minutes and rebuild when one moved; 0 never."
                      platform:
                        type: string
                        pattern: '^[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?$'
                        description: "imc: the platform the images are cached for (linux/amd64, linux/arm64); fixed at creation."
                      imagePullSecrets:
                        type: array
                        description: Secrets of type kubernetes.io/dockerconfigjson, as namespace/name, to pull the images with.
                        items: {type: string, pattern: '^[^/]+/[^/]+$'}
                  status:
                    type: object
                    description: What imc made of the spec (written by imc only).
                    properties:
                      imcId: {type: string, description: The image cache's id (imc-xxxxxxxx).}
                      imcPhase: {type: string, description: Pending, Ready, Failed, Updating or UpdateFailed.}
                      snapshotId: {type: string, description: The snapshot that serves instances.}
                      progress: {type: integer, format: int64, description: How far the current build has come, 0-100.}
                      observedGeneration: {type: integer, format: int64, description: The generation of the spec the status is about.}
                      lastMatchedTime: {type: string, description: When an instance last used the cache.}
                      expireTime: {type: string, description: When the cache's retention ends.}
                      conditions:
                        type: array
                        description: Ready (built) and Serving (a snapshot serves instances).
                        items:
                          type: object
                          properties:
                            type: {type: string, description: Ready or Serving.}
                            status: {type: string, description: True, False or Unknown.}
                            reason: {type: string, description: Why, in a word.}
                            message: {type: string, description: Why, for a person.}
                            lastTransitionTime: {type: string, description: When the condition last changed.}
        """

    /// The definition as shipped.
    static let shipped: JSON = {
        guard let parsed = try? JSON.parseYAML(definition) else { fatalError("ImageCacheSchema.definition is not YAML") }
        return parsed
    }()

    /// The CRD, with the configuration's limits.
    let definition: JSON

    init(limits: CacheLimits = CacheLimits()) {
        var crd = Self.shipped
        func set(_ field: String, _ key: String, _ value: Int) {
            crd["spec"]?["versions"]?[0]?["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]?["properties"]?[field]?[key] = .int(
                Int64(value))
        }
        set("imageCacheSize", "minimum", limits.minimumSize)
        set("imageCacheSize", "maximum", limits.maximumSize)
        crd["spec"]?["versions"]?[0]?["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]?["properties"]?["imageCacheSize"]?[
            "description"] = .string("Size of the cache disk in GiB (default \(limits.defaultSize)).")
        set("retentionDays", "maximum", limits.maximumRetentionDays)
        set("images", "maxItems", limits.maximumImages)
        definition = crd
    }

    /// The object's schema (`openAPIV3Schema`).
    var objectSchema: JSON { definition["spec"]?["versions"]?[0]?["schema"]?["openAPIV3Schema"] ?? [:] }

    /// The CRD as the API server serves it: with its server-written metadata and status.
    var crd: JSON {
        var crd = definition
        let name = crd["metadata"]?["name"]?.string ?? ""
        crd["metadata"]?["uid"] = .string(ImageCaches.uid("crd/" + name))
        crd["metadata"]?["resourceVersion"] = "1"
        crd["metadata"]?["generation"] = 1
        crd["metadata"]?["creationTimestamp"] = "2026-01-01T00:00:00Z"
        let names = crd["spec"]?["names"] ?? [:]
        crd["status"] = [
            "acceptedNames": ["plural": names["plural"] ?? "", "singular": names["singular"] ?? "", "kind": names["kind"] ?? ""],
            "storedVersions": ["v1"],
            "conditions": [
                [
                    "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                ]
            ],
        ]
        return crd
    }

    /// `spec` checked against the schema: each problem with its field path; the fields the
    /// schema does not have are gathered in `unknown` (refused or warned about by the caller, as
    /// `fieldValidation` says).
    func check(spec: JSON?, unknown: inout [String]) -> FieldErrors {
        var errors = FieldErrors()
        guard let spec, spec != .null else {
            errors.add("spec", "Required value: an ImageCache needs a spec with images")
            return errors
        }
        Self.check(spec, against: objectSchema["properties"]?["spec"] ?? [:], at: "spec", errors: &errors, unknown: &unknown)
        return errors
    }

    /// The structural schema's rules: type, required, properties (others are unknown), items,
    /// minItems and maxItems, minimum and maximum, pattern, and the `image-reference` format.
    static func check(_ value: JSON, against schema: JSON, at path: String, errors: inout FieldErrors, unknown: inout [String]) {
        if value == .null { return }
        switch schema["type"]?.string {
        case "object":
            guard let object = value.object else { return errors.add(path, "Invalid value: must be an object") }
            let properties = schema["properties"]?.object ?? [:]
            for required in schema["required"]?.array?.compactMap(\.string) ?? [] where object[required] == nil {
                errors.add("\(path).\(required)", "Required value")
            }
            for (key, field) in object.sorted(by: { $0.key < $1.key }) {
                guard let fieldSchema = properties[key] else {
                    unknown.append("\(path).\(key)")
                    continue
                }
                check(field, against: fieldSchema, at: "\(path).\(key)", errors: &errors, unknown: &unknown)
            }
        case "array":
            guard let items = value.array else { return errors.add(path, "Invalid value: must be a list") }
            if let least = schema["minItems"]?.int, items.count < least {
                errors.add(path, least == 1 ? "Required value: at least one item" : "Invalid value: must have at least \(least) items")
            }
            if let most = schema["maxItems"]?.int, items.count > most {
                errors.add(path, "Too many: \(items.count): must have at most \(most) items")
            }
            for (i, item) in items.enumerated() {
                check(item, against: schema["items"] ?? [:], at: "\(path)[\(i)]", errors: &errors, unknown: &unknown)
            }
        case "integer":
            let shown = String(decoding: value.data, as: UTF8.self).prefix(40)
            guard let n = value.int else { return errors.add(path, "Invalid value: \(shown): must be an integer") }
            let low = schema["minimum"]?.int
            let high = schema["maximum"]?.int
            if (low.map { n < $0 } ?? false) || (high.map { n > $0 } ?? false) {
                errors.add(
                    path,
                    "Invalid value: \(shown): must be an integer from \(low.map(String.init) ?? "any") to \(high.map(String.init) ?? "any")"
                )
            }
        case "string":
            guard let text = value.string else { return errors.add(path, "Invalid value: must be a string") }
            if let pattern = schema["pattern"]?.string, text.range(of: pattern, options: .regularExpression) == nil {
                errors.add(path, "Invalid value: \"\(text.prefix(200))\": must match \(pattern)")
            }
            if schema["format"]?.string == "image-reference" {
                do { _ = try ImageReference(parsing: text) } catch {
                    errors.add(path, "Invalid value: \"\(text.prefix(200))\": \(error.message)")
                }
            }
        default: break
        }
    }
}

extension Resource {
    /// A custom resource as its definition names it.
    init(definition crd: JSON, verbs: [String], subresources: [(name: String, kind: String, verbs: [String])]) {
        let names = crd["spec"]?["names"] ?? [:]
        self.init(
            group: crd["spec"]?["group"]?.string ?? "", version: crd["spec"]?["versions"]?[0]?["name"]?.string ?? "v1",
            name: names["plural"]?.string ?? "", singular: names["singular"]?.string ?? "", kind: names["kind"]?.string ?? "",
            namespaced: crd["spec"]?["scope"]?.string == "Namespaced", shortNames: names["shortNames"]?.array?.compactMap(\.string) ?? [],
            verbs: verbs, subresources: subresources, categories: names["categories"]?.array?.compactMap(\.string) ?? [])
    }
}
