import Crypto
import Foundation
import IMCCache
import IMCStore
import IMCTestSupport
import Testing

struct SecretsAtRestTests {
    @Test func aSealedSecretOpensOnlyWithItsKey() throws {
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let a = try box.seal("hunter2")
        let b = try box.seal("hunter2")
        #expect(a.hasPrefix("enc:v1:") && a != b, "a fresh nonce each time")
        #expect(!a.contains("hunter2"))
        #expect(try box.open(a) == "hunter2")
        #expect(try box.open("from before encryption") == "from before encryption")
        #expect(try box.seal("") == "")
        #expect(throws: StoreError.self) { try SecretBox(key: SymmetricKey(size: .bits256)).open(a) }
    }

    @Test func theKeyFileIsCreatedOnceWithMode0600AndTheEnvironmentWins() throws {
        let dir = try TemporaryDirectory(prefix: "imc-key")
        let path = dir.appending("master.key")
        let first = try SecretBox.load(environment: [:], path: path)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600 && st.st_size == 32)
        let sealed = try first.seal("x")
        #expect(try SecretBox.load(environment: [:], path: path).open(sealed) == "x", "the same key next time")
        let other = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        #expect(throws: StoreError.self) { try SecretBox.load(environment: ["IMC_MASTER_KEY": other], path: path).open(sealed) }
        #expect(throws: StoreError.self) { try SecretBox.load(environment: ["IMC_MASTER_KEY": "c2hvcnQ="], path: path) }
    }

    func cache(password: String) -> ImageCache {
        var c = ImageCache(
            id: "imc-\(UUID().uuidString.prefix(8).lowercased())", account: "a", region: "r",
            name: "n-\(UUID().uuidString.prefix(8).lowercased())", size: 20, images: ["nginx"],
            creationTime: Date(), retentionDays: 0)
        c.credentials = [CacheCredential(server: "registry.example.com", username: "u", password: password)]
        return c
    }

    func files(_ dir: TemporaryDirectory) -> Data {
        ["imc.sqlite", "imc.sqlite-wal"].reduce(into: Data()) { $0 += FileManager.default.contents(atPath: dir.appending($1)) ?? Data() }
    }

    @Test func passwordsNeverReachTheDatabaseFileInClear() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-secrets")
        let canary = "canary-\(UUID().uuidString)"
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"), secrets: box))
        let c = cache(password: canary)
        try await repository.insert(c)
        #expect(try await repository.get(id: c.id, account: "a")?.credentials.first?.password == canary, "the service reads it back")
        var changed = c
        changed.name = "renamed"
        try await repository.update(changed)
        #expect(files(dir).range(of: Data(canary.utf8)) == nil)
        #expect("\(changed.credentials)".contains(canary) == false, "nor is it printed")
    }

    @Test func passwordsWrittenInClearByAnEarlierVersionAreSealedOnTheNextStart() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-secrets")
        let canary = "canary-\(UUID().uuidString)"
        let c = cache(password: canary)
        do {
            let old = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
            try await old.insert(c)
        }
        #expect(files(dir).range(of: Data(canary.utf8)) != nil, "the earlier version kept it in clear")
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"), secrets: box))
        #expect(try await repository.get(id: c.id, account: "a")?.credentials.first?.password == canary)
        #expect(files(dir).range(of: Data(canary.utf8)) == nil, "sealed, and the clear pages overwritten")
    }

    @Test func aPasswordThatLooksSealedIsSealedLikeAnyOther() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-secrets")
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"), secrets: box))
        let poisoned = "enc:v1:not-a-sealed-value-\(UUID().uuidString)"
        let c = cache(password: poisoned)
        try await repository.insert(c)
        #expect(try await repository.get(id: c.id, account: "a")?.credentials.first?.password == poisoned, "it reads back as it was given")
        #expect(files(dir).range(of: Data(poisoned.utf8)) == nil, "and it was sealed, not stored as it came")
    }

    /// A row an earlier version wrote with a password that looked sealed (and was stored as it
    /// came): reading it fails that credential alone; every listing, every other row, and the
    /// row itself (written back) stay whole.
    @Test func aRowWhosePasswordCannotBeOpenedFailsThatCredentialAlone() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-secrets")
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let poisoned = cache(password: "enc:v1:AAAA-not-base64-or-sealed")
        let healthy = cache(password: "fine")
        do {
            // The earlier version: no box, the value written as it came.
            let old = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
            try await old.insert(poisoned)
        }
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"), secrets: box))
        try await repository.insert(healthy)
        let (total, listed) = try await repository.list(account: "a", query: CacheQuery())
        #expect(total == 2 && listed.count == 2, "the listing is whole")
        let read = try #require(try await repository.get(id: poisoned.id, account: "a")?.credentials.first)
        #expect(read.password == "" && read.unopenedPassword == "enc:v1:AAAA-not-base64-or-sealed")
        #expect(CacheCredential.unreadable([read]) != nil, "whoever needs it gets a clear error")
        #expect(try await repository.get(id: healthy.id, account: "a")?.credentials.first?.password == "fine")
        #expect(try await repository.all(in: [.pending]).count == 2, "a build worker's scan is whole")
        // Written back unchanged, sealed value and all: nothing is lost.
        var renamed = try #require(try await repository.get(id: poisoned.id, account: "a"))
        renamed.name = "renamed"
        try await repository.update(renamed)
        let again = try #require(try await repository.get(id: poisoned.id, account: "a"))
        #expect(again.name == "renamed" && again.credentials.first?.unopenedPassword == "enc:v1:AAAA-not-base64-or-sealed")
        // And the database opens again.
        let reopened = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"), secrets: box))
        #expect(try await reopened.list(account: "a", query: CacheQuery()).total == 2)
    }
}
