import IMCClient
import Testing

struct ImageCacheManifestTests {
    // The two examples of the seed document, verbatim (indentation as Kubernetes YAML has it).
    static let simple = """
        apiVersion: eks.cloud.tencent.com/v1
        kind: ImageCache
        metadata:
          name: imagecache-sample
        spec:
          images:
          - nginx
        """
    static let more = """
        apiVersion: eks.cloud.tencent.com/v1
        kind: ImageCache
        metadata:
          annotations:
            "eks.tke.cloud.tencent.com/eip-attributes": '{"InternetMaxBandwidthOut":2}'
          name: imagecache-sample-more-para
        spec:
          images:
          - nginx
          - mysql
          imageCacheSize: 30
          retentionDays: 7
          imagePullSecrets:
          - imc-operator-system/qcloudregistrykey
        """

    @Test func theSeedsExamplesParse() throws {
        let a = try ImageCacheManifest.parse(Self.simple, source: "a.yaml")
        #expect(
            a == [
                ImageCacheManifest(
                    name: "imagecache-sample", images: ["nginx"], imageCacheSize: nil, retentionDays: nil, imagePullSecrets: [],
                    annotations: [:])
            ])
        let b = try #require(try ImageCacheManifest.parse(Self.more, source: "b.yaml").first)
        #expect(b.images == ["nginx", "mysql"] && b.imageCacheSize == 30 && b.retentionDays == 7)
        #expect(b.imagePullSecrets == ["imc-operator-system/qcloudregistrykey"])
        #expect(b.annotations["eks.tke.cloud.tencent.com/eip-attributes"] == #"{"InternetMaxBandwidthOut":2}"#)
        #expect(try ImageCacheManifest.parse(Self.simple + "\n---\n" + Self.more, source: "c.yaml").count == 2)
        let refreshed = try ImageCacheManifest.parse(Self.simple + "\n  refreshIntervalMinutes: 60", source: "d.yaml")
        #expect(refreshed.first?.refreshIntervalMinutes == 60 && b.refreshIntervalMinutes == nil)
    }

    @Test(arguments: [
        ("spec:\n  images: []", "spec.images"),
        ("spec:\n  images: [nginx]\n  imageCacheSize: 0", "spec.imageCacheSize"),
        ("spec:\n  images: [nginx]\n  imageCacheSize: 20.5", "spec.imageCacheSize must be an integer"),
        ("spec:\n  images: [nginx]\nstatus: {phase: Ready}", "status is not a field"),
        ("  labels: {a: b}\nspec:\n  images: [nginx]", "metadata.labels are refused: the Cloud API keeps no labels"),
        ("spec:\n  image: [nginx]", "spec.images is required"),
        ("spec:\n  images: [nginx]\n  retentionDays: -1", "spec.retentionDays"),
        ("spec:\n  images: [nginx]\n  imageCacheSize: big", "spec.imageCacheSize"),
        ("spec:\n  images: [nginx]\n  bogus: 1", "spec.bogus is not a field"),
        ("spec:\n  images: [nginx]\n  refreshIntervalMinutes: -5", "spec.refreshIntervalMinutes"),
        ("spec:\n  images: [\"Bad Ref\"]", "spec.images[0]"),
        ("spec:\n  images: [nginx]\n  imagePullSecrets: [justaname]", "namespace/name"),
    ])
    func badManifestsNameTheField(spec: String, field: String) {
        let text = "apiVersion: eks.cloud.tencent.com/v1\nkind: ImageCache\nmetadata:\n  name: x\n" + spec
        do {
            _ = try ImageCacheManifest.parse(text, source: "f.yaml")
            Issue.record("accepted: \(spec)")
        } catch {
            #expect("\(error)".contains(field) && "\(error)".contains("f.yaml"), "\(error)")
        }
    }
}
