import Foundation

/// The image config's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) resolved against the
/// image's own `/etc/passwd` and `/etc/group`, as Docker does: a name must exist there; a
/// number need not; without a group, the user's primary group (or 0) is used.
public enum ImageUser {
    public static func resolve(_ user: String?, passwd: String?, group: String?) throws(RuntimeError) -> (uid: UInt32, gid: UInt32) {
        guard let user, !user.isEmpty else { return (0, 0) }
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let users = table(passwd)
        let uid: UInt32
        var gid: UInt32 = 0
        if let n = UInt32(parts[0]) {
            uid = n
            if let row = users.first(where: { $0.count > 3 && UInt32($0[2]) == n }), let g = UInt32(row[3]) { gid = g }
        } else if let row = users.first(where: { $0.first == parts[0] }), row.count > 3, let u = UInt32(row[2]), let g = UInt32(row[3]) {
            uid = u
            gid = g
        } else {
            throw RuntimeError(.badSpec, "the image's user \"\(parts[0].prefix(60))\" is not in its /etc/passwd")
        }
        if parts.count == 2 {
            if let n = UInt32(parts[1]) {
                gid = n
            } else if let row = table(group).first(where: { $0.first == parts[1] }), row.count > 2, let g = UInt32(row[2]) {
                gid = g
            } else {
                throw RuntimeError(.badSpec, "the image's group \"\(parts[1].prefix(60))\" is not in its /etc/group")
            }
        }
        return (uid, gid)
    }

    static func table(_ text: String?) -> [[String]] {
        (text ?? "").split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
    }
}
