import IMCAPI
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

struct ParametersTests {
    @Test func readsTypedFieldsAndRefusesTheRest() throws {
        var p = try Parameters(body: Array(#"{"A":"x","N":3,"B":true,"L":["a"],"Extra":1}"#.utf8))
        #expect(try p.string("A") == "x")
        #expect(try p.int("N") == 3)
        #expect(try p.bool("B") == true)
        #expect(try p.strings("L") == ["a"])
        #expect(try p.string("Missing") == nil)
        #expect(throws: APIError.unknownParameter("Extra is not a parameter of this action")) { try p.finish() }
    }

    @Test func typeErrorsNameTheFieldAndValue() throws {
        var p = try Parameters(body: Array(#"{"N":"3","B":1,"L":[1],"F":1.5,"O":[{"Q":2}]}"#.utf8))
        #expect(throws: APIError.invalidParameter(#"N must be an integer, not "3""#)) { try p.int("N") }
        #expect(throws: APIError.invalidParameter("B must be true or false, not 1")) { try p.bool("B") }
        #expect(throws: APIError.invalidParameter("L[0] must be a string, not 1")) { try p.strings("L") }
        #expect(throws: APIError.self) { try p.int("F") }
        #expect(throws: APIError.unknownParameter("O[0].Q is not a parameter of this action")) {
            _ = try p.objects("O") { (_: inout Parameters, _: String) throws(APIError) in 0 }
        }
        #expect(throws: APIError.self) { try Parameters(body: Array("[1]".utf8)) }
        #expect(throws: APIError.self) { try Parameters(body: Array("{".utf8)) }
    }
}
