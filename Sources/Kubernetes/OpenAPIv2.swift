import Foundation

/// The OpenAPI v2 document older kubectl (1.27) downloads before applying, in the protobuf form
/// it asks for (gnostic's `openapi_v2.Document`). It holds only what kubectl reads from it: for
/// each served kind, a PATCH operation tagged with its group-version-kind that takes the
/// `fieldValidation` query parameter, which tells kubectl that this server validates fields
/// itself (then it sends `fieldValidation=Strict` and validates nothing on its side).
enum OpenAPIv2 {
    /// Served as plain bytes: Go's media-type parser refuses the `@` of the type kubectl asks for.
    static let mediaType = "application/octet-stream"

    /// Protobuf's wire format, the two kinds of field used here.
    struct Writer {
        var bytes: [UInt8] = []
        mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }
        mutating func field(_ number: Int, _ payload: [UInt8]) {
            varint(UInt64(number << 3 | 2))
            varint(UInt64(payload.count))
            bytes += payload
        }
        mutating func field(_ number: Int, _ text: String) { field(number, Array(text.utf8)) }
        mutating func bool(_ number: Int, _ value: Bool) {
            varint(UInt64(number << 3))
            varint(value ? 1 : 0)
        }
        static func message(_ build: (inout Writer) -> Void) -> [UInt8] {
            var w = Writer()
            build(&w)
            return w.bytes
        }
    }

    /// A query parameter: ParametersItem{parameter: Parameter{non_body_parameter:
    /// NonBodyParameter{query_parameter_sub_schema: {in, description, name, type}}}}.
    static func queryParameter(_ name: String, _ description: String) -> [UInt8] {
        let sub = Writer.message {
            $0.field(2, "query")
            $0.field(3, description)
            $0.field(4, name)
            $0.field(6, "string")
        }
        let nonBody = Writer.message { $0.field(3, sub) }
        let parameter = Writer.message { $0.field(2, nonBody) }
        return Writer.message { $0.field(1, parameter) }
    }

    /// A PATCH operation of `kind`: parameters and the `x-kubernetes-group-version-kind`
    /// vendor extension (a NamedAny whose Any carries YAML).
    static func patchOperation(group: String, version: String, kind: String) -> [UInt8] {
        let yaml = "group: \"\(group)\"\nkind: \(kind)\nversion: \(version)\n"
        let any = Writer.message { $0.field(2, yaml) }
        let extensionEntry = Writer.message {
            $0.field(1, "x-kubernetes-group-version-kind")
            $0.field(2, any)
        }
        let action = Writer.message {
            $0.field(1, "x-kubernetes-action")
            $0.field(2, Writer.message { $0.field(2, "patch\n") })
        }
        return Writer.message {
            $0.field(3, "partially update the specified \(kind)")
            $0.field(5, "patch\(kind)")
            $0.field(7, "application/merge-patch+json")
            $0.field(7, "application/apply-patch+yaml")
            for (name, description) in [
                ("dryRun", "When present (All), the change is checked and not persisted."),
                ("fieldManager", "A name for the actor making the change."),
                ("fieldValidation", "Ignore, Warn (the default) or Strict: what an unknown field does."),
                ("force", "Server-side apply: take fields other managers own."),
            ] {
                $0.field(8, queryParameter(name, description))
            }
            $0.field(13, extensionEntry)
            $0.field(13, action)
        }
    }

    static let document: [UInt8] = {
        let entries: [(path: String, group: String, version: String, kind: String)] = [
            ("/apis/eks.cloud.tencent.com/v1/imagecaches/{name}", "eks.cloud.tencent.com", "v1", "ImageCache"),
            ("/api/v1/namespaces/{name}", "", "v1", "Namespace"),
        ]
        let paths = Writer.message { w in
            for e in entries {
                let item = Writer.message { $0.field(8, patchOperation(group: e.group, version: e.version, kind: e.kind)) }
                w.field(
                    2,
                    Writer.message {
                        $0.field(1, e.path)
                        $0.field(2, item)
                    })
            }
        }
        let info = Writer.message {
            $0.field(1, "Kubernetes")
            $0.field(2, "v1.33.0")
        }
        return Writer.message {
            $0.field(1, "2.0")
            $0.field(2, info)
            $0.field(8, paths)
        }
    }()
}
