/// Why a JSON text was refused.
public enum JSONError: Error, Equatable {
    case unexpectedEnd
    case unexpectedByte(offset: Int)
    case invalidString(offset: Int)
    case invalidNumber(offset: Int)
    case tooDeep
    case trailingBytes(offset: Int)

    public var reason: String {
        switch self {
        case .unexpectedEnd: return "JSON ends early"
        case .unexpectedByte(let at): return "unexpected byte at offset \(at)"
        case .invalidString(let at): return "invalid string at offset \(at)"
        case .invalidNumber(let at): return "invalid number at offset \(at)"
        case .tooDeep: return "nested too deeply"
        case .trailingBytes(let at): return "extra bytes after the JSON value at offset \(at)"
        }
    }

    /// What is wrong, for a person looking at `bytes` (the byte found is
    /// shown; the place is the caller's to say, as line:column).
    package func explanation(in bytes: UnsafeRawBufferPointer) -> String {
        switch self {
        case .unexpectedEnd: return "the text ends early"
        case .unexpectedByte(let at): return "unexpected \(JSONError.shown(at, in: bytes))"
        case .invalidString: return "invalid string (a control character, a bad escape or bad UTF-8)"
        case .invalidNumber: return "invalid number"
        case .tooDeep: return "nested too deeply"
        case .trailingBytes: return "extra text after the value"
        }
    }

    /// The byte at `offset`, quoted when printable.
    package static func shown(_ offset: Int, in bytes: UnsafeRawBufferPointer) -> String {
        guard offset < bytes.count else { return "end of text" }
        let byte = bytes[offset]
        return byte >= 0x20 && byte < 0x7F ? "'\(String(decoding: [byte], as: UTF8.self))'" : "byte \(byte)"
    }

    /// Where it broke, when the scanner knew.
    public var offset: Int? {
        switch self {
        case .unexpectedByte(let at), .invalidString(let at), .invalidNumber(let at), .trailingBytes(let at): return at
        case .unexpectedEnd, .tooDeep: return nil
        }
    }
}

/// A string token: the bytes between the quotes, still escaped.
package struct JSONStringToken: Equatable {
    package var start: Int
    package var end: Int
    package var hasEscapes: Bool
    package var count: Int { end - start }
}

/// A tokenizer over bytes that never allocates: the heartbeat path parses
/// with it directly, and `JSONValue` builds trees on top of it.
package struct JSONScanner {
    package let bytes: UnsafeRawBufferPointer
    package var offset = 0

    package init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    package mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    /// The next significant byte, without consuming it.
    package mutating func peek() throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard offset < bytes.count else { throw .unexpectedEnd }
        return bytes[offset]
    }

    package mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard try peek() == byte else { throw .unexpectedByte(offset: offset) }
        offset += 1
    }

    /// Consumes `byte` if it is next.
    package mutating func consume(_ byte: UInt8) throws(JSONError) -> Bool {
        guard try peek() == byte else { return false }
        offset += 1
        return true
    }

    /// After the last value: only whitespace may follow.
    package mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        if offset != bytes.count { throw .trailingBytes(offset: offset) }
    }

    /// A string: checks escapes and UTF-8 (no overlong forms, no surrogates,
    /// no control characters) and returns its raw range.
    package mutating func string() throws(JSONError) -> JSONStringToken {
        try expect(UInt8(ascii: "\""))
        let start = offset
        var hasEscapes = false
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                return JSONStringToken(start: start, end: offset - 1, hasEscapes: hasEscapes)
            case UInt8(ascii: "\\"):
                hasEscapes = true
                try escape()
            case 0..<0x20:
                throw .invalidString(offset: offset)
            case 0x20..<0x80:
                offset += 1
            default:
                try utf8Sequence()
            }
        }
        throw .unexpectedEnd
    }

    private mutating func escape() throws(JSONError) {
        guard offset + 1 < bytes.count else { throw .unexpectedEnd }
        switch bytes[offset + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            offset += 2
        case UInt8(ascii: "u"):
            let unit = try hex4(at: offset + 2)
            offset += 6
            if (0xD800..<0xDC00).contains(unit) {
                // A high surrogate must be followed by an escaped low one.
                guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u"),
                      (0xDC00..<0xE000).contains(try hex4(at: offset + 2)) else { throw .invalidString(offset: offset) }
                offset += 6
            } else if (0xDC00..<0xE000).contains(unit) {
                throw .invalidString(offset: offset)
            }
        default:
            throw .invalidString(offset: offset)
        }
    }

    func hex4(at index: Int) throws(JSONError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw .unexpectedEnd }
        var value: UInt32 = 0
        for i in index..<index + 4 {
            let b = bytes[i]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw .invalidString(offset: i)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private mutating func utf8Sequence() throws(JSONError) {
        let lead = bytes[offset]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw .invalidString(offset: offset)
        }
        guard offset + length <= bytes.count else { throw .invalidString(offset: offset) }
        let second = bytes[offset + 1]
        guard second >= low && second <= high else { throw .invalidString(offset: offset) }
        for i in 2..<length where bytes[offset + i] & 0xC0 != 0x80 { throw .invalidString(offset: offset) }
        offset += length
    }

    /// A number. Integers come back exact; a fraction or exponent (or an
    /// integer outside Int64) comes back as `nil` with its range consumed.
    package mutating func number() throws(JSONError) -> (integer: Int64?, start: Int, end: Int) {
        skipWhitespace()
        let start = offset
        var negative = false
        if offset < bytes.count && bytes[offset] == UInt8(ascii: "-") { negative = true; offset += 1 }
        guard offset < bytes.count else { throw .unexpectedEnd }
        let firstDigit = offset
        var magnitude: UInt64 = 0
        var overflow = false
        while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[offset] - 0x30))
            overflow = overflow || o1 || o2
            magnitude = s
            offset += 1
        }
        let digits = offset - firstDigit
        guard digits > 0 else { throw .invalidNumber(offset: start) }
        if digits > 1 && bytes[firstDigit] == 0x30 { throw .invalidNumber(offset: start) }
        var integral = true
        if offset < bytes.count && bytes[offset] == UInt8(ascii: ".") {
            integral = false
            offset += 1
            guard try digitRun() > 0 else { throw .invalidNumber(offset: start) }
        }
        if offset < bytes.count && (bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E")) {
            integral = false
            offset += 1
            if offset < bytes.count && (bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-")) { offset += 1 }
            guard try digitRun() > 0 else { throw .invalidNumber(offset: start) }
        }
        guard integral, !overflow else { return (nil, start, offset) }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return (nil, start, offset) }
            return (magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude), start, offset)
        }
        guard magnitude <= UInt64(Int64.max) else { return (nil, start, offset) }
        return (Int64(magnitude), start, offset)
    }

    private mutating func digitRun() throws(JSONError) -> Int {
        let start = offset
        while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 { offset += 1 }
        return offset - start
    }

    /// A literal: `true`, `false` or `null`.
    mutating func literal(_ word: StaticString) throws(JSONError) {
        skipWhitespace()
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw .unexpectedEnd }
        let expected = word.utf8Start
        for i in 0..<count where bytes[offset + i] != expected[i] { throw .unexpectedByte(offset: offset + i) }
        offset += count
    }

    /// Skips one value of any kind, checked as `string()` and `number()`
    /// check theirs (duplicate keys inside it are not looked for). Nesting
    /// deeper than `maximumSkipDepth` is refused, which keeps a skipped value
    /// within what `JSONValue` reads.
    package mutating func skipValue(depth: Int = 0) throws(JSONError) {
        guard depth < JSONScanner.maximumSkipDepth else { throw .tooDeep }
        switch try peek() {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"):
            offset += 1
            if try consume(UInt8(ascii: "}")) { return }
            repeat {
                _ = try string()
                try expect(UInt8(ascii: ":"))
                try skipValue(depth: depth + 1)
            } while try consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            offset += 1
            if try consume(UInt8(ascii: "]")) { return }
            repeat { try skipValue(depth: depth + 1) } while try consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    static let maximumSkipDepth = 16

    /// Whether a raw string token equals `text` (ASCII, unescaped).
    package func token(_ token: JSONStringToken, equals text: StaticString) -> Bool {
        guard !token.hasEscapes, token.count == text.utf8CodeUnitCount else { return false }
        let expected = text.utf8Start
        for i in 0..<token.count where bytes[token.start + i] != expected[i] { return false }
        return true
    }

    /// The decoded text of a string token (allocates).
    package func decode(_ token: JSONStringToken) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[token.start..<token.end])
        guard token.hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = token.start
        while i < token.end {
            let b = bytes[i]
            guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                // Validated by string(): four hex digits, surrogates paired.
                var scalar = (try? hex4(at: i)) ?? 0xFFFD
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    let low = (try? hex4(at: i + 2)) ?? 0xDC00
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                appendUTF8(scalar, to: &out)
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80: out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6)); out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12)); out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18)); out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F)); out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
