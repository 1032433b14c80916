/// A parsed JSON document, for the agent's own files and commands (not the
/// heartbeat path, which scans without building a tree).
public enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// A number with a fraction or exponent, or beyond Int64, kept as text.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order; a duplicate key is refused when parsing.
    case object([(String, JSONValue)])

    public static let maximumDepth = 32

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for i in 0..<x.count where x[i].0 != y[i].0 || x[i].1 != y[i].1 { return false }
            return true
        default: return false
        }
    }

    /// Parses a whole document.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        try withBytes(of: bytes) { (raw) throws(JSONError) -> JSONValue in
            var scanner = JSONScanner(raw)
            let value = try parseValue(&scanner, depth: 0)
            try scanner.expectEnd()
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// One value at the scanner's position (the settings reader reads members one by one).
    package static func parseValue(_ s: inout JSONScanner, depth: Int = 0) throws(JSONError) -> JSONValue {
        guard depth < maximumDepth else { throw .tooDeep }
        switch try s.peek() {
        case UInt8(ascii: "{"):
            return .object(try parseMembers(&s, depth: depth).map { ($0.key, $0.value) })
        case UInt8(ascii: "["):
            s.offset += 1
            var items: [JSONValue] = []
            if try s.consume(UInt8(ascii: "]")) { return .array(items) }
            repeat { items.append(try parseValue(&s, depth: depth + 1)) } while try s.consume(UInt8(ascii: ","))
            try s.expect(UInt8(ascii: "]"))
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(s.decode(try s.string()))
        case UInt8(ascii: "t"):
            try s.literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try s.literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try s.literal("null"); return .null
        default:
            let n = try s.number()
            if let integer = n.integer { return .integer(integer) }
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: s.bytes[n.start..<n.end]), as: UTF8.self))
        }
    }

    /// An object at the scanner's position, member by member with where each
    /// key is: for files whose messages point at a key (the manifest).
    static func parseMembers(_ s: inout JSONScanner, depth: Int = 0) throws(JSONError) -> [JSONMember] {
        try s.expect(UInt8(ascii: "{"))
        var members: [JSONMember] = []
        if try s.consume(UInt8(ascii: "}")) { return members }
        repeat {
            _ = try s.peek()
            let keyOffset = s.offset
            let key = s.decode(try s.string())
            if members.contains(where: { $0.key == key }) { throw .unexpectedByte(offset: keyOffset) }
            try s.expect(UInt8(ascii: ":"))
            members.append(JSONMember(key: key, value: try parseValue(&s, depth: depth + 1), offset: keyOffset))
        } while try s.consume(UInt8(ascii: ","))
        try s.expect(UInt8(ascii: "}"))
        return members
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for (k, v) in members where k == key { return v }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var integerValue: Int64? { if case .integer(let i) = self { return i } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o } else { return nil } }
}

/// An object member and the offset of its key.
package struct JSONMember {
    package var key: String
    package var value: JSONValue
    package var offset: Int
}
