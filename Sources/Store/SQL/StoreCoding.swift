import Foundation

/// How documents (caches, instances, disks, nodes) are written in the `data` column: JSON,
/// times as seconds since 1970. One encoder and decoder for every table and both backends.
public enum StoreCoding {
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
}
