import Foundation
import IMCModel
import Testing

struct ManifestTests {
    let digest = "sha256:" + String(repeating: "a", count: 64)

    var manifestJSON: String {
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(digest)","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(digest)","size":20}]}"#
    }
    var indexJSON: String {
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":30,"platform":{"os":"linux","architecture":"arm64"}}]}"#
    }

    @Test func parsesManifestsAndIndexes() throws {
        guard case .manifest(let m) = try ManifestDocument.parse(Data(manifestJSON.utf8), mediaType: MediaType.ociManifest) else {
            Issue.record("not a manifest")
            return
        }
        #expect(m.layers.count == 1 && m.layers[0].size == 20)
        guard case .index(let i) = try ManifestDocument.parse(Data(indexJSON.utf8), mediaType: nil) else {
            Issue.record("not an index")
            return
        }
        #expect(i.manifests[0].platform == Platform(os: "linux", architecture: "arm64"))
    }

    @Test func refusesADocumentWhoseShapeContradictsItsType() {
        // An index served as a manifest, and a manifest served as an index.
        let indexShapedManifest = indexJSON.replacingOccurrences(of: MediaType.ociIndex, with: MediaType.ociManifest)
        #expect(throws: ModelError.self) { try ManifestDocument.parse(Data(indexShapedManifest.utf8), mediaType: MediaType.ociManifest) }
        #expect(throws: ModelError.self) { try ManifestDocument.parse(Data(manifestJSON.utf8), mediaType: MediaType.ociIndex) }
        let both = manifestJSON.replacingOccurrences(of: #""layers""#, with: #""manifests":[],"layers""#)
        #expect(throws: ModelError.self) { try ManifestDocument.parse(Data(both.utf8), mediaType: MediaType.ociManifest) }
    }

    @Test func refusesOversizedSchema1AndGarbage() {
        let big = Data(repeating: 32, count: ManifestDocument.maxSize + 1)
        #expect(throws: ModelError.self) { try ManifestDocument.parse(big, mediaType: nil) }
        #expect(throws: ModelError.self) { try ManifestDocument.parse(Data(#"{"schemaVersion":1,"fsLayers":[]}"#.utf8), mediaType: nil) }
        #expect(throws: ModelError.self) { try ManifestDocument.parse(Data("not json".utf8), mediaType: nil) }
        #expect(throws: ModelError.self) {
            try ManifestDocument.parse(Data(manifestJSON.replacingOccurrences(of: digest, with: "sha256:zz").utf8), mediaType: nil)
        }
    }

    @Test func layerCompressionFromMediaType() {
        #expect(LayerCompression(mediaType: MediaType.dockerLayerGzip) == .gzip)
        #expect(LayerCompression(mediaType: MediaType.ociLayerZstd) == .zstd)
        #expect(LayerCompression(mediaType: MediaType.ociLayer) == LayerCompression.none)
        #expect(LayerCompression(mediaType: "application/vnd.oci.image.config.v1+json") == nil)
    }
}

struct RegistryConfigTests {
    @Test func readsDockerConfigJSON() throws {
        let auth = Data("alice:s3cret:with:colons".utf8).base64EncodedString()
        let json = #"{"auths":{"https://index.docker.io/v1/":{"auth":"\#(auth)"},"localhost:5000":{"username":"bob","password":"pw"}}}"#
        let c = try RegistryConfig.parse(Data(json.utf8), source: "config.json")
        #expect(c.credential(for: "docker.io")?.username == "alice")
        #expect(c.credential(for: "docker.io")?.password == "s3cret:with:colons")
        #expect(c.credential(for: "localhost:5000")?.password == "pw")
        #expect(c.credential(for: "other") == nil)
    }

    @Test func readsAKubernetesSecret() throws {
        let inner = #"{"auths":{"ccr.example.com":{"username":"u","password":"p"}}}"#
        let secret =
            #"{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/dockerconfigjson","metadata":{"name":"qcloudregistrykey"},"data":{".dockerconfigjson":"\#(Data(inner.utf8).base64EncodedString())"}}"#
        let c = try RegistryConfig.parse(Data(secret.utf8), source: "secret")
        #expect(c.credential(for: "ccr.example.com")?.username == "u")
        let opaque = secret.replacingOccurrences(of: "kubernetes.io/dockerconfigjson", with: "Opaque")
        #expect(throws: ModelError.self) { try RegistryConfig.parse(Data(opaque.utf8), source: "secret") }
    }

    @Test func readsTheAPIFieldNames() throws {
        let json =
            #"{"ImageRegistryCredentials":[{"Server":"https://r.example.com/","Username":"u","Password":"p","Name":"mine"}],"RegistryHttpEndPointList":["127.0.0.1:5000"],"RegistrySkipVerifyList":["r.example.com"]}"#
        let c = try RegistryConfig.parse(Data(json.utf8), source: "file")
        #expect(c.credential(for: "r.example.com")?.password == "p")
        #expect(c.isPlainHTTP("127.0.0.1:5000") && !c.isPlainHTTP("r.example.com"))
        #expect(c.skipsVerify("r.example.com"))
        let list = #"[{"Server":"a.io","Username":"x","Password":"y"}]"#
        #expect(try RegistryConfig.parse(Data(list.utf8), source: "list").credential(for: "a.io")?.username == "x")
    }

    @Test func errorsNameTheField() {
        let cases = [
            (#"{"ImageRegistryCredentials":[{"Username":"u","Password":"p"}]}"#, "ImageRegistryCredentials[0].Server"),
            (#"{"RegistryHttpEndPointList":"x"}"#, "RegistryHttpEndPointList"),
            (#"{"Bogus":1}"#, "Bogus"),
            (#"{"auths":{"a":{"auth":"!!!"}}}"#, "auths.\"a\".auth"),
            (#"{"auths":{"a":{}}}"#, "auths.\"a\" needs auth, or username and password"),
            (#"{"auths":{"a":{"identitytoken":"t"}}}"#, "identitytoken is not a field"),
            (#"{"auths":{},"credsStore":"desktop"}"#, "credsStore names a credential helper"),
            (#"{"auths":{"a":{"username":5,"password":"p"}}}"#, "username must be a string, not 5"),
            (#"[{"Server":"a.io","Username":"x"}]"#, "[0].Password is required"),
            (
                #"{"ImageRegistryCredentials":[{"Server":"a.io","Username":"x","Password":"y","Colour":1}]}"#,
                "ImageRegistryCredentials[0].Colour is not a field"
            ),
        ]
        for (json, field) in cases {
            do {
                _ = try RegistryConfig.parse(Data(json.utf8), source: "f")
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.message.contains(field), "\(error.message)")
            }
        }
    }

    @Test func passwordsNeverPrint() {
        let c = RegistryCredential(server: "r", username: "u", password: "CANARY-PASSWORD")
        #expect(!"\(c)".contains("CANARY"))
        #expect(!String(reflecting: c).contains("CANARY"))
        var dumped = ""
        dump(c, to: &dumped)
        #expect(!dumped.contains("CANARY"))
        #expect(!"\(RegistryConfig(credentials: [c]))".contains("CANARY"))
    }
}
