import AsyncHTTPClient
import Foundation
import IMCModel
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

import struct Crypto.SHA256

/// How `pushBlob` uploads.
public enum UploadMode: Sendable, Equatable {
    /// One `PUT` with the whole blob.
    case monolithic
    /// `PATCH`es of at most this many bytes, then a closing `PUT`.
    case chunked(Int)
}

extension RegistryClient {
    static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }

    /// Whether the repository already has the blob (`HEAD`).
    public func blobExists(host: String, repository: String, digest: Digest) async throws -> Bool {
        let response = try await send(
            Request(
                method: .HEAD, host: host, path: "/v2/\(repository)/blobs/\(digest)", scope: Self.pushScope(repository), replayable: true))
        switch response.status.code {
        case 200: return true
        case 404: return false
        default: throw await statusError(response, what: "blob \(digest) of \(host)/\(repository)", host: host)
        }
    }

    /// Asks the registry to mount `digest` from repository `from` (cross-repository mount).
    /// Returns false when the registry would rather have it uploaded.
    public func mountBlob(host: String, repository: String, digest: Digest, from: String) async throws -> Bool {
        let response = try await send(
            Request(
                method: .POST, host: host, path: "/v2/\(repository)/blobs/uploads/?mount=\(digest)&from=\(from)",
                headers: ["Content-Length": "0"], scope: Self.pushScope(repository) + " " + Self.pullScope(from), replayable: true))
        _ = try? await response.body.collect(upTo: Self.maxSmallBody)
        switch response.status.code {
        case 201: return true
        case 202: return false
        default: throw await statusError(response, what: "mount of \(digest) into \(host)/\(repository)", host: host)
        }
    }

    /// Uploads `bytes` as blob `digest` (computed when nil) to the repository, monolithically or in chunks.
    @discardableResult
    public func pushBlob(host: String, repository: String, bytes: ByteBuffer, digest: Digest? = nil, mode: UploadMode = .monolithic)
        async throws -> Digest
    {
        let digest = digest ?? Digest(sha256: SHA256.hash(data: bytes.readableBytesView))
        let scope = Self.pushScope(repository)
        let start = try await send(
            Request(
                method: .POST, host: host, path: "/v2/\(repository)/blobs/uploads/", headers: ["Content-Length": "0"], scope: scope,
                replayable: true))
        _ = try? await start.body.collect(upTo: Self.maxSmallBody)
        guard start.status.code == 202, var location = start.headers.first(name: "Location") else {
            throw await statusError(start, what: "upload to \(host)/\(repository)", host: host)
        }
        if case .chunked(let size) = mode, size > 0 {
            var offset = 0
            while offset < bytes.readableBytes {
                let n = min(size, bytes.readableBytes - offset)
                let chunk = bytes.getSlice(at: bytes.readerIndex + offset, length: n)!
                let patch = try await send(
                    Request(
                        method: .PATCH, host: host, path: absolute(location, host: host),
                        headers: [
                            "Content-Type": "application/octet-stream", "Content-Range": "\(offset)-\(offset + n - 1)",
                            "Content-Length": "\(n)",
                        ],
                        body: chunk, scope: scope, replayable: false))
                _ = try? await patch.body.collect(upTo: Self.maxSmallBody)
                guard patch.status.code == 202, let next = patch.headers.first(name: "Location") else {
                    throw await statusError(patch, what: "chunk \(offset) of \(digest) to \(host)/\(repository)", host: host)
                }
                location = next
                offset += n
            }
            let close = try await send(
                Request(
                    method: .PUT, host: host, path: withQuery(absolute(location, host: host), "digest=\(digest)"),
                    headers: ["Content-Length": "0"], scope: scope, replayable: false))
            guard close.status.code == 201 else {
                throw await statusError(close, what: "blob \(digest) to \(host)/\(repository)", host: host)
            }
            _ = try? await close.body.collect(upTo: Self.maxSmallBody)
            return digest
        }
        let put = try await send(
            Request(
                method: .PUT, host: host, path: withQuery(absolute(location, host: host), "digest=\(digest)"),
                headers: ["Content-Type": "application/octet-stream", "Content-Length": "\(bytes.readableBytes)"],
                body: bytes, scope: scope, replayable: false, timeout: .hours(1)))
        guard put.status.code == 201 else { throw await statusError(put, what: "blob \(digest) to \(host)/\(repository)", host: host) }
        _ = try? await put.body.collect(upTo: Self.maxSmallBody)
        return digest
    }

    /// Puts a manifest or index under `reference` (a tag or its digest); returns its digest.
    @discardableResult
    public func pushManifest(host: String, repository: String, reference: String, data: Data, mediaType: String) async throws -> Digest {
        let response = try await send(
            Request(
                method: .PUT, host: host, path: "/v2/\(repository)/manifests/\(reference)",
                headers: ["Content-Type": mediaType, "Content-Length": "\(data.count)"], body: ByteBuffer(data: data),
                scope: Self.pushScope(repository), replayable: true))
        _ = try? await response.body.collect(upTo: Self.maxSmallBody)
        guard response.status.code == 201 else {
            throw await statusError(response, what: "manifest \(reference) to \(host)/\(repository)", host: host)
        }
        return Digest(sha256: SHA256.hash(data: data))
    }

    /// An upload `Location` made absolute against the registry.
    private func absolute(_ location: String, host: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        return baseURL(for: host) + (location.hasPrefix("/") ? location : "/" + location)
    }

    private func withQuery(_ url: String, _ item: String) -> String {
        url + (url.contains("?") ? "&" : "?") + item
    }
}
