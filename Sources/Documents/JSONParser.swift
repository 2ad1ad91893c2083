/// JSON text (RFC 8259, a scalar allowed as the whole document) read straight into a
/// `JSONValue`: strings checked as UTF-8 and their escapes and surrogate pairs decoded, numbers
/// by JSON's grammar, nothing after the value but whitespace, and no deeper than
/// `JSONValue.maximumDepth` (a hostile body must not take the stack). What it refuses is named
/// with the byte where it stopped.
struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    static func parse(_ bytes: some Collection<UInt8>) throws(DocumentError) -> JSONValue {
        // Read in place when the bytes are contiguous (an array, Data), else from a copy.
        let read = { (buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, DocumentError> in
            var parser = JSONParser(buffer)
            do throws(DocumentError) {
                parser.skipSpace()
                let value = try parser.value(depth: 0)
                parser.skipSpace()
                guard parser.at == buffer.count else { throw parser.invalid("text after the value") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        let result = bytes.withContiguousStorageIfAvailable(read) ?? Array(bytes).withUnsafeBufferPointer(read)
        return try result.get()
    }

    func invalid(_ what: String) -> DocumentError { DocumentError("not valid JSON at byte \(at): \(what)") }

    var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    mutating func expect(_ word: StaticString, _ value: JSONValue) throws(DocumentError) -> JSONValue {
        let count = word.utf8CodeUnitCount
        guard at + count <= bytes.count else { throw invalid("the document ends inside a value") }
        for i in 0..<count where bytes[at + i] != word.utf8Start[i] { throw invalid("not a value") }
        at += count
        return value
    }

    mutating func value(depth: Int) throws(DocumentError) -> JSONValue {
        guard let byte = peek else { throw invalid("the document ends where a value was expected") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw invalid("not a value")
        }
    }

    mutating func object(depth: Int) throws(DocumentError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw DocumentError("nested deeper than \(JSONValue.maximumDepth) levels") }
        at += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if peek == UInt8(ascii: "}") {
            at += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard let first = peek else { throw invalid("the document ends inside an object") }
            guard first == UInt8(ascii: "\"") else { throw invalid("a member's name must be a string") }
            let key = try string()
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw invalid("a member's name must be followed by ':'") }
            at += 1
            skipSpace()
            members[key] = try value(depth: depth)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"):
                at += 1
                return .object(members)
            case nil: throw invalid("the document ends inside an object")
            default: throw invalid("expected ',' or '}'")
            }
        }
    }

    mutating func array(depth: Int) throws(DocumentError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw DocumentError("nested deeper than \(JSONValue.maximumDepth) levels") }
        at += 1
        var items: [JSONValue] = []
        skipSpace()
        if peek == UInt8(ascii: "]") {
            at += 1
            return .array(items)
        }
        while true {
            skipSpace()
            items.append(try value(depth: depth))
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"):
                at += 1
                return .array(items)
            case nil: throw invalid("the document ends inside a list")
            default: throw invalid("expected ',' or ']'")
            }
        }
    }

    mutating func string() throws(DocumentError) -> String {
        at += 1
        let start = at
        // Most strings have no escape: checked as UTF-8 and taken whole.
        while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\"), bytes[at] >= 0x20 { at += 1 }
        guard at < bytes.count else { throw invalid("the document ends inside a string") }
        if bytes[at] == UInt8(ascii: "\"") {
            guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self) else {
                throw invalid("a string that is not UTF-8")
            }
            at += 1
            return text
        }
        var out = Array(bytes[start..<at])
        while true {
            guard at < bytes.count else { throw invalid("the document ends inside a string") }
            let byte = bytes[at]
            switch byte {
            case UInt8(ascii: "\""):
                at += 1
                guard let text = String(validating: out, as: UTF8.self) else { throw invalid("a string that is not UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                at += 1
                guard let escaped = peek else { throw invalid("the document ends inside a string") }
                at += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                            throw invalid("a lone surrogate in a string")
                        }
                        at += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw invalid("a lone surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw invalid("a lone surrogate in a string")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw invalid("not a character") }
                    UTF8.encode(unicode) { out.append($0) }
                default: throw invalid("an unknown escape in a string")
                }
            case 0..<0x20: throw invalid("a control character in a string")
            default:
                out.append(byte)
                at += 1
            }
        }
    }

    mutating func hex4() throws(DocumentError) -> UInt32 {
        guard at + 4 <= bytes.count else { throw invalid("the document ends inside a string") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[at]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw invalid("\\u needs four hex digits")
            }
            value = value << 4 | digit
            at += 1
        }
        return value
    }

    mutating func number() throws(DocumentError) -> JSONValue {
        let start = at
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.at
            while let b = parser.peek, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { parser.at += 1 }
            return parser.at - from
        }
        if peek == UInt8(ascii: "-") { at += 1 }
        if peek == UInt8(ascii: "0") {
            at += 1
        } else if digits(&self) == 0 {
            throw invalid("not a number")
        }
        if peek == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw invalid("a number needs digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            at += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw invalid("a number needs digits in its exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        guard let number = Double(text) else { throw invalid("not a number") }
        return .number(number)
    }
}
