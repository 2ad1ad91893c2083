import Foundation
import IMCAPI
import Testing

/// The responses written directly are, byte for byte, what the encoder writes: every key, its
/// order, nulls and absent optionals, and strings that need escaping.
struct EnvelopeTests {
    static let awkward = "quote \" backslash \\ slash / tab \t newline \n bell \u{07} unicode é 中文 🚀"

    static func view(_ n: Int, full: Bool) -> ImageCacheView {
        ImageCacheView(
            ImageCacheId: "imc-\(n)", ImageCacheName: full ? awkward : "web-\(n)", ImageCacheSize: 20 + n,
            Images: full ? ["nginx:1.25", awkward] : [], CreationTime: "2026-12-07T15:13:56Z",
            ExpireDateTime: full ? "2027-01-01T00:00:00Z" : nil, LastMatchedTime: full ? "2026-12-07T16:00:00Z" : nil,
            SnapshotId: full ? "snap-\(n)" : nil, Status: "Ready", RetentionDays: n,
            Events: full
                ? [
                    ImageCacheEventView(
                        ImageCacheId: "imc-\(n)", Type: "Warning", Reason: "Pulled", Message: awkward,
                        FirstTimestamp: "2026-12-07T15:13:56Z", LastTimestamp: "2026-12-07T15:14:56Z")
                ] : [],
            ImageRegistryCredentials: full
                ? [
                    ImageRegistryCredentialView(Server: "r.example.com", Username: "u", Name: nil),
                    ImageRegistryCredentialView(Server: "s.example.com", Username: awkward, Name: "named"),
                ] : [],
            Tags: full ? [Tag(Key: "k", Value: nil), Tag(Key: "team", Value: awkward)] : [], Progress: 100,
            RefreshIntervalMinutes: n, Platform: "linux/arm64")
    }

    @Test func aPageOfCachesIsWhatTheEncoderWrites() throws {
        for response in [
            DescribeImageCachesResponse(TotalCount: 0, ImageCaches: []),
            DescribeImageCachesResponse(TotalCount: 3, ImageCaches: [Self.view(1, full: true), Self.view(2, full: false)]),
        ] {
            let written = try Envelope.success(response, requestID: "req-1")
            #expect(written == (try Envelope.encoded(response, requestID: "req-1")), "\(String(decoding: written, as: UTF8.self))")
        }
    }

    @Test func aMatchIsWhatTheEncoderWrites() throws {
        for response in [
            GetMostSuitableImageCacheResponse(Found: false, ImageCache: nil),
            GetMostSuitableImageCacheResponse(Found: true, ImageCache: Self.view(7, full: true)),
        ] {
            let written = try Envelope.success(response, requestID: Self.awkward)
            #expect(written == (try Envelope.encoded(response, requestID: Self.awkward)), "\(String(decoding: written, as: UTF8.self))")
        }
    }
}
