import IMCAPI
import IMCDocuments
import Testing

struct TC3SignatureTests {
    // The vector: the algorithm of API.md section 1 computed independently (Python's hmac and
    // hashlib) for a fixed request.
    @Test func matchesAnIndependentComputation() {
        let payload = #"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#
        let signature = TC3Signature.signature(
            method: "POST", uri: "/", query: "",
            headers: ["content-type": "application/json; charset=utf-8", "host": "tke.tencentcloudapi.com"],
            signedHeaders: ["content-type", "host"], payloadHash: TC3Signature.sha256Hex(Array(payload.utf8)), timestamp: 1_551_113_065,
            service: "tke", secretKey: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE")
        #expect(signature == "537fc59cfa30d34229c7b02fe989b0dcbf0194e7efafe73ecf40fc04b5d52f6e")
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01"), (1_551_113_065, "2019-02-25"), (951_782_400, "2000-02-29"), (1_795_000_000, "2026-11-18"),
        (4_107_542_400, "2100-03-01"),
    ])
    func datesAreUTC(timestamp: Int64, date: String) {
        #expect(TC3Signature.date(of: timestamp) == date)
    }

    @Test func parsesTheAuthorizationHeader() throws {
        let h =
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/tke/tc3_request, SignedHeaders=content-type;host, Signature=ABCDEF"
        let a = try #require(TC3Signature.Authorization(header: h))
        #expect(a.secretID == "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE" && a.date == "2019-02-25" && a.service == "tke")
        #expect(a.signedHeaders == ["content-type", "host"] && a.signature == "abcdef")
        #expect(TC3Signature.Authorization(header: "Basic abc") == nil)
        #expect(TC3Signature.Authorization(header: "TC3-HMAC-SHA256 Credential=a/b/c, SignedHeaders=x, Signature=y") == nil)
        #expect(TC3Signature.Authorization(header: a.header) == a)
    }

    @Test func constantTimeComparison() {
        #expect(TC3Signature.constantTimeEquals("abc", "abc"))
        #expect(!TC3Signature.constantTimeEquals("abc", "abd") && !TC3Signature.constantTimeEquals("abc", "ab"))
    }
}

/// A request's body read as the real service reads it: the field's type, the field's presence,
/// and no field the action does not take, each refused with its own code and the field's path.
struct RequestDecodingTests {
    @Test func aRequestIsReadIntoItsType() throws {
        let r = try CreateImageCacheRequest.decode(
            body: Array(#"{"Images":["nginx"],"ImageCacheSize":30,"ImageRegistryCredentials":[{"Server":"r.io","Username":"u"}]}"#.utf8))
        #expect(r.Images == ["nginx"] && r.ImageCacheSize == 30 && r.ImageRegistryCredentials?.first?.Username == "u")
        #expect(try DescribeImageCachesRequest.decode(body: Array(" \n".utf8)) == DescribeImageCachesRequest())
    }

    @Test(arguments: [
        (#"{"Images":["nginx"],"Extra":1}"#, "UnknownParameter", "Extra is not a parameter of this action", "Extra"),
        (#"{"Images":"nginx"}"#, "InvalidParameter", #"Images must be a list of strings, not "nginx""#, "Images"),
        (#"{"Images":[1]}"#, "InvalidParameter", "Images[0] must be a string, not 1", "Images[0]"),
        (#"{"Images":["a"],"ImageCacheSize":"3"}"#, "InvalidParameter", #"ImageCacheSize must be an integer, not "3""#, "ImageCacheSize"),
        (#"{"Images":["a"],"ImageCacheSize":1.5}"#, "InvalidParameter", "ImageCacheSize must be an integer, not 1.5", "ImageCacheSize"),
        (#"{"Images":["a"],"AutoCreateEip":1}"#, "InvalidParameter", "AutoCreateEip must be true or false, not 1", "AutoCreateEip"),
        (#"{"ImageCacheSize":30}"#, "MissingParameter", "Images is required", "Images"),
        (
            #"{"Images":["a"],"ImageRegistryCredentials":[{"Server":""}]}"#, "MissingParameter",
            "ImageRegistryCredentials[0].Server is required", "ImageRegistryCredentials[0].Server"
        ),
        (
            #"{"Images":["a"],"Tags":[{"Key":"k","Colour":2}]}"#, "UnknownParameter", "Tags[0].Colour is not a parameter of this action",
            "Tags[0].Colour"
        ),
        ("[1]", "InvalidParameter", "the request body is not a JSON object", nil),
        ("{", "InvalidParameter", "the request body is not a JSON object", nil),
    ])
    func aBadFieldIsRefusedByItsCodeAndPath(body: String, code: String, message: String, field: String?) {
        do {
            _ = try CreateImageCacheRequest.decode(body: Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code == code && error.message == message)
            #expect(error.field == field.map { FieldPath(stringLiteral: $0) })
        }
    }
}
