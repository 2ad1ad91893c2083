import Foundation

/// The Cloud API's envelope: `{"Response": {...fields..., "RequestId": "..."}}`, and on failure
/// `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}` (HTTP 200, as the real service).
public enum Envelope {
    /// The encoder every response is written with (sorted keys, unescaped slashes).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// A success: the response's fields with the request id beside them (written directly for
    /// the responses that can, byte for byte what the encoder writes).
    public static func success<R: Encodable>(_ response: R, requestID: String) throws -> Data {
        guard let writable = response as? any JSONWritableResponse else {
            return try encoder().encode(Outgoing(Response: Fields(fields: response, RequestId: requestID)))
        }
        var w = JSONWriter(capacity: 4096)
        w.raw(#"{"Response":{"#)
        let start = w.bytes.count
        writable.writeFields(beforeRequestID: &w)
        w.key("RequestId", first: w.bytes.count == start)
        w.string(requestID)
        writable.writeFields(afterRequestID: &w)
        w.raw("}}")
        return Data(w.bytes)
    }

    /// What `success` writes through the encoder alone (for the tests that compare the two).
    public static func encoded<R: Encodable>(_ response: R, requestID: String) throws -> Data {
        try encoder().encode(Outgoing(Response: Fields(fields: response, RequestId: requestID)))
    }

    /// A failure.
    public static func failure(_ error: APIError, requestID: String) -> Data {
        (try? encoder().encode(Failure(Response: .init(Error: .init(Code: error.code, Message: error.message), RequestId: requestID))))
            ?? Data("{}".utf8)
    }

    /// Reads an answer: the response's fields, or the error the service answered.
    public static func decode<R: Decodable>(_ type: R.Type, from data: Data) throws -> R {
        if let failure = try? JSONDecoder().decode(Failure.self, from: data) {
            throw APIError(failure.Response.Error.Code, failure.Response.Error.Message)
        }
        return try JSONDecoder().decode(Incoming<R>.self, from: data).Response
    }

    struct Outgoing<R: Encodable>: Encodable {
        var Response: R
    }

    struct Incoming<R: Decodable>: Decodable {
        var Response: R
    }

    /// A response's own fields, flattened beside `RequestId`.
    struct Fields<R: Encodable>: Encodable {
        var fields: R
        var RequestId: String

        func encode(to encoder: any Encoder) throws {
            try fields.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(RequestId, forKey: Key(stringValue: "RequestId"))
        }
    }

    struct Failure: Codable {
        struct Body: Codable {
            struct ErrorBody: Codable {
                var Code: String
                var Message: String
            }
            var Error: ErrorBody
            var RequestId: String
        }
        var Response: Body
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
