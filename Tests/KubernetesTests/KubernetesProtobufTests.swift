import Foundation
import IMCDocuments
import IMCKubernetesProtobuf
import Testing

@testable import IMCKubernetes

/// The protobuf forms, against what kubectl itself sent and reads.
struct KubernetesProtobufTests {
    /// Bodies kubectl 1.33 sent (`kubectl create namespace team-a`, `kubectl -n team-a create
    /// secret docker-registry regcred --docker-server=registry.example.com --docker-username=puller
    /// --docker-password=s3cret`), captured from the wire.
    static let namespace =
        "6b3873000a0f0a02763112094e616d657370616365121e0a160a067465616d2d6112001a0022002a0032003800420012001a020a001a002200"
    static let secret =
        "6b3873000a0c0a027631120653656372657412c0010a1d0a077265676372656412001a067465616d2d6122002a00320038004200127f0a112e646f636b6572636f6e6669676a736f6e126a7b226175746873223a7b2272656769737472792e6578616d706c652e636f6d223a7b22757365726e616d65223a2270756c6c6572222c2270617373776f7264223a22733363726574222c2261757468223a2263485673624756794f6e4d7a59334a6c64413d3d227d7d7d1a1e6b756265726e657465732e696f2f646f636b6572636f6e6669676a736f6e1a002200"

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test func kubectlsNamespaceAndSecretAreRead() throws {
        let namespace = try #require(KubernetesProtobuf.decode(Self.bytes(Self.namespace)))
        #expect(namespace == ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team-a"]])
        let secret = try #require(KubernetesProtobuf.decode(Self.bytes(Self.secret)))
        #expect(secret["kind"] == "Secret" && secret["type"] == "kubernetes.io/dockerconfigjson")
        #expect(secret["metadata"] == ["name": "regcred", "namespace": "team-a"])
        let config = try #require(secret["data"]?[".dockerconfigjson"]?.string.flatMap { Data(base64Encoded: $0) })
        let auths = try JSONValue.parseJSON(Array(config))["auths"]?["registry.example.com"]
        #expect(auths?["username"] == "puller" && auths?["password"] == "s3cret")
    }

    @Test func whatIsNotProtobufOrNotAKindReadHereIsNil() {
        #expect(KubernetesProtobuf.decode(Array(#"{"kind":"Namespace"}"#.utf8)) == nil)
        #expect(KubernetesProtobuf.decode([0x6b, 0x38, 0x73, 0x00, 0xff, 0xff]) == nil, "truncated")
        var pod = KubeUnknown()
        pod.typeMeta.apiVersion = "v1"
        pod.typeMeta.kind = "Pod"
        pod.raw = Data()
        #expect(KubernetesProtobuf.decode([0x6b, 0x38, 0x73, 0x00] + ((try? pod.serializedBytes()) ?? [])) == nil)
    }

    /// The OpenAPI v2 document kubectl 1.27 downloads: each served kind's PATCH takes
    /// fieldValidation and carries its group-version-kind (what makes kubectl leave validation
    /// to the server).
    @Test func theOpenAPIv2DocumentTellsKubectlTheServerValidates() throws {
        let document = try Openapi_V2_Document(serializedBytes: OpenAPIv2.document)
        #expect(document.swagger == "2.0")
        let paths = Dictionary(uniqueKeysWithValues: document.paths.path.map { ($0.name, $0.value) })
        let imageCaches = try #require(paths["/apis/eks.cloud.tencent.com/v1/imagecaches/{name}"]?.patch)
        #expect(imageCaches.parameters.map(\.parameter.nonBodyParameter.queryParameterSubSchema.name).contains("fieldValidation"))
        let gvk = imageCaches.vendorExtension.first { $0.name == "x-kubernetes-group-version-kind" }?.value.yaml
        #expect(gvk == "group: \"eks.cloud.tencent.com\"\nkind: ImageCache\nversion: v1\n")
        #expect(paths["/api/v1/namespaces/{name}"]?.patch.operationID == "patchNamespace")
    }
}
