import Foundation
import IMCCache
import IMCModel
import PostgresNIO

/// A `CacheRepository` in PostgreSQL: the same columns and JSON as `SQLiteCacheRepository`;
/// a `modify` holds the row (`FOR UPDATE`) from read to write, so writers on different replicas
/// never undo each other's changes.
public final class PostgreSQLCacheRepository: CacheRepository {
    private let database: PostgreSQLDatabase

    public init(database: PostgreSQLDatabase) { self.database = database }

    private var secrets: SecretBox? { database.secrets }

    static func index(_ cache: ImageCache, in session: PostgreSQLSession) throws {
        try session.execute(
            "UPDATE caches SET expire = $1, platform = $2 WHERE id = $3",
            [.time(cache.expireDateTime), .text(cache.platform), .text(cache.id)])
        try session.execute("DELETE FROM cache_images WHERE cache_id = $1", [.text(cache.id)])
        let images = Array(Set(cache.snapshotID == nil ? [] : cache.normalizedServedImages)).sorted()
        if !images.isEmpty {
            try session.execute(
                "INSERT INTO cache_images (cache_id, image) SELECT $1, unnest($2::text[])", [.text(cache.id), .texts(images)])
        }
    }

    private func values(_ c: ImageCache) throws -> [SQLValue] {
        [
            .text(c.id), .text(c.account), .text(c.region), .text(c.name), .text(c.status.rawValue), .int(Int64(c.size)),
            .time(c.creationTime), .bytes(try SQLiteCacheRepository.encoder.encode(try SecretBox.sealing(c, with: secrets))),
        ]
    }

    private func decode(_ rows: [PostgresRandomAccessRow]) throws -> [ImageCache] {
        try rows.map { row in
            var cache = try SecretBox.sealing(
                try SQLiteCacheRepository.decoder.decode(ImageCache.self, from: try row.data("data")), with: secrets, open: true)
            if row.has("revision") { cache.revision = try row.int64("revision") }
            return cache
        }
    }

    private static func namingUniquely<T>(_ cache: ImageCache, _ write: () throws -> T) throws -> T {
        do { return try write() } catch let e as PostgreSQLError where e.isUniqueViolation && e.constraint == "caches_name" {
            throw StoreError(
                .duplicate, "ImageCacheName \(cache.name) is already the name of another image cache of this account", cause: e)
        }
    }

    private static let upsertColumns = "account = $2, region = $3, name = $4, status = $5, size = $6, creation = $7, data = $8"

    public func insert(_ cache: ImageCache) throws {
        try Self.namingUniquely(cache) {
            try database.write { session in
                try session.execute(
                    "INSERT INTO caches (id, account, region, name, status, size, creation, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    try values(cache))
                try Self.index(cache, in: session)
            }
        }
    }

    public func update(_ cache: ImageCache) throws {
        try Self.namingUniquely(cache) {
            try database.write { session in
                guard try session.affected("UPDATE caches SET \(Self.upsertColumns) WHERE id = $1", try values(cache)) == 1 else {
                    throw StoreError(.gone, "cache \(cache.id) no longer exists")
                }
                try Self.index(cache, in: session)
            }
        }
    }

    @discardableResult
    public func modify(id: String, account: String, _ change: (inout ImageCache) throws -> Void) throws -> ImageCache? {
        try database.write { session in
            guard
                var cache = try decode(
                    try session.rows(
                        "SELECT data, revision FROM caches WHERE id = $1 AND account = $2 FOR UPDATE", [.text(id), .text(account)])
                ).first
            else { return nil }
            try change(&cache)
            let written = cache
            let revision = try Self.namingUniquely(written) {
                try session.rows("UPDATE caches SET \(Self.upsertColumns) WHERE id = $1 RETURNING revision", try values(written))
            }
            try Self.index(cache, in: session)
            cache.revision = try revision.first?.int64("revision")
            return cache
        }
    }

    public func get(id: String, account: String) throws -> ImageCache? {
        try database.read { session in
            try decode(try session.rows("SELECT data, revision FROM caches WHERE id = $1 AND account = $2", [.text(id), .text(account)]))
                .first
        }
    }

    public func list(account: String, query: CacheQuery) throws -> (total: Int, caches: [ImageCache]) {
        let page = PostgreSQLAccountPage(
            table: "caches", account: account, ids: query.ids, names: query.names, statuses: query.statuses?.map(\.rawValue),
            limit: query.limit, offset: query.offset)
        let (total, rows) = try database.read { try page.fetch($0) }
        return (total, try decode(rows))
    }

    @discardableResult
    public func delete(id: String, account: String) throws -> Bool {
        try database.write { session in
            try session.affected("DELETE FROM caches WHERE id = $1 AND account = $2", [.text(id), .text(account)]) == 1
        }
    }

    public func serving(account: String, region: String, now: Date) throws -> [ImageCache] {
        try decode(
            try database.read {
                try $0.rows(
                    "SELECT data FROM caches WHERE account = $1 AND region = $2 AND status = ANY($3)",
                    [.text(account), .text(region), .texts(CacheStatus.serving.map(\.rawValue))])
            }
        ).filter { $0.isServing(at: now) }
    }

    public func all(in statuses: [CacheStatus]) throws -> [ImageCache] {
        try decode(
            try database.read {
                try $0.rows("SELECT data FROM caches WHERE status = ANY($1) ORDER BY creation", [.texts(statuses.map(\.rawValue))])
            })
    }

    public func queueHeads(perAccount: Int, owner: String, now: Date) throws -> [ImageCache] {
        try decode(
            try database.read {
                try $0.rows(
                    """
                    SELECT data FROM (
                      SELECT data, creation, ROW_NUMBER() OVER (PARTITION BY account ORDER BY creation, id) AS n
                      FROM caches WHERE status IN ($1, $2) AND (build_owner IS NULL OR build_owner = $3 OR build_lease < $4)
                    ) heads WHERE n <= $5 ORDER BY creation
                    """,
                    [
                        .text(CacheStatus.pending.rawValue), .text(CacheStatus.updating.rawValue), .text(owner), .time(now),
                        .int(perAccount),
                    ])
            })
    }

    /// The row is taken `FOR UPDATE SKIP LOCKED`: a builder elsewhere claiming it at this moment
    /// makes this claim fail at once rather than wait.
    public func claimBuild(id: String, owner: String, until: Date, now: Date) throws -> Bool {
        try database.write { session in
            let free = try session.rows(
                """
                SELECT id FROM caches WHERE id = $1 AND status IN ($2, $3) AND (build_owner IS NULL OR build_owner = $4 OR build_lease < $5)
                FOR UPDATE SKIP LOCKED
                """,
                [.text(id), .text(CacheStatus.pending.rawValue), .text(CacheStatus.updating.rawValue), .text(owner), .time(now)])
            guard !free.isEmpty else { return false }
            try session.execute(
                "UPDATE caches SET build_owner = $1, build_lease = $2 WHERE id = $3", [.text(owner), .time(until), .text(id)])
            return true
        }
    }

    public func renewBuildClaims(owner: String, until: Date) throws {
        try database.write { try $0.execute("UPDATE caches SET build_lease = $1 WHERE build_owner = $2", [.time(until), .text(owner)]) }
    }

    public func releaseBuildClaims(owner: String, id: String?) throws {
        try database.write {
            if let id {
                try $0.execute(
                    "UPDATE caches SET build_owner = NULL, build_lease = NULL WHERE build_owner = $1 AND id = $2",
                    [.text(owner), .text(id)])
            } else {
                try $0.execute("UPDATE caches SET build_owner = NULL, build_lease = NULL WHERE build_owner = $1", [.text(owner)])
            }
        }
    }

    public func bestMatch(
        account: String, region: String, images: Set<String>, now: Date, minimum: Int? = nil, platform: String = Platform.host.description
    ) throws -> ImageCache? {
        guard !images.isEmpty else { return nil }
        return try decode(
            try database.read {
                try $0.rows(
                    """
                    SELECT c.data FROM caches c
                    JOIN (SELECT cache_id, COUNT(*) AS held FROM cache_images WHERE image = ANY($1)
                          GROUP BY cache_id HAVING COUNT(*) >= $2) m
                      ON m.cache_id = c.id
                    WHERE c.account = $3 AND c.region = $4 AND c.status = ANY($5) AND (c.expire IS NULL OR c.expire > $6)
                      AND COALESCE(c.platform, $7) = $8
                    ORDER BY m.held DESC, c.size ASC, c.creation DESC, c.id ASC LIMIT 1
                    """,
                    [
                        .texts(images.sorted()), .int(min(images.count, max(1, minimum ?? images.count))), .text(account), .text(region),
                        .texts(CacheStatus.serving.map(\.rawValue)), .time(now), .text(Platform.host.description), .text(platform),
                    ])
            }
        ).first
    }

    public func countByStatus() throws -> [String: Int] {
        try database.read { session in
            Dictionary(
                try session.rows("SELECT status, COUNT(*) AS n FROM caches GROUP BY status").map {
                    (try $0.string("status"), try $0.int("n"))
                }, uniquingKeysWith: +)
        }
    }

    public func usage(account: String) throws -> (count: Int, sizeGiB: Int) {
        try database.read { session in
            guard
                let row = try session.rows(
                    "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0)::BIGINT AS s FROM caches WHERE account = $1", [.text(account)]
                ).first
            else { return (0, 0) }
            return (try row.int("n"), try row.int("s"))
        }
    }

    public func changes(account: String, after revision: Int64) throws -> [CacheChange] {
        try database.read { try PostgreSQLHistory.changes($0, kind: "cache", account: account, after: revision, decode: decode) }
    }

    public func revisions() throws -> (current: Int64, compacted: Int64) {
        try database.read { session in
            guard let row = try session.rows("SELECT value, compacted FROM revision").first else { return (0, 0) }
            return (try row.int64("value"), try row.int64("compacted"))
        }
    }

    public func compactHistory(keeping: Int) throws {
        try database.write { session in
            guard
                let newestForgotten = try session.rows(
                    "SELECT revision FROM history ORDER BY revision DESC LIMIT 1 OFFSET $1", [.int(keeping)]
                ).first
            else { return }
            let revision = try newestForgotten.int64("revision")
            try session.execute("DELETE FROM history WHERE revision <= $1", [.int(revision)])
            try session.execute("UPDATE revision SET compacted = GREATEST(compacted, $1)", [.int(revision)])
        }
    }
}

/// One page of an account's rows, filtered and newest first, with the total: as `AccountPage`.
struct PostgreSQLAccountPage {
    var table: String
    var account: String
    var ids: [String]?
    var names: [String]?
    var statuses: [String]?
    var limit: Int
    var offset: Int

    func fetch(_ session: PostgreSQLSession) throws -> (total: Int, rows: [PostgresRandomAccessRow]) {
        var conditions = ["account = $1"]
        var values: [SQLValue] = [.text(account)]
        for (column, list) in [("id", ids), ("name", names), ("status", statuses)] {
            guard let list else { continue }
            values.append(.texts(list))
            conditions.append("\(column) = ANY($\(values.count))")
        }
        let whereClause = conditions.joined(separator: " AND ")
        // The total by the index alone, then the page: a window count over the page's query would
        // read every matching row's data before the limit.
        let total = try session.rows("SELECT COUNT(*) AS n FROM \(table) WHERE \(whereClause)", values).first?.int("n") ?? 0
        guard total > offset, limit > 0 else { return (total, []) }
        let rows = try session.rows(
            """
            SELECT data, revision FROM \(table) WHERE \(whereClause)
            ORDER BY creation DESC, id LIMIT $\(values.count + 1) OFFSET $\(values.count + 2)
            """, values + [.int(limit), .int(offset)])
        return (total, rows)
    }
}

/// The history rows of one kind of row of an account after a revision, in order.
enum PostgreSQLHistory {
    static func changes<Value: Sendable>(
        _ session: PostgreSQLSession, kind: String, account: String, after revision: Int64,
        decode: ([PostgresRandomAccessRow]) throws -> [Value]
    ) throws -> [StoreChange<Value>] {
        let rows = try session.rows(
            "SELECT data, revision, change FROM history WHERE kind = $1 AND account = $2 AND revision > $3 ORDER BY revision",
            [.text(kind), .text(account), .int(revision)])
        return try zip(try decode(rows), rows).map { value, row in
            StoreChange(
                kind: StoreChange<Value>.Kind(rawValue: try row.string("change")) ?? .changed, value: value,
                revision: try row.int64("revision"))
        }
    }
}
