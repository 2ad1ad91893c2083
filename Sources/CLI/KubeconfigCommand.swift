import ArgumentParser
import Foundation
import IMCDocuments
import IMCKubernetes

/// `imc kubeconfig`: a kubeconfig for kubectl and client libraries, whose token names this
/// key's account (the server checks it against the key; nothing is stored).
struct KubeconfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Print a kubeconfig that points kubectl at imc's Kubernetes API (as this key's account).",
        discussion: """
            imc kubeconfig > ~/.kube/imc.yaml && export KUBECONFIG=~/.kube/imc.yaml
            kubectl apply -f imagecache.yaml && kubectl get imagecaches
            The server is the service's HTTPS listener (kubectl sends a token over TLS only), asked of
            the service at ENDPOINT with the CA that signed its certificate when imc generated it;
            --server and --certificate-authority say otherwise.
            """)

    @OptionGroup var api: APIOptions
    @Option(help: "The server URL (default: the service's HTTPS listener, https://HOST:PORT/k8s).") var server: String?
    @Option(help: "A PEM file of the CA that signed the server's certificate (HTTPS).") var certificateAuthority: String?
    @Option(help: "The name of the cluster, user and context.") var name = "imc"
    @Option(help: "The context's default namespace.") var namespace = "default"

    func run() async throws {
        let c = try api.credentials()
        var url = server
        var caData: String?
        if server == nil || certificateAuthority == nil {
            let client = try api.client()
            defer { Task { try? await client.shutdown() } }
            let data = try await client.get(KubernetesAPI.prefix + "/.well-known/imc-kubeconfig")
            let published = try? StrictDecoder(unknownFields: .ignore).decode(PublishedKubeconfig.self, json: data)
            url = url ?? published?.server
            caData = published?.certificateAuthorityData
        }
        guard let url else {
            throw ValidationError("the service at \(c.endpoint) has no HTTPS listener (kubectl sends tokens over TLS only); give --server")
        }
        var cluster = "    server: \(url)\n"
        if certificateAuthority == nil, let caData { cluster += "    certificate-authority-data: \(caData)\n" }
        if let certificateAuthority {
            guard let pem = FileManager.default.contents(atPath: certificateAuthority) else {
                throw ValidationError("--certificate-authority \(certificateAuthority): cannot read it")
            }
            cluster += "    certificate-authority-data: \(pem.base64EncodedString())\n"
        }
        let token = KubernetesToken.token(secretID: c.secretID, secretKey: c.secretKey)
        print(
            """
            apiVersion: v1
            kind: Config
            clusters:
            - name: \(name)
              cluster:
            \(cluster)users:
            - name: \(name)
              user:
                token: \(token)
            contexts:
            - name: \(name)
              context:
                cluster: \(name)
                user: \(name)
                namespace: \(namespace)
            current-context: \(name)
            """)
    }
}

/// What the service publishes at `/.well-known/imc-kubeconfig` (fields it may add are skipped).
struct PublishedKubeconfig: Decodable {
    var server: String?
    var certificateAuthorityData: String?
}
