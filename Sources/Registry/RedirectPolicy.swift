import Foundation

/// Where a redirect may lead: at most `maxRedirects` in a row, only to http(s), never from
/// https down to http. Whether `Authorization` goes along is decided by the caller, by origin.
public enum RedirectPolicy {
    /// The URL to follow after redirect number `count` (1-based) from `current` to `location`.
    public static func next(from current: URL, location: String?, count: Int, maxRedirects: Int, host: String) throws(RegistryError) -> URL
    {
        guard let location, let next = URL(string: location, relativeTo: current)?.absoluteURL else {
            throw RegistryError(.protocolViolation, "registry \(host) sent a redirect without a valid Location")
        }
        guard count <= maxRedirects else {
            throw RegistryError(.protocolViolation, "registry \(host) redirected more than \(maxRedirects) times")
        }
        let to = next.scheme?.lowercased()
        guard to == "https" || to == "http" else {
            throw RegistryError(.refused, "registry \(host) redirected to a \(to ?? "scheme-less") URL")
        }
        if current.scheme?.lowercased() == "https" && to == "http" {
            throw RegistryError(
                .refused, "registry \(host) redirected from https to plain http (\(RegistryClient.redacted(next))); refused")
        }
        return next
    }
}
