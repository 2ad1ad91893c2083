import Foundation

extension Date {
    /// RFC 3339 in UTC, to the second (`2026-12-07T15:13:56Z`), as the Cloud API and Kubernetes
    /// write times. Written by hand: a `FormatStyle` per call was most of the cost of a list.
    public var rfc3339: String {
        var seconds = time_t(timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec))Z"
    }
}
