import Foundation
import IMCDocuments

/// JSON text written directly, for the responses served most (a page of image caches, a match):
/// Foundation's encoder was a third of such a request's cost. Each writable type writes its keys
/// in the sorted order `Envelope.encoder()` uses, and `EnvelopeTests` checks, type by type, that
/// the bytes are the encoder's.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `"key":` after a comma unless it is the object's first.
    mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func string(_ s: String) { JSONValue.writeString(s, into: &bytes) }
    mutating func int(_ i: Int) { bytes.append(contentsOf: String(i).utf8) }
    mutating func bool(_ b: Bool) { raw(b ? "true" : "false") }
    mutating func optional(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }
    mutating func array<T>(_ values: [T], _ each: (inout JSONWriter, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            each(&self, v)
        }
        bytes.append(UInt8(ascii: "]"))
    }
    mutating func strings(_ values: [String]) { array(values) { $0.string($1) } }
    mutating func object(_ body: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        body(&self)
        bytes.append(UInt8(ascii: "}"))
    }
}

/// A response that writes its own fields (keys sorted), beside which `Envelope` writes
/// `RequestId`.
public protocol JSONWritableResponse: Encodable {
    /// The fields, each as `"Key":value` with a comma before each but the first; the keys that
    /// sort after `RequestId` are written by `writeFields(after:)`.
    func writeFields(beforeRequestID w: inout JSONWriter)
    func writeFields(afterRequestID w: inout JSONWriter)
}

extension ImageCacheView {
    func write(_ w: inout JSONWriter) {
        w.object { w in
            w.key("CreationTime", first: true)
            w.string(CreationTime)
            w.key("Events")
            w.array(Events) { w, e in
                w.object { w in
                    w.key("FirstTimestamp", first: true)
                    w.string(e.FirstTimestamp)
                    w.key("ImageCacheId")
                    w.string(e.ImageCacheId)
                    w.key("LastTimestamp")
                    w.string(e.LastTimestamp)
                    w.key("Message")
                    w.string(e.Message)
                    w.key("Reason")
                    w.string(e.Reason)
                    w.key("Type")
                    w.string(e.Type)
                }
            }
            w.key("ExpireDateTime")
            w.optional(ExpireDateTime)
            w.key("ImageCacheId")
            w.string(ImageCacheId)
            w.key("ImageCacheName")
            w.string(ImageCacheName)
            w.key("ImageCacheSize")
            w.int(ImageCacheSize)
            w.key("ImageCacheType")
            w.string(ImageCacheType)
            w.key("ImageRegistryCredentials")
            w.array(ImageRegistryCredentials) { w, c in
                w.object { w in
                    w.key("Name", first: true)
                    w.optional(c.Name)
                    w.key("Server")
                    w.string(c.Server)
                    w.key("Username")
                    w.string(c.Username)
                }
            }
            w.key("Images")
            w.strings(Images)
            w.key("LastMatchedTime")
            w.optional(LastMatchedTime)
            w.key("Platform")
            w.string(Platform)
            w.key("Progress")
            w.int(Progress)
            w.key("RefreshIntervalMinutes")
            w.int(RefreshIntervalMinutes)
            w.key("RetentionDays")
            w.int(RetentionDays)
            w.key("SnapshotId")
            w.optional(SnapshotId)
            w.key("Snapshotter")
            w.string(Snapshotter)
            w.key("Status")
            w.string(Status)
            w.key("Tags")
            w.array(Tags) { w, t in
                w.object { w in
                    w.key("Key", first: true)
                    w.string(t.Key)
                    if let value = t.Value {
                        w.key("Value")
                        w.string(value)
                    }
                }
            }
        }
    }
}

extension DescribeImageCachesResponse: JSONWritableResponse {
    public func writeFields(beforeRequestID w: inout JSONWriter) {
        w.key("ImageCaches", first: true)
        w.array(ImageCaches) { w, c in c.write(&w) }
    }
    public func writeFields(afterRequestID w: inout JSONWriter) {
        w.key("TotalCount")
        w.int(TotalCount)
    }
}

extension GetMostSuitableImageCacheResponse: JSONWritableResponse {
    public func writeFields(beforeRequestID w: inout JSONWriter) {
        w.key("Found", first: true)
        w.bool(Found)
        w.key("ImageCache")
        if let ImageCache { ImageCache.write(&w) } else { w.raw("null") }
    }
    public func writeFields(afterRequestID w: inout JSONWriter) {}
}
