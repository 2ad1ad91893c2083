import AsyncHTTPClient
import Foundation
import IMCModel
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

import struct Crypto.SHA256

/// A manifest or index as the registry served it.
public struct FetchedManifest: Sendable {
    /// The exact bytes; their SHA-256 is the digest.
    public var data: Data
    public var mediaType: String
    public var digest: Digest
    public var document: ManifestDocument
}

extension RegistryClient {
    static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }

    /// Fetches the manifest or index `reference` (a tag or a digest) of `image`'s repository.
    /// The digest is computed from the bytes received and must equal a pinned digest and the
    /// registry's `Docker-Content-Digest`.
    public func fetchManifest(_ image: ImageReference, reference: String? = nil) async throws -> FetchedManifest {
        let ref = reference ?? image.manifestReference
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.acceptedManifests.joined(separator: ", "))
        let request = Request(
            method: .GET, host: image.registry, path: "/v2/\(image.repository)/manifests/\(ref)", headers: headers,
            scope: Self.pullScope(image.repository), replayable: true)
        let response = try await send(request)
        let code = Int(response.status.code)
        guard code == 200 else {
            throw await statusError(response, what: "image \(image.name):\(ref)", host: image.registry)
        }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: ManifestDocument.maxSize) } catch is NIOTooManyBytesError {
            throw RegistryError(.tooLarge, "manifest of \(image) is larger than \(ManifestDocument.maxSize) bytes; refused")
        } catch {
            throw classify(error, host: image.registry)
        }
        let data = Data(buffer: body)
        let digest = Digest(sha256: SHA256.hash(data: data))
        if let pinned = try? Digest(parsing: ref), pinned != digest {
            throw RegistryError(
                .digestMismatch, "registry \(image.registry) served a manifest with digest \(digest) for \(image.name)@\(pinned)")
        }
        if let header = response.headers.first(name: "Docker-Content-Digest"), header.hasPrefix("sha256:"), header != digest.description {
            throw RegistryError(
                .digestMismatch,
                "registry \(image.registry) says the manifest of \(image) is \(header.truncatedForMessage) but its bytes hash to \(digest)")
        }
        let contentType = response.headers.first(name: "Content-Type")
        let document: ManifestDocument
        do { document = try ManifestDocument.parse(data, mediaType: contentType) } catch {
            throw RegistryError(.protocolViolation, "manifest of \(image) is not acceptable: \(error.message)")
        }
        let mediaType: String
        switch document {
        case .index(let i): mediaType = i.mediaType ?? MediaType.ociIndex
        case .manifest(let m): mediaType = m.mediaType ?? MediaType.ociManifest
        }
        return FetchedManifest(data: data, mediaType: mediaType, digest: digest, document: document)
    }

    /// Fetches a small blob (a config) whole, checking size and digest.
    public func fetchBlob(_ image: ImageReference, _ descriptor: Descriptor, maxSize: Int = ManifestDocument.maxSize) async throws -> Data {
        guard descriptor.size <= Int64(maxSize) else {
            throw RegistryError(
                .tooLarge, "blob \(descriptor.digest) of \(image.name) declares \(descriptor.size) bytes, more than \(maxSize)")
        }
        var collected = Data()
        try await streamBlob(image, descriptor) { chunk in collected.append(contentsOf: chunk.readableBytesView) }
        let digest = Digest(sha256: SHA256.hash(data: collected))
        guard digest == descriptor.digest else {
            throw RegistryError(.digestMismatch, "registry \(image.registry) served blob \(descriptor.digest) with digest \(digest)")
        }
        return collected
    }

    /// Streams blob `descriptor` of `image`'s repository to `consume`, never past its declared
    /// size. A transfer that fails part way is resumed with `Range` when the server answers
    /// exactly 206 with the right `Content-Range`; otherwise it starts again and the bytes already
    /// delivered are skipped, so `consume` sees each byte once, in order. Digests are the
    /// consumer's to check (it sees every byte).
    public func streamBlob(_ image: ImageReference, _ descriptor: Descriptor, consume: (ByteBuffer) async throws -> Void) async throws {
        var delivered: Int64 = 0
        var attempt = 0
        var useRange = true
        while true {
            attempt += 1
            var headers = HTTPHeaders()
            if delivered > 0 && useRange { headers.add(name: "Range", value: "bytes=\(delivered)-") }
            let request = Request(
                method: .GET, host: image.registry, path: "/v2/\(image.repository)/blobs/\(descriptor.digest)", headers: headers,
                scope: Self.pullScope(image.repository), replayable: true, timeout: .hours(24))
            var skip: Int64 = 0
            // `send` has already retried what can be retried before the body starts.
            let response = try await send(request)
            let code = Int(response.status.code)
            if code == 206 && delivered > 0 {
                let expected = "bytes \(delivered)-\(descriptor.size - 1)/\(descriptor.size)"
                guard response.headers.first(name: "Content-Range") == expected else {
                    // Not the range we asked for: start again from the beginning.
                    _ = try? await response.body.collect(upTo: Self.maxSmallBody)
                    useRange = false
                    continue
                }
            } else if code == 200 {
                skip = delivered
            } else {
                throw await statusError(response, what: "blob \(descriptor.digest) of \(image.name)", host: image.registry)
            }
            do {
                // A transfer that moves, but too slowly to be a registry at work (a byte every
                // 20 s keeps a read timeout from firing), is cut as stalled: it would hold a
                // builder for hours.
                let window = Duration.nanoseconds(options.stallTimeout.nanoseconds)
                var windowStart = ContinuousClock.now
                var windowBytes: Int64 = 0
                for try await var chunk in response.body {
                    windowBytes += Int64(chunk.readableBytes)
                    let now = ContinuousClock.now
                    if now - windowStart >= window {
                        if windowBytes < options.minimumBytesPerStallWindow {
                            throw RegistryError(
                                .stalled,
                                "registry \(image.registry) sent only \(windowBytes) bytes of blob \(descriptor.digest) in \(window.components.seconds) s (at least \(options.minimumBytesPerStallWindow) are expected); the transfer was cut"
                            )
                        }
                        windowStart = now
                        windowBytes = 0
                    }
                    if skip > 0 {
                        let drop = Int(min(skip, Int64(chunk.readableBytes)))
                        chunk.moveReaderIndex(forwardBy: drop)
                        skip -= Int64(drop)
                        if chunk.readableBytes == 0 { continue }
                    }
                    guard delivered + Int64(chunk.readableBytes) <= descriptor.size else {
                        throw RegistryError(
                            .protocolViolation,
                            "registry \(image.registry) sent more than the \(descriptor.size) bytes declared for blob \(descriptor.digest)")
                    }
                    do { try await consume(chunk) } catch { throw ConsumerFailure(error: error) }
                    delivered += Int64(chunk.readableBytes)
                }
                guard delivered == descriptor.size else { throw TruncatedTransfer() }
                return
            } catch {
                // Only a transfer that broke is resumed; the consumer's own errors and protocol
                // violations end the fetch.
                if let failure = error as? ConsumerFailure { throw failure.error }
                guard !(error is RegistryError), !(error is CancellationError), isRetryableConnectionError(error) else { throw error }
                let classified =
                    (error is TruncatedTransfer)
                    ? RegistryError(
                        .protocolViolation,
                        "registry \(image.registry) ended blob \(descriptor.digest) after \(delivered) of \(descriptor.size) bytes")
                    : classify(error, host: image.registry)
                let decision = options.retry.decide(
                    attempt: attempt, outcome: .connectionFault, random: options.random(), now: options.now())
                guard case .retry(let wait) = decision else { throw classified }
                logger.debug(
                    "blob transfer interrupted; resuming",
                    metadata: ["digest": "\(descriptor.digest)", "at": "\(delivered)", "error": "\(classified.message)"])
                try await options.sleep(wait)
            }
        }
    }

    /// An error for a response that is not what was asked, with the registry's own error code.
    func statusError(_ response: HTTPClientResponse, what: String, host: String) async -> RegistryError {
        let code = Int(response.status.code)
        let body = (try? await response.body.collect(upTo: Self.maxSmallBody)).map { Data(buffer: $0) } ?? Data()
        struct Errors: Decodable {
            struct E: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [E]?
        }
        let first = (try? JSONDecoder().decode(Errors.self, from: body))?.errors?.first
        let detail = [first?.code, first?.message].compactMap { $0 }.joined(separator: ": ").truncatedForMessage
        let suffix = detail.isEmpty ? "\(code)" : "\(code) \(detail)"
        switch code {
        case 404: return RegistryError(.notFound, "\(what) not found on registry \(host) (\(suffix))")
        case 403: return RegistryError(.denied, "registry \(host) denied access to \(what) (\(suffix))")
        case 401: return RegistryError(.unauthorized, "registry \(host) refused access to \(what) (\(suffix))")
        case 429, 500...599: return RegistryError(.unavailable, "registry \(host) kept failing for \(what) (\(suffix))")
        default: return RegistryError(.protocolViolation, "registry \(host) answered \(suffix) for \(what)")
        }
    }
}

struct TruncatedTransfer: Error {}

/// An error of the consumer's, carried through the transfer loop untouched.
struct ConsumerFailure: Error {
    var error: any Error
}
