import Foundation
import IMCCache
import IMCModel

/// The `CacheRepository` of both backends: indexed columns for what queries filter on, the whole
/// cache as JSON beside them, and the match index (`cache_images`: the images its snapshot holds,
/// with its account and region). A `modify` holds the row (`FOR UPDATE` in PostgreSQL; SQLite's
/// write transaction holds the database) from read to write, so writers on different replicas
/// never undo each other's changes.
public final class SQLCacheRepository: CacheRepository {
    let database: any SQLDatabase
    /// Documents as decoded, by id and revision.
    let decoded = DecodedDocuments<CacheDocument>()

    public init(database: any SQLDatabase) { self.database = database }

    static let table = DocumentTable<ImageCache>(
        name: "caches",
        columns: [
            ("id", { $0.id.sqlValue }), ("account", { $0.account.sqlValue }), ("region", { $0.region.sqlValue }),
            ("name", { $0.name.sqlValue }), ("status", { $0.status.rawValue.sqlValue }), ("size", { $0.size.sqlValue }),
            ("creation", { $0.creationTime.sqlValue }), ("expire", { $0.expireDateTime.sqlValue }),
            ("platform", { $0.platform.sqlValue }),
        ])

    private func data(_ cache: ImageCache, kubernetes: KubernetesMetadata?) throws -> Data {
        try StoreCoding.encoder.encode(
            CacheDocument(cache: try SecretBox.sealing(cache, with: database.secrets), kubernetes: kubernetes))
    }

    /// The Kubernetes metadata a row's document holds (kept when the cache is replaced).
    private static func kubernetes(in row: SQLRow) throws -> KubernetesMetadata? {
        struct Kept: Decodable { var kubernetes: KubernetesMetadata? }
        return try StoreCoding.decoder.decode(Kept.self, from: try row.data("data")).kubernetes
    }

    func documents(_ rows: [SQLRow]) throws -> [CacheDocument] {
        let secrets = database.secrets
        return try rows.map { row in
            var document = try decoded.value(of: row) { try StoreCoding.decoder.decode(CacheDocument.self, from: try $0.data("data")) }
            document.cache = try SecretBox.sealing(document.cache, with: secrets, open: true)
            if row.has("revision") { document.cache.revision = try row.int64("revision") }
            return document
        }
    }

    func decode(_ rows: [SQLRow]) throws -> [ImageCache] { try documents(rows).map(\.cache) }

    /// Keeps the match index in step with a cache: what its snapshot holds (nothing without
    /// one: an update's new images match only once they are built).
    private static func index(_ cache: ImageCache, in session: any SQLSession) async throws {
        try await session.execute("DELETE FROM cache_images WHERE cache_id = \(cache.id)")
        let images = Set(cache.snapshotID == nil ? [] : cache.normalizedServedImages).sorted()
        guard !images.isEmpty else { return }
        let rows = SQL.joined(
            images.map { image -> SQL in "(\(cache.id), \(image), \(cache.account), \(cache.region))" }, separator: ", ")
        try await session.execute("INSERT INTO cache_images (cache_id, image, account, region) VALUES \(rows)")
    }

    /// The unique index on (account, name) as the store's error: two writers that both checked a
    /// name free cannot both take it.
    private static func namingUniquely<T>(_ cache: ImageCache, _ write: () async throws -> T) async throws -> T {
        do { return try await write() } catch let e as SQLUniqueViolation {
            throw StoreError(
                .duplicate, "ImageCacheName \(cache.name) is already the name of another image cache of this account", cause: e)
        }
    }

    public func insert(_ cache: ImageCache, kubernetes: KubernetesMetadata?) async throws {
        let data = try data(cache, kubernetes: kubernetes)
        try await Self.namingUniquely(cache) {
            try await database.write { session in
                try await session.execute(Self.table.insert(cache, data: data))
                try await Self.index(cache, in: session)
            }
        }
    }

    public func update(_ cache: ImageCache) async throws {
        try await Self.namingUniquely(cache) {
            try await database.write { session in
                let kept = try await session.rows(
                    "SELECT data FROM caches WHERE id = \(cache.id)\(raw: session.dialect.forUpdate)"
                ).first.map(Self.kubernetes(in:))
                let data = try data(cache, kubernetes: kept ?? nil)
                guard
                    try await session.execute("UPDATE caches SET \(Self.table.assignments(cache, data: data)) WHERE id = \(cache.id)") == 1
                else { throw StoreError(.gone, "cache \(cache.id) no longer exists") }
                try await Self.index(cache, in: session)
            }
        }
    }

    @discardableResult
    public func modify(id: String, account: String, kubernetes: KubernetesMetadata?, _ change: (inout ImageCache) throws -> Void)
        async throws -> ImageCache?
    {
        try await database.write { session in
            let dialect = session.dialect
            guard
                let document = try documents(
                    try await session.rows(
                        "SELECT id, data, revision FROM caches WHERE id = \(id) AND account = \(account)\(raw: dialect.forUpdate)")
                ).first
            else { return nil }
            var cache = document.cache
            try change(&cache)
            let written = cache
            let data = try data(written, kubernetes: kubernetes ?? document.kubernetes)
            _ = try await Self.namingUniquely(written) {
                try await session.execute("UPDATE caches SET \(Self.table.assignments(written, data: data)) WHERE id = \(id)")
            }
            try await Self.index(written, in: session)
            cache.revision = try await session.rows("SELECT revision FROM caches WHERE id = \(id)").first?.int64("revision")
            return cache
        }
    }

    public func get(id: String, account: String) async throws -> ImageCache? {
        try decode(try await database.rows("SELECT id, data, revision FROM caches WHERE id = \(id) AND account = \(account)")).first
    }

    public func list(account: String, query: CacheQuery) async throws -> (total: Int, caches: [ImageCache]) {
        let (total, documents) = try await documents(account: account, query: query)
        return (total, documents.map(\.cache))
    }

    public func documents(account: String, query: CacheQuery) async throws -> (total: Int, documents: [CacheDocument]) {
        let page = AccountPage(
            table: "caches", account: account, ids: query.ids, names: query.names, statuses: query.statuses?.map(\.rawValue),
            limit: query.limit, offset: query.offset)
        let (total, rows) = try await database.read { try await page.fetch($0) }
        return (total, try documents(rows))
    }

    @discardableResult
    public func delete(id: String, account: String) async throws -> Bool {
        try await database.write { session in
            guard try await session.execute("DELETE FROM caches WHERE id = \(id) AND account = \(account)") == 1 else { return false }
            try await session.execute("DELETE FROM cache_images WHERE cache_id = \(id)")
            return true
        }
    }

    public func serving(account: String, region: String, now: Date) async throws -> [ImageCache] {
        try decode(
            try await database.rows(
                "SELECT id, data, revision FROM caches WHERE account = \(account) AND region = \(region) AND status IN \(list: CacheStatus.serving.map(\.rawValue))"
            )
        ).filter { $0.isServing(at: now) }
    }

    public func all(in statuses: [CacheStatus]) async throws -> [ImageCache] {
        try decode(
            try await database.rows(
                "SELECT id, data, revision FROM caches WHERE status IN \(list: statuses.map(\.rawValue)) ORDER BY creation"))
    }

    /// The account's holders of the images, by the match index (`image`, `account`, `region`
    /// lead it: the images' holders in other accounts are never read), counted, then each
    /// holder's row by its key.
    public func bestMatch(
        account: String, region: String, images: Set<String>, now: Date, minimum: Int? = nil, platform: String = Platform.host.description
    ) async throws -> ImageCache? {
        guard !images.isEmpty else { return nil }
        let needed = min(images.count, max(1, minimum ?? images.count))
        let join = database.dialect == .sqlite ? "CROSS JOIN" : "JOIN"  // SQLite joins in the order written
        // The candidates are ordered by their small columns; only the winner's document is read.
        return try decode(
            try await database.rows(
                """
                SELECT id, data, revision FROM caches WHERE id = (
                  SELECT c.id FROM
                    (SELECT cache_id, COUNT(*) AS held FROM cache_images
                     WHERE image IN \(list: images.sorted()) AND account = \(account) AND region = \(region)
                     GROUP BY cache_id HAVING COUNT(*) >= \(needed)) m
                    \(raw: join) caches c ON c.id = m.cache_id
                  WHERE c.account = \(account) AND c.status IN \(list: CacheStatus.serving.map(\.rawValue))
                    AND (c.expire IS NULL OR c.expire > \(now)) AND COALESCE(c.platform, \(Platform.host.description)) = \(platform)
                  ORDER BY m.held DESC, c.size ASC, c.creation DESC, c.id ASC LIMIT 1)
                """)
        ).first
    }

    public func countByStatus() async throws -> [String: Int] {
        Dictionary(
            try await database.rows("SELECT status, COUNT(*) AS n FROM caches GROUP BY status").map {
                (try $0.string("status"), try $0.int("n"))
            }, uniquingKeysWith: +)
    }

    public func usage(account: String) async throws -> (count: Int, sizeGiB: Int) {
        guard
            let row = try await database.rows(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS s FROM caches WHERE account = \(account)"
            ).first
        else { return (0, 0) }
        return (try row.int("n"), try row.int("s"))
    }

    public func changes(account: String, after revision: Int64) async throws -> [CacheChange] {
        try await History.changes(database, kind: "cache", account: account, after: revision, decode: documents)
    }

    public func revisions() async throws -> (current: Int64, compacted: Int64) {
        guard let row = try await database.rows("SELECT value, compacted FROM revision").first else { return (0, 0) }
        return (try row.int64("value"), try row.int64("compacted"))
    }

    public func compactHistory(keeping: Int) async throws {
        try await database.write { session in
            guard
                let newestForgotten = try await session.rows(
                    "SELECT revision FROM history ORDER BY revision DESC LIMIT 1 OFFSET \(keeping)"
                ).first
            else { return }
            let revision = try newestForgotten.int64("revision")
            try await session.execute("DELETE FROM history WHERE revision <= \(revision)")
            try await session.execute("UPDATE revision SET compacted = \(raw: session.dialect.greatest)(compacted, \(revision))")
        }
    }

    // MARK: - Build queue and claims

    public func queueHeads(perAccount: Int, owner: String, now: Date) async throws -> [ImageCache] {
        try decode(
            try await database.rows(
                """
                SELECT data FROM (
                  SELECT data, creation, ROW_NUMBER() OVER (PARTITION BY account ORDER BY creation, id) AS n
                  FROM caches WHERE status IN \(list: [CacheStatus.pending.rawValue, CacheStatus.updating.rawValue])
                    AND (build_owner IS NULL OR build_owner = \(owner) OR build_lease < \(now))
                ) heads WHERE n <= \(perAccount) ORDER BY creation
                """))
    }

    /// The row is taken `FOR UPDATE SKIP LOCKED` (PostgreSQL): a builder elsewhere claiming it at
    /// this moment makes this claim fail at once rather than wait.
    public func claimBuild(id: String, owner: String, until: Date, now: Date) async throws -> Bool {
        try await database.write { session in
            let free = try await session.rows(
                """
                SELECT id FROM caches WHERE id = \(id) AND status IN \(list: [CacheStatus.pending.rawValue, CacheStatus.updating.rawValue])
                  AND (build_owner IS NULL OR build_owner = \(owner) OR build_lease < \(now))\(raw: session.dialect.forUpdateSkipLocked)
                """)
            guard !free.isEmpty else { return false }
            try await session.execute("UPDATE caches SET build_owner = \(owner), build_lease = \(until) WHERE id = \(id)")
            return true
        }
    }

    public func renewBuildClaims(owner: String, until: Date) async throws {
        try await database.execute("UPDATE caches SET build_lease = \(until) WHERE build_owner = \(owner)")
    }

    public func releaseBuildClaims(owner: String, id: String?) async throws {
        if let id {
            try await database.execute(
                "UPDATE caches SET build_owner = NULL, build_lease = NULL WHERE build_owner = \(owner) AND id = \(id)")
        } else {
            try await database.execute("UPDATE caches SET build_owner = NULL, build_lease = NULL WHERE build_owner = \(owner)")
        }
    }
}
