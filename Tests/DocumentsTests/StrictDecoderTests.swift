import Foundation
import IMCDocuments
import Testing

/// The one decoder: a field the type has not, a value of the wrong type and an absent required
/// field are each refused by the field's path, whatever the nesting.
struct StrictDecoderTests {
    struct Env: Decodable, Equatable {
        var Name: String
        var Value: String?
    }

    enum Policy: String, StrictEnum {
        case always = "Always"
        case never = "Never"
    }

    struct Container: Decodable, Equatable {
        var Name: String
        var Image: String
        var Commands: [String]?
        var Cpu: Double?
        var Env: [Env]?
        var Labels: [String: String]?
        var Extra: JSONValue?
    }

    struct Request: Decodable, Equatable {
        var Containers: [Container]
        var Replicas: Int?
        var Debug: Bool?
        var Policy: Policy?
        var Port: UInt16?
    }

    func decode(_ json: String, unknown: StrictDecoder.UnknownFields = .refuse) throws(DecodingProblem) -> Request {
        try StrictDecoder(unknownFields: unknown).decode(Request.self, json: Array(json.utf8))
    }

    @Test func aWellFormedRequestIsRead() throws {
        let r = try decode(
            #"{"Containers":[{"Name":"a","Image":"nginx","Commands":["sh"],"Cpu":0.5,"Env":[{"Name":"K"}],"Labels":{"x":"y"},"Extra":{"any":[1,null]}}],"Replicas":2,"Debug":false,"Policy":"Never","Port":8080}"#
        )
        #expect(r.Containers[0].Env == [Env(Name: "K", Value: nil)])
        #expect(r.Containers[0].Extra == ["any": [1, .null]])
        #expect(r.Replicas == 2 && r.Debug == false && r.Policy == .never && r.Port == 8080)
    }

    @Test(arguments: [
        (#"{}"#, "Containers is required"),
        (#"{"Containers":null}"#, "Containers is required"),
        (#"{"Containers":[{"Name":"a"}]}"#, "Containers[0].Image is required"),
        (#"{"Containers":{"Name":"a"}}"#, #"Containers must be a list of objects, not {"Name":"a"}"#),
        (#"{"Containers":[5]}"#, "Containers[0] must be an object, not 5"),
        (#"{"Containers":[{"Name":"a","Image":7}]}"#, "Containers[0].Image must be a string, not 7"),
        (#"{"Containers":[{"Name":"a","Image":"x","Commands":"sh"}]}"#, #"Containers[0].Commands must be a list of strings, not "sh""#),
        (#"{"Containers":[{"Name":"a","Image":"x","Commands":["sh",1]}]}"#, "Containers[0].Commands[1] must be a string, not 1"),
        (#"{"Containers":[{"Name":"a","Image":"x","Cpu":"1"}]}"#, #"Containers[0].Cpu must be a number, not "1""#),
        (#"{"Containers":[{"Name":"a","Image":"x","Labels":{"k":1}}]}"#, "Containers[0].Labels.k must be a string, not 1"),
        (#"{"Containers":[{"Name":"a","Image":"x","Env":[{"Name":"K","Colour":1}]}]}"#, "Containers[0].Env[0].Colour is not a field"),
        (#"{"Containers":[],"Replicas":1.5}"#, "Replicas must be an integer, not 1.5"),
        (#"{"Containers":[],"Replicas":true}"#, "Replicas must be an integer, not true"),
        (#"{"Containers":[],"Replicas":1e300}"#, "Replicas must be an integer, not 1e+300"),
        (#"{"Containers":[],"Debug":"true"}"#, #"Debug must be true or false, not "true""#),
        (#"{"Containers":[],"Policy":"Sometimes"}"#, #"Policy "Sometimes" is not one of Always, Never"#),
        (#"{"Containers":[],"Port":70000}"#, "Port must be from 0 to 65535, not 70000"),
        (#"{"Containers":[],"Colour":"blue"}"#, "Colour is not a field"),
        (#"{"Containers":[],"Colour":null}"#, "Colour is not a field"),
        (#"[1]"#, "the document must be an object, not [1]"),
        (#"{"#, "not valid JSON at byte 1: the document ends inside an object"),
    ])
    func aBadFieldIsRefusedByItsPath(json: String, message: String) {
        #expect {
            _ = try decode(json)
        } throws: { error in
            (error as? DecodingProblem)?.message == message
        }
    }

    @Test func theProblemsKindAndPathAreForTheDoorToMap() {
        do {
            _ = try decode(#"{"Containers":[{"Name":"a","Image":"x","Env":[{"Name":"K","Colour":1}]}]}"#)
            Issue.record("decoded")
        } catch {
            #expect(error.kind == .unknownField)
            #expect(error.path == "Containers[0].Env[0].Colour")
        }
    }

    @Test func unknownFieldsCanBeSkippedForDocumentsOthersWrite() throws {
        let r = try decode(#"{"Containers":[{"Name":"a","Image":"x","Later":1}],"Colour":"blue"}"#, unknown: .ignore)
        #expect(r.Containers[0].Image == "x")
    }

    @Test func aDocumentTooDeepIsRefusedNotRecursedInto() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: DocumentError.self) { try JSONValue.parseJSON(Array(deep.utf8)) }
        let deepYAML = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(throws: DocumentError.self) { try JSONValue.parseYAML(deepYAML) }
    }

    @Test func aYAMLBodyWhoseAliasesWouldExplodeIsRefusedNotExpanded() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<12 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(throws: DocumentError.self, "10^12 values were asked for") { try JSONValue.parseYAML(text) }
        #expect(
            try JSONValue.parseYAML("spec: {images: [nginx], size: 20, ratio: 0.5, on: true, none: ~}") == [
                "spec": ["images": ["nginx"], "size": 20, "ratio": .number(0.5), "on": true, "none": .null]
            ])
    }
}

/// A secret written with the wrong type is named by its path and its kind, never its value.
struct SecretValueTests {
    struct Login: Decodable {
        var user: String
        var password: String
        var secretKey: String?
    }

    @Test func aMistypedSecretIsNotEchoed() throws {
        for (json, field) in [
            (#"{"user":"u","password":918273645}"#, "password"), (#"{"user":"u","password":"p","secretKey":[918273645]}"#, "secretKey"),
        ] {
            do {
                _ = try StrictDecoder().decode(Login.self, json: Array(json.utf8))
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.message.hasPrefix("\(field) must be a string, not a"), "\(error.message)")
                #expect(!error.message.contains("918273645"), "\(error.message)")
            }
        }
        #expect(throws: DecodingProblem.self) { try StrictDecoder().decode(Login.self, json: Array(#"{"user":5,"password":"p"}"#.utf8)) }
    }
}

/// The encoder's output is what Foundation's encoder writes (keys sorted), without its text.
struct JSONValueEncoderTests {
    struct Sample: Codable, Equatable {
        var name: String
        var count: Int
        var ratio: Double
        var ok: Bool
        var missing: String?
        var tags: [String]
        var labels: [String: String]
        var nested: [Nested]
        struct Nested: Codable, Equatable {
            var id: Int64
            var raw: JSONValue
        }
    }

    @Test func aTypedValueEncodesAsFoundationWritesIt() throws {
        let sample = Sample(
            name: "x", count: 3, ratio: 0.5, ok: true, missing: nil, tags: ["a", "b"], labels: ["k": "v"],
            nested: [.init(id: 7, raw: ["any": [1, "two"]])])
        let mine = try JSONValueEncoder().encode(sample)
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys]
        #expect(String(decoding: mine.bytes, as: UTF8.self) == String(decoding: try foundation.encode(sample), as: UTF8.self))
        #expect(try StrictDecoder().decode(Sample.self, from: mine) == sample, "and it reads back")
    }
}

/// The byte encoder writes what the tree encoder makes, member for member, without the tree:
/// nested values, nil and empty values, lists with nil, maps, escapes, containers opened by
/// hand (a nested container closed only when its parent moves on).
struct JSONBytesEncoderTests {
    struct Empty: Codable, Equatable {
        func encode(to encoder: any Encoder) throws {}
    }

    struct ByHand: Encodable {
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: JSONBytesEncoderTests.Keys.self)
            var inner = c.nestedContainer(keyedBy: JSONBytesEncoderTests.Keys.self, forKey: .a)
            try inner.encode("in", forKey: .b)
            var list = inner.nestedUnkeyedContainer(forKey: .c)
            try list.encode(1)
            try list.encodeNil()
            try c.encodeNil(forKey: .b)
            var after = c.nestedUnkeyedContainer(forKey: .c)
            try after.encode(Empty())
        }
    }

    enum Keys: String, CodingKey { case a, b, c }

    struct Sample: Encodable {
        var text = "quote \" slash \\ line\n tab\t bell\u{07} é"
        var number = 2.5
        var whole: Int64 = -3
        var missing: Int?
        var empty = Empty()
        var emptyList: [Int] = []
        var items: [Empty?] = [Empty(), nil]
        var map = ["k": "v", "z": "w"]
        var nested = JSONBytesEncoderTests.JSONBytesEncoderTests_Nested()
        var byHand = ByHand()
        var raw: JSONValue = ["any": [1, "two", .null]]
        var date = Date(timeIntervalSince1970: 1_700_000_000)
    }

    struct JSONBytesEncoderTests_Nested: Encodable {
        var inner = [["deep": [true, false]]]
        var none: String? = nil
    }

    @Test func itWritesEveryMemberAsJSONSaysAndLeavesOutWhatIsNot() throws {
        let bytes = try JSONBytesEncoder().encode(Sample())
        let read = try JSONValue.parseJSON(bytes)
        let expected: JSONValue = [
            "text": .string("quote \" slash \\ line\n tab\t bell\u{07} é"), "number": .number(2.5), "whole": -3, "emptyList": [],
            "items": [.null, .null], "map": ["k": "v", "z": "w"], "nested": ["inner": [["deep": [true, false]]]],
            "byHand": ["a": ["b": "in", "c": [1, .null]], "b": .null, "c": [.null]], "raw": ["any": [1, "two", .null]],
            "date": "2023-11-14T22:13:20Z",
        ]
        #expect(read == expected, "\(String(decoding: bytes, as: UTF8.self))")
        #expect(try JSONValueEncoder().encode(Sample()) == expected, "the tree form is the same")
    }

    @Test func aScalarAndNothingAreDocumentsToo() throws {
        #expect(try JSONBytesEncoder().encode("x") == Array(#""x""#.utf8))
        #expect(try JSONBytesEncoder().encode(Empty()) == Array("null".utf8))
        #expect(try JSONBytesEncoder().encode([Int]()) == Array("[]".utf8))
    }
}

/// imc's JSON reader against Foundation's: the same values for what both take, a refusal that
/// names the byte for what JSON does not allow, and no stack taken by depth.
struct JSONParserTests {
    @Test(arguments: [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#, "[]", "{}", #""text""#, "-0.5e-3", "1234567890123",
        #"{"esc":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#, " \n\t[ 1 , 2 ]\r\n", #"{"dup":1,"dup":2}"#, #""é and 😀""#,
        "[1E2, 0, -0, 1.25]",
    ])
    func itReadsWhatFoundationReads(text: String) throws {
        let mine = try JSONValue.parseJSON(Array(text.utf8))
        // Foundation's reading of the text and of what imc writes back from its own reading agree.
        let theirs = try JSONSerialization.data(
            withJSONObject: try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]),
            options: [.sortedKeys, .fragmentsAllowed])
        let again = try JSONSerialization.data(
            withJSONObject: try JSONSerialization.jsonObject(with: Data(mine.bytes), options: [.fragmentsAllowed]),
            options: [.sortedKeys, .fragmentsAllowed])
        #expect(theirs == again, "\(text) read as \(mine)")
    }

    @Test(arguments: [
        ("", "not valid JSON at byte 0: the document ends where a value was expected"),
        ("[1,]", "not valid JSON at byte 3: not a value"),
        (#"{"a" 1}"#, "not valid JSON at byte 5: a member's name must be followed by ':'"),
        ("{a:1}", "not valid JSON at byte 1: a member's name must be a string"),
        ("[1 2]", "not valid JSON at byte 3: expected ',' or ']'"),
        ("01", "not valid JSON at byte 1: text after the value"),
        ("1.", "not valid JSON at byte 2: a number needs digits after '.'"),
        ("tru", "not valid JSON at byte 0: the document ends inside a value"),
        (#""a\u12zz""#, #"not valid JSON at byte 6: \u needs four hex digits"#),
        (#""\ud800x""#, "not valid JSON at byte 7: a lone surrogate in a string"),
        ("\"a\tb\"", "not valid JSON at byte 2: a control character in a string"),
        (#""\q""#, "not valid JSON at byte 3: an unknown escape in a string"),
        ("[1] x", "not valid JSON at byte 4: text after the value"),
        ("NaN", "not valid JSON at byte 0: not a value"),
    ])
    func whatJSONDoesNotAllowIsRefusedAtItsByte(text: String, message: String) {
        #expect {
            _ = try JSONValue.parseJSON(Array(text.utf8))
        } throws: { error in
            (error as? DocumentError)?.message == message
        }
    }

    @Test func invalidUTF8AndDepthAreRefused() {
        #expect(throws: DocumentError.self) { try JSONValue.parseJSON([0x22, 0xFF, 0x22]) }
        #expect(throws: DocumentError.self) { try JSONValue.parseJSON([0x22, 0xC3, 0x5C, 0x6E, 0x22]) }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect {
            _ = try JSONValue.parseJSON(Array(deep.utf8))
        } throws: { error in
            (error as? DocumentError)?.message == "nested deeper than \(JSONValue.maximumDepth) levels"
        }
        let allowed = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect((try? JSONValue.parseJSON(Array(allowed.utf8))) != nil)
    }
}
