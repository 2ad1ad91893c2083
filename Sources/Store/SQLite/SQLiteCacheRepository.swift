import Foundation
import GRDB
import IMCCache
import IMCModel

/// A `CacheRepository` in SQLite (WAL, `synchronous=FULL`): indexed columns for what queries
/// filter on, and the whole cache as JSON beside them.
public final class SQLiteCacheRepository: CacheRepository {
    private let pool: DatabasePool
    /// Seals registry passwords before a row is written and opens them when it is read.
    private let secrets: SecretBox?

    /// Opens (creating and migrating) the database at `path`.
    public convenience init(path: String) throws { self.init(database: try SQLiteDatabase(path: path)) }

    public init(database: SQLiteDatabase) {
        pool = database.pool
        secrets = database.secrets
    }

    /// Keeps the match index (normalised images, expiry) in step with a cache row.
    static func index(_ cache: ImageCache, in db: Database) throws {
        try db.execute(
            sql: "UPDATE caches SET expire = ?, platform = ? WHERE id = ?",
            arguments: [cache.expireDateTime?.timeIntervalSince1970, cache.platform, cache.id])
        try db.execute(sql: "DELETE FROM cache_images WHERE cache_id = ?", arguments: [cache.id])
        // What the snapshot holds (nothing without one): an update's new images match only once
        // they are built.
        for image in Set(cache.snapshotID == nil ? [] : cache.normalizedServedImages) {
            try db.execute(sql: "INSERT INTO cache_images (cache_id, image) VALUES (?, ?)", arguments: [cache.id, image])
        }
    }

    public func bestMatch(
        account: String, region: String, images: Set<String>, now: Date, minimum: Int? = nil, platform: String = Platform.host.description
    ) throws -> ImageCache? {
        guard !images.isEmpty else { return nil }
        let marks = images.map { _ in "?" }.joined(separator: ", ")
        var arguments: [any DatabaseValueConvertible] = Array(images)
        arguments += [min(images.count, max(1, minimum ?? images.count)), account, region]
        arguments += CacheStatus.serving.map(\.rawValue)
        arguments += [now.timeIntervalSince1970, Platform.host.description, platform]
        return try pool.read { db in
            try self.decode(
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT c.data FROM caches c
                        JOIN (SELECT cache_id, COUNT(*) AS held FROM cache_images WHERE image IN (\(marks))
                              GROUP BY cache_id HAVING COUNT(*) >= ?) m
                          ON m.cache_id = c.id
                        WHERE c.account = ? AND c.region = ? AND c.status IN (?, ?, ?) AND (c.expire IS NULL OR c.expire > ?)
                          AND COALESCE(c.platform, ?) = ?
                        ORDER BY m.held DESC, c.size ASC, c.creation DESC, c.id ASC LIMIT 1
                        """, arguments: StatementArguments(arguments))
            ).first
        }
    }

    public func usage(account: String) throws -> (count: Int, sizeGiB: Int) {
        try pool.read { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS s FROM caches WHERE account = ?", arguments: [account])
            return (row?["n"] ?? 0, row?["s"] ?? 0)
        }
    }

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .secondsSince1970
        return e
    }()
    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return d
    }()

    private func arguments(_ c: ImageCache) throws -> StatementArguments {
        [
            c.id, c.account, c.region, c.name, c.status.rawValue, c.size, c.creationTime.timeIntervalSince1970,
            try Self.encoder.encode(try SecretBox.sealing(c, with: secrets)),
        ]
    }

    public func insert(_ cache: ImageCache) throws {
        try Self.namingUniquely(cache) {
            try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO caches (id, account, region, name, status, size, creation, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    arguments: try self.arguments(cache))
                try Self.index(cache, in: db)
            }
        }
    }

    public func update(_ cache: ImageCache) throws {
        try Self.namingUniquely(cache) {
            try pool.write { db in
                try db.execute(
                    sql:
                        "UPDATE caches SET account = ?2, region = ?3, name = ?4, status = ?5, size = ?6, creation = ?7, data = ?8 WHERE id = ?1",
                    arguments: try self.arguments(cache))
                guard db.changesCount == 1 else { throw StoreError(.gone, "cache \(cache.id) no longer exists") }
                try Self.index(cache, in: db)
            }
        }
    }

    @discardableResult
    public func modify(id: String, account: String, _ change: (inout ImageCache) throws -> Void) throws -> ImageCache? {
        var written: ImageCache?
        try pool.write { db in
            guard
                var cache = try self.decode(
                    try Row.fetchAll(db, sql: "SELECT data, revision FROM caches WHERE id = ? AND account = ?", arguments: [id, account])
                ).first
            else { return }
            try change(&cache)
            try Self.namingUniquely(cache) {
                try db.execute(
                    sql:
                        "UPDATE caches SET account = ?2, region = ?3, name = ?4, status = ?5, size = ?6, creation = ?7, data = ?8 WHERE id = ?1",
                    arguments: try self.arguments(cache))
            }
            try Self.index(cache, in: db)
            cache.revision = try Int64.fetchOne(db, sql: "SELECT revision FROM caches WHERE id = ?", arguments: [id])
            written = cache
        }
        return written
    }

    /// The unique index on (account, name) turned into the store's error: two writers that both
    /// checked a name free cannot both take it.
    private static func namingUniquely(_ cache: ImageCache, _ write: () throws -> Void) throws {
        do { try write() } catch let e as DatabaseError
            where e.resultCode == .SQLITE_CONSTRAINT && (e.message ?? "").contains("caches.name")
        {
            throw StoreError(
                .duplicate, "ImageCacheName \(cache.name) is already the name of another image cache of this account", cause: e)
        }
    }

    private func decode(_ rows: [Row]) throws -> [ImageCache] {
        try rows.map { row in
            let data: Data = row["data"]
            var cache = try SecretBox.sealing(try Self.decoder.decode(ImageCache.self, from: data), with: secrets, open: true)
            if row.hasColumn("revision") { cache.revision = row["revision"] }
            return cache
        }
    }

    public func changes(account: String, after revision: Int64) throws -> [CacheChange] {
        try pool.read { db in
            try History.changes(db, kind: "cache", account: account, after: revision, decode: self.decode, revisionOf: \.revision)
        }
    }

    public func revisions() throws -> (current: Int64, compacted: Int64) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT value, compacted FROM revision")
            return (row?["value"] ?? 0, row?["compacted"] ?? 0)
        }
    }

    public func compactHistory(keeping: Int) throws {
        try pool.write { db in
            guard
                let newestForgotten = try Int64.fetchOne(
                    db, sql: "SELECT revision FROM history ORDER BY revision DESC LIMIT 1 OFFSET ?", arguments: [keeping])
            else { return }
            try db.execute(sql: "DELETE FROM history WHERE revision <= ?", arguments: [newestForgotten])
            try db.execute(sql: "UPDATE revision SET compacted = MAX(compacted, ?)", arguments: [newestForgotten])
        }
    }

    public func get(id: String, account: String) throws -> ImageCache? {
        try pool.read { db in
            try self.decode(
                try Row.fetchAll(db, sql: "SELECT data, revision FROM caches WHERE id = ? AND account = ?", arguments: [id, account])
            )
            .first
        }
    }

    public func list(account: String, query: CacheQuery) throws -> (total: Int, caches: [ImageCache]) {
        let page = AccountPage(
            table: "caches", account: account, ids: query.ids, names: query.names, statuses: query.statuses?.map(\.rawValue),
            limit: query.limit,
            offset: query.offset)
        return try pool.read { db in
            let (total, rows) = try page.fetch(db)
            return (total, try self.decode(rows))
        }
    }

    @discardableResult
    public func delete(id: String, account: String) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM caches WHERE id = ? AND account = ?", arguments: [id, account])
            let deleted = db.changesCount == 1
            if deleted { try db.execute(sql: "DELETE FROM cache_images WHERE cache_id = ?", arguments: [id]) }
            return deleted
        }
    }

    public func serving(account: String, region: String, now: Date) throws -> [ImageCache] {
        try pool.read { db in
            try self.decode(
                try Row.fetchAll(
                    db, sql: "SELECT data FROM caches WHERE account = ? AND region = ? AND status IN (?, ?, ?)",
                    arguments: StatementArguments([account, region] + CacheStatus.serving.map(\.rawValue))))
        }
        .filter { $0.isServing(at: now) }
    }

    public func countByStatus() throws -> [String: Int] {
        try pool.read { db in
            Dictionary(
                try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM caches GROUP BY status").map {
                    ($0["status"] as String, $0["n"] as Int)
                },
                uniquingKeysWith: +)
        }
    }

    public func all(in statuses: [CacheStatus]) throws -> [ImageCache] {
        try pool.read { db in
            let marks = statuses.map { _ in "?" }.joined(separator: ", ")
            return try self.decode(
                try Row.fetchAll(
                    db, sql: "SELECT data FROM caches WHERE status IN (\(marks)) ORDER BY creation",
                    arguments: StatementArguments(statuses.map(\.rawValue))))
        }
    }

    public func queueHeads(perAccount: Int, owner: String, now: Date) throws -> [ImageCache] {
        try pool.read { db in
            try self.decode(
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT data FROM (
                          SELECT data, creation, ROW_NUMBER() OVER (PARTITION BY account ORDER BY creation, id) AS n
                          FROM caches WHERE status IN (?, ?) AND (build_owner IS NULL OR build_owner = ? OR build_lease < ?)
                        ) WHERE n <= ? ORDER BY creation
                        """,
                    arguments: [
                        CacheStatus.pending.rawValue, CacheStatus.updating.rawValue, owner, now.timeIntervalSince1970, perAccount,
                    ]))
        }
    }

    public func claimBuild(id: String, owner: String, until: Date, now: Date) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE caches SET build_owner = ?, build_lease = ?
                    WHERE id = ? AND status IN (?, ?) AND (build_owner IS NULL OR build_owner = ? OR build_lease < ?)
                    """,
                arguments: [
                    owner, until.timeIntervalSince1970, id, CacheStatus.pending.rawValue, CacheStatus.updating.rawValue, owner,
                    now.timeIntervalSince1970,
                ])
            return db.changesCount == 1
        }
    }

    public func renewBuildClaims(owner: String, until: Date) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE caches SET build_lease = ? WHERE build_owner = ?", arguments: [until.timeIntervalSince1970, owner])
        }
    }

    public func releaseBuildClaims(owner: String, id: String?) throws {
        try pool.write { db in
            if let id {
                try db.execute(
                    sql: "UPDATE caches SET build_owner = NULL, build_lease = NULL WHERE build_owner = ? AND id = ?",
                    arguments: [owner, id])
            } else {
                try db.execute(sql: "UPDATE caches SET build_owner = NULL, build_lease = NULL WHERE build_owner = ?", arguments: [owner])
            }
        }
    }
}
