import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMCAPI
import IMCCaches
import IMCCloudAPI
import IMCDocuments
import IMCDoors
import IMCInstance
import IMCObservability
import IMCStore
import IMCTestSupport
import Testing

/// The Cloud API door in process, through Hummingbird's router (no socket, no disk): the
/// envelope, the typed actions, strict reading, signatures, and the operator's routes.
struct CloudAPIRouterTests {
    static let key = APIKey(account: "100000000001", secretID: "AKIDrouter", secretKey: "router-key")
    static let other = APIKey(account: "100000000002", secretID: "AKIDother", secretKey: "other-key")

    static func application(_ dir: TemporaryDirectory) throws -> some ApplicationProtocol {
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
        let service = CacheService(repository: repository)
        let router = Router(context: DoorContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: HTTPMetricsMiddleware())
        CloudAPI(accounts: Accounts([key, other]), service: service, regions: ["ap-guangzhou"]).addRoutes(to: router)
        OperationsRoutes(exporter: MetricsExporter.shared, ready: { true }).addRoutes(to: router)
        return Application(router: router)
    }

    /// A signed call, as the official SDKs make it.
    static func call(_ client: some TestClientProtocol, _ action: String, _ body: String, key: APIKey = key, host: String = "localhost")
        async throws -> [String: Any]
    {
        var headers = HTTPFields()
        for (name, value) in TC3Signature.headers(
            action: action, body: Array(body.utf8), host: host, secretID: key.secretID, secretKey: key.secretKey, region: "ap-guangzhou",
            timestamp: Int64(Date().timeIntervalSince1970))
        {
            headers.append(HTTPField(name: HTTPField.Name(name)!, value: value))
        }
        return try await client.execute(uri: "/", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            #expect(response.status == .ok, "errors are in the envelope, as the real service answers them")
            let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            return try #require(object?["Response"] as? [String: Any])
        }
    }

    @Test func aCacheIsCreatedAndDescribedWithTheWireNamesAndNulls() async throws {
        let dir = try TemporaryDirectory()
        try await Self.application(dir).test(.router) { client in
            let created = try await Self.call(client, "CreateImageCache", #"{"Images": ["nginx:1.25"], "ImageCacheName": "web"}"#)
            let id = try #require(created["ImageCacheId"] as? String)
            #expect(id.hasPrefix("imc-") && (created["RequestId"] as? String)?.count == 36)
            let described = try await Self.call(client, "DescribeImageCaches", #"{"ImageCacheIds": ["\#(id)"]}"#)
            #expect(described["TotalCount"] as? Int == 1)
            let cache = try #require((described["ImageCaches"] as? [[String: Any]])?.first)
            #expect(cache["ImageCacheName"] as? String == "web" && cache["Status"] as? String == "Pending")
            #expect(
                cache["SnapshotId"] is NSNull && cache["ExpireDateTime"] is NSNull,
                "absent values are null, as the real service writes them")
            let hidden = try await Self.call(client, "DescribeImageCaches", #"{"ImageCacheIds": ["\#(id)"]}"#, key: Self.other)
            #expect(hidden["TotalCount"] as? Int == 0, "another account sees nothing")
        }
    }

    /// The regions instances run in are the service's own, named as the real service names them.
    @Test func theRegionsAreTheConfigurationsWithTheirAliasAndId() async throws {
        let dir = try TemporaryDirectory()
        try await Self.application(dir).test(.router) { client in
            let answer = try await Self.call(client, "DescribeEKSContainerInstanceRegions", "{}")
            #expect(answer["TotalCount"] as? Int == 1)
            let region = try #require((answer["Regions"] as? [[String: Any]])?.first)
            #expect(region["RegionName"] as? String == "ap-guangzhou" && region["Alias"] as? String == "gz")
            #expect(region["RegionId"] as? Int == 1)
            let refused = try await Self.call(client, "DescribeEKSContainerInstanceRegions", #"{"Limit": 1}"#)
            #expect((refused["Error"] as? [String: Any])?["Code"] as? String == "UnknownParameter")
        }
        #expect(EksCiRegionInfo(RegionName: "xx-elsewhere").RegionId == nil, "an id imc does not know is not made up")
    }

    static let refusals: [(String, String, String, String)] = [
        ("CreateImageCache", #"{"Images": ["nginx"], "Imgaes": ["x"]}"#, "UnknownParameter", "Imgaes"),
        ("CreateImageCache", #"{"Images": "nginx"}"#, "InvalidParameter", "Images"),
        ("CreateImageCache", #"{}"#, "MissingParameter", "Images"),
        ("CreateImageCache", #"{"Images": ["nginx"], "ImageCacheSize": 5}"#, "InvalidParameterValue", "ImageCacheSize"),
        ("DescribeImageCaches", #"{"Filters": [{"Name": "colour", "Values": ["red"]}]}"#, "InvalidParameterValue", "colour"),
        ("DeleteImageCaches", #"{"ImageCacheIds": ["imc-zzzzzzzz"]}"#, "ResourceNotFound", "imc-zzzzzzzz"),
        ("NoSuchAction", #"{}"#, "InvalidAction", "NoSuchAction"),
        ("CreateEKSContainerInstances", #"{}"#, "InvalidAction", "CreateEKSContainerInstances"),
    ]

    @Test(arguments: refusals)
    func badCallsAreRefusedWithTheRealCodeNamingTheField(action: String, body: String, code: String, named: String) async throws {
        let dir = try TemporaryDirectory()
        try await Self.application(dir).test(.router) { client in
            let answer = try await Self.call(client, action, body)
            let error = try #require(answer["Error"] as? [String: String])
            #expect(error["Code"] == code)
            #expect(error["Message"]?.contains(named) == true, "\(error)")
            let listed = try await Self.call(client, "DescribeImageCaches", "{}")
            #expect(listed["TotalCount"] as? Int == 0, "a refused call leaves nothing")
        }
    }

    @Test func aWrongSignatureOrAnUnknownKeyIsRefused() async throws {
        let dir = try TemporaryDirectory()
        try await Self.application(dir).test(.router) { client in
            let wrong = APIKey(account: "x", secretID: Self.key.secretID, secretKey: "not-the-key")
            let e1 = try await Self.call(client, "DescribeImageCaches", "{}", key: wrong)["Error"] as? [String: String]
            #expect(e1?["Code"] == "AuthFailure.SignatureFailure")
            let unknown = APIKey(account: "x", secretID: "AKIDnobody", secretKey: "k")
            let e2 = try await Self.call(client, "DescribeImageCaches", "{}", key: unknown)["Error"] as? [String: String]
            #expect(e2?["Code"] == "AuthFailure.SecretIdNotFound")
        }
    }

    @Test func metricsHealthAndReadinessAnswer() async throws {
        let dir = try TemporaryDirectory()
        try await Self.application(dir).test(.router) { client in
            _ = try await Self.call(client, "DescribeImageCaches", "{}")
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"imc_api_requests_total{action="DescribeImageCaches",code="ok"}"#))
                #expect(text.contains(#"imc_http_requests_total{route="/",method="POST",status="2xx"}"#))
                #expect(text.contains("# TYPE imc_instance_startup_seconds histogram"))
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect(String(buffer: $0.body) == "ok\n") }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }
}

/// Fields of the real service's instances that imc does not act on are refused by name, never
/// taken and dropped.
struct UnbuiltInstanceFieldsTests {
    static func request(_ json: String) throws -> CreateEKSContainerInstancesRequest {
        try CreateEKSContainerInstancesRequest.decode(body: Array(json.utf8))
    }

    @Test(arguments: [
        (
            #""EksCiVolume":{"CbsVolumes":[{"Name":"n","CbsDiskId":"disk-abcdefgh"}]}"#, "EksCiVolume.CbsVolumes[0].CbsDiskId",
            "ResourceNotFound"
        ),
        (
            #""EksCiVolume":{"NfsVolumes":[{"Name":"n","Server":"10.0.0.1","Path":"/a/../b"}]}"#, "EksCiVolume.NfsVolumes[0].Path",
            "InvalidParameterValue"
        ),
        (#""EksCiVolume":{"Disks":[]}"#, "EksCiVolume.Disks", "InvalidParameter"),
        (
            #""AutoCreateEip":true,"AutoCreateEipAttribute":{"InternetChargeType":"TRAFFIC"}"#, "AutoCreateEipAttribute.InternetChargeType",
            "UnsupportedOperation"
        ),
        (#""AutoCreateEipAttribute":{"InternetMaxBandwidthOut":2}"#, "AutoCreateEipAttribute", "InvalidParameterValue"),
        (#""AutoCreateEip":true,"ExistedEipIds":["eip-abcdefgh"]"#, "ExistedEipIds", "InvalidParameterValue"),
        (#""ExistedEipIds":["not-an-eip"]"#, "ExistedEipIds", "InvalidParameterValue"),
        (#""GpuCount":1"#, "GpuCount", "ResourceInsufficient"),
        (#""GpuType":"V100""#, "GpuType", "ResourceInsufficient"),
        (#""CpuType":"power9""#, "CpuType", "ResourceInsufficient"),
        (#""CamRoleName":"role""#, "CamRoleName", "UnsupportedOperation"),
    ])
    func anInstanceFieldImcDoesNotRunIsRefused(field: String, named: String, code: String) throws {
        let r = try Self.request(#"{"Containers":[{"Name":"a","Image":"busybox"}],\#(field)}"#)
        #expect {
            _ = try InstanceActions.request(r)
        } throws: { error in
            (error as? APIError)?.code == code && (error as? APIError)?.field?.description == named
        }
    }

    @Test func anEIPIsAskedForAsTheRequestSays() throws {
        let auto = try InstanceActions.request(
            try Self.request(
                #"{"Containers":[{"Name":"a","Image":"busybox"}],"AutoCreateEip":true,"AutoCreateEipAttribute":{"InternetMaxBandwidthOut":5,"DeletePolicy":true}}"#
            ))
        #expect(auto.eip == .autoCreate(bandwidthMbps: 5))
        let kept = try InstanceActions.request(
            try Self.request(#"{"Containers":[{"Name":"a","Image":"busybox"}],"ExistedEipIds":["eip-abcdefgh"]}"#))
        #expect(kept.eip == .existing(["eip-abcdefgh"]))
        let none = try InstanceActions.request(try Self.request(#"{"Containers":[{"Name":"a","Image":"busybox"}],"AutoCreateEip":false}"#))
        #expect(none.eip == nil)
    }

    @Test func theNodesCPUTypeIsTaken() throws {
        let r = try Self.request(#"{"Containers":[{"Name":"a","Image":"busybox"}],"CpuType":"\#(HostCPU.type)"}"#)
        #expect(try InstanceActions.request(r).containers.count == 1)
    }

    @Test func aContainersVolumeMountNamesAVolumeAndItsProbesAreRead() throws {
        for (mounts, named) in [
            (#"[{"Name":"v","MountPath":"/v"}]"#, "Containers[0].VolumeMounts[0].Name"),
            (#"[{"Name":"n","MountPath":"/proc/x"}]"#, "Containers[0].VolumeMounts[0].MountPath"),
            (#"[{"Name":"n","MountPath":"/v","SubPathExpr":"$(X)"}]"#, "Containers[0].VolumeMounts[0].SubPathExpr"),
            (#"[{"Name":"n","MountPath":"/v","MountPropagation":"Bidirectional"}]"#, "Containers[0].VolumeMounts[0].MountPropagation"),
        ] {
            let r = try Self.request(
                #"{"EksCiVolume":{"NfsVolumes":[{"Name":"n","Server":"nfs.example","Path":"/e"}]},"Containers":[{"Name":"a","Image":"busybox","VolumeMounts":\#(mounts)}]}"#
            )
            #expect(throws: APIError.self, "\(mounts)") { _ = try InstanceActions.request(r) }
            do { _ = try InstanceActions.request(r) } catch let e as APIError { #expect(e.field?.description == named, "\(e)") }
        }
        let mounted = try InstanceActions.request(
            try Self.request(
                #"{"EksCiVolume":{"NfsVolumes":[{"Name":"n","Server":"nfs.example","Path":"/e","ReadOnly":true}]},"Containers":[{"Name":"a","Image":"busybox","VolumeMounts":[{"Name":"n","MountPath":"/data","SubPath":"x"}]}]}"#
            ))
        #expect(mounted.volumes == [VolumeSpec(name: "n", source: .nfs(server: "nfs.example", path: "/e", readOnly: true))])
        #expect(mounted.containers[0].volumeMounts == [VolumeMountSpec(name: "n", mountPath: "/data", subPath: "x")])
        let probed = try Self.request(
            #"{"Containers":[{"Name":"a","Image":"busybox","LivenessProbe":{"Probe":{"PeriodSeconds":2,"FailureThreshold":1},"Exec":{"Commands":["cat","/ok"]}},"ReadinessProbe":{"HttpGet":{"Path":"/healthz","Port":8080,"Scheme":"HTTP"}}}]}"#
        )
        let probes = try #require(try InstanceActions.request(probed).containers[0].probes)
        #expect(
            probes.liveness?.handler == .exec(["cat", "/ok"]) && probes.liveness?.periodSeconds == 2
                && probes.liveness?.failureThreshold == 1)
        #expect(
            probes.readiness?.handler == .httpGet(path: "/healthz", port: 8080, scheme: "HTTP", headers: [:])
                && probes.readiness?.periodSeconds == 10)
        for (bad, named) in [
            (#"{"Probe":{}}"#, "Containers[0].LivenessProbe must have exactly one of"),
            (#"{"TcpSocket":{"Port":0}}"#, "Containers[0].LivenessProbe.TcpSocket.Port must be a port"),
            (#"{"HttpGet":{"Port":80,"Scheme":"HTTPS"}}"#, "Containers[0].LivenessProbe.HttpGet.Scheme \"HTTPS\" is not supported"),
            (
                #"{"Exec":{"Commands":["true"]},"Probe":{"PeriodSeconds":0}}"#,
                "Containers[0].LivenessProbe.Probe.PeriodSeconds must be from 1"
            ),
        ] {
            let r = try Self.request(#"{"Containers":[{"Name":"a","Image":"busybox","LivenessProbe":\#(bad)}]}"#)
            #expect {
                _ = try InstanceActions.request(r)
            } throws: { error in
                (error as? APIError)?.message.hasPrefix(named) == true
            }
        }
        let plain = try Self.request(#"{"Containers":[{"Name":"a","Image":"busybox"}],"AutoCreateEip":false}"#)
        #expect(try InstanceActions.request(plain).containers.map(\.name) == ["a"], "false asks for nothing")
    }
}
