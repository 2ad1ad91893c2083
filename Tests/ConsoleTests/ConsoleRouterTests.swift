import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMCCaches
import IMCConsole
import IMCDoors
import IMCStore
import IMCTestSupport
import Testing

/// The console in process, through Hummingbird's router: sign-in and its cookie, pages for the
/// signed-in account only, everything a user typed escaped, forms from other sites refused.
struct ConsoleRouterTests {
    static func application(_ dir: TemporaryDirectory) async throws -> (some ApplicationProtocol, CacheService) {
        let service = CacheService(repository: SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"))))
        let router = Router(context: DoorContext.self)
        try await Console(
            caches: service, instances: nil, billing: nil, regions: ["ap-guangzhou"],
            authenticate: { id, key in id == "AKIDc" && key == "secret" ? "100000000001" : nil }
        ).addRoutes(to: router)
        return (Application(router: router), service)
    }

    static func form(_ fields: String, origin: String? = nil, cookie: String? = nil) -> (HTTPFields, ByteBuffer) {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let origin { headers[.origin] = origin }
        if let cookie { headers[.cookie] = cookie }
        return (headers, ByteBuffer(string: fields))
    }

    /// Signs in and returns the session cookie.
    static func signIn(_ client: some TestClientProtocol) async throws -> String {
        let (headers, body) = form("SecretId=AKIDc&SecretKey=secret&Region=ap-guangzhou")
        return try await client.execute(uri: "/console/login", method: .post, headers: headers, body: body) { response in
            #expect(response.status == .seeOther && response.headers[.location] == "/console/caches")
            let setCookie = try #require(response.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            return try #require(setCookie.split(separator: ";").first.map(String.init))
        }
    }

    @Test func withoutASessionPagesSendYouToSignIn() async throws {
        let dir = try TemporaryDirectory()
        let (app, _) = try await Self.application(dir)
        try await app.test(.router) { client in
            try await client.execute(uri: "/console/caches", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/console/login")
            }
            try await client.execute(uri: "/console/caches/imc-00000000/live", method: .get) { #expect($0.status == .unauthorized) }
            let (headers, body) = Self.form("SecretId=AKIDc&SecretKey=wrong")
            try await client.execute(uri: "/console/login", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .unauthorized && String(buffer: response.body).contains("wrong"))
            }
        }
    }

    @Test func whatAUserTypedIsEscapedOnEveryPage() async throws {
        let dir = try TemporaryDirectory()
        let (app, service) = try await Self.application(dir)
        var request = CacheRequest()
        request.images = ["nginx"]
        request.name = "<script>alert(1)</script>"
        let cache = try await service.create(request, account: "100000000001", region: "ap-guangzhou")
        try await app.test(.router) { client in
            let cookie = try await Self.signIn(client)
            for uri in ["/console/caches", "/console/caches/\(cache.id)"] {
                try await client.execute(uri: uri, method: .get, headers: [.cookie: cookie]) { response in
                    let page = String(buffer: response.body)
                    #expect(response.status == .ok)
                    #expect(!page.contains("<script>alert(1)</script>") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(uri)")
                }
            }
            let (headers, body) = Self.form("name=%3Cb%3Ex&images=&size=x&retention=0", cookie: cookie)
            try await client.execute(uri: "/console/caches", method: .post, headers: headers, body: body) { response in
                let page = String(buffer: response.body)
                #expect(response.status == .badRequest && page.contains("id=\"error-size\"") && page.contains("&lt;b&gt;x"))
            }
        }
    }

    @Test func formsFromAnotherSiteAreRefusedBeforeAnythingElse() async throws {
        let dir = try TemporaryDirectory()
        let (app, _) = try await Self.application(dir)
        try await app.test(.router) { client in
            let (headers, body) = Self.form("SecretId=AKIDc&SecretKey=secret", origin: "http://evil.example")
            try await client.execute(uri: "/console/login", method: .post, headers: headers, body: body) {
                #expect($0.status == .forbidden)
            }
        }
    }
}
