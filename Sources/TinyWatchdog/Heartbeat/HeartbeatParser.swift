import TinyBase

/// Why a heartbeat datagram was dropped.
public enum HeartbeatError: Error, Equatable {
    case empty
    case tooLarge
    case malformed(JSONError)
    case notAnObject
    /// More unknown fields than a sender could mean (they are otherwise ignored).
    case tooManyUnknownFields
    /// A key written with escapes: every key a heartbeat needs is plain
    /// ASCII, and `"pi\u0064"` must not be ignored as unknown while another
    /// parser reads it as `pid`.
    case escapedKey
    case duplicateField
    case missingField(Field)
    case wrongType(Field)
    case invalidName
    case pidOutOfRange
    case versionOutOfRange
    case commandTooLong

    public enum Field: Equatable, Sendable { case processName, pid, runCommand, version, major, minor, patch }

    /// A number per case, for rate-limiting the log per problem.
    package var code: UInt8 {
        switch self {
        case .empty: return 0
        case .tooLarge: return 1
        case .malformed: return 2
        case .notAnObject: return 3
        case .tooManyUnknownFields: return 4
        case .escapedKey: return 5
        case .duplicateField: return 6
        case .missingField: return 7
        case .wrongType: return 8
        case .invalidName: return 9
        case .pidOutOfRange: return 10
        case .versionOutOfRange: return 11
        case .commandTooLong: return 12
        }
    }

    /// A short reason for the log, one counter per case.
    public var reason: StaticString {
        switch self {
        case .empty: return "empty datagram"
        case .tooLarge: return "datagram too large"
        case .malformed: return "not valid JSON"
        case .notAnObject: return "not a JSON object"
        case .tooManyUnknownFields: return "too many unknown fields"
        case .escapedKey: return "escaped key"
        case .duplicateField: return "duplicate field"
        case .missingField: return "missing field"
        case .wrongType: return "field of the wrong type"
        case .invalidName: return "invalid process_name"
        case .pidOutOfRange: return "pid out of range"
        case .versionOutOfRange: return "version out of range"
        case .commandTooLong: return "run_command too long"
        }
    }
}

/// A refused datagram: why, where it broke (a byte offset), the key whose
/// member it was reading or had just read, and the pid the datagram
/// claimed when that was read before the failure (to name the sender).
package struct HeartbeatRejection: Error, Equatable {
    package var error: HeartbeatError
    package var offset: Int
    package var key: JSONStringToken?
    /// The failure came after a complete member: a "," or "}" was due.
    var afterMember: Bool
    var claimedPID: Int32?

    package init(_ error: HeartbeatError, offset: Int = 0, key: JSONStringToken? = nil, afterMember: Bool = false, claimedPID: Int32? = nil) {
        self.error = error
        self.offset = offset
        self.key = key
        self.afterMember = afterMember
        self.claimedPID = claimedPID
    }

    /// One line for the log: what, where as line:column, which field.
    /// Allocates: for the refusal path only.
    package func describe(_ datagram: UnsafeRawBufferPointer) -> String {
        let keyText = key.map { JSONScanner(datagram).decode($0) }
        let place = "at \(TextPosition(of: offset, in: datagram))"
        switch error {
        case .empty, .tooLarge:
            return "\(error.reason)"
        case .malformed(let json):
            if afterMember, let keyText, case .unexpectedByte = json {
                return "not valid JSON \(place): expected \",\" or \"}\" after field \"\(keyText)\", found \(JSONError.shown(offset, in: datagram))"
            }
            return "not valid JSON \(place)\(keyText.map { " in field \"\($0)\"" } ?? ""): \(json.explanation(in: datagram))"
        case .missingField(let field):
            return "missing field \"\(HeartbeatRejection.name(of: field))\" (object ends \(place))"
        default:
            return "\(error.reason) \(place)\(keyText.map { " (field \"\($0)\")" } ?? "")"
        }
    }

    package static func name(of field: HeartbeatError.Field) -> String {
        switch field {
        case .processName: return "process_name"
        case .pid: return "pid"
        case .runCommand: return "run_command"
        case .version: return "version"
        case .major: return "major"
        case .minor: return "minor"
        case .patch: return "patch"
        }
    }
}

/// A heartbeat read in place: `name` and `runCommand` are ranges of the
/// datagram, so reading one allocates nothing.
package struct Heartbeat {
    package var name: JSONStringToken
    package var pid: Int32
    /// nil when absent or empty: no command to restart with.
    package var runCommand: JSONStringToken?
    package var version: Version
    /// Members the agent does not know, skipped (forward compatibility:
    /// a fleet's SmartMeter code may be newer than some of its agents).
    var unknownFields: Int
}

/// The heartbeat format (DESIGN.md §4):
/// `{"process_name": "ocr", "pid": 444, "run_command": "…", "version": {"major": 1, "minor": 0, "patch": 0}}`
/// strict about the members it knows (types, ranges, no duplicates),
/// skipping members it does not know (any JSON value, up to
/// `maximumUnknownFields` per object).
package enum HeartbeatParser {
    static let maximumDatagram = 2048
    static let maximumCommand = 1024
    static let maximumUnknownFields = 16
    /// Linux's largest possible pid (`PID_MAX_LIMIT` on 64-bit).
    static let maximumPID: Int64 = 4_194_304

    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(HeartbeatRejection) -> Heartbeat {
        guard bytes.count > 0 else { throw HeartbeatRejection(.empty) }
        guard bytes.count <= maximumDatagram else { throw HeartbeatRejection(.tooLarge) }
        var context = Context()
        var s = JSONScanner(bytes)
        do {
            return try parseObject(&s, &context)
        } catch {
            let (reason, offset): (HeartbeatError, Int)
            switch error {
            case .heartbeat(let why, let at): (reason, offset) = (why, at)
            case .json(let why): (reason, offset) = (.malformed(why), why.offset ?? (why == .unexpectedEnd ? bytes.count : s.offset))
            }
            throw HeartbeatRejection(reason, offset: offset, key: context.key, afterMember: context.afterMember,
                                     claimedPID: context.pid)
        }
    }

    /// What the parser had read when it failed, for the refusal's message.
    private struct Context {
        var key: JSONStringToken?
        var afterMember = false
        var pid: Int32?
        var unknown = 0
    }

    private static func parseObject(_ s: inout JSONScanner, _ c: inout Context) throws(ParseFailure) -> Heartbeat {
        guard try lift(s.peek()) == UInt8(ascii: "{") else { throw .heartbeat(.notAnObject, at: s.offset) }
        let objectStart = s.offset
        s.offset += 1
        var name: JSONStringToken?
        var command: JSONStringToken?
        var sawCommand = false
        var version: Version?
        if try lift(s.consume(UInt8(ascii: "}"))) { throw .heartbeat(.missingField(.processName), at: s.offset - 1) }
        repeat {
            let key = try memberKey(&s, &c)
            if s.token(key, equals: "process_name") {
                guard name == nil else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                name = try nameField(&s)
            } else if s.token(key, equals: "pid") {
                guard c.pid == nil else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                let at = s.offset
                let value = try integerField(&s, .pid)
                guard value > 1 && value <= maximumPID else { throw .heartbeat(.pidOutOfRange, at: at) }
                c.pid = Int32(value)
            } else if s.token(key, equals: "run_command") {
                guard !sawCommand else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                sawCommand = true
                guard try lift(s.peek()) == UInt8(ascii: "\"") else { throw .heartbeat(.wrongType(.runCommand), at: s.offset) }
                let token = try lift(s.string())
                guard token.count <= maximumCommand else { throw .heartbeat(.commandTooLong, at: token.start - 1) }
                command = token.count == 0 ? nil : token
            } else if s.token(key, equals: "version") {
                guard version == nil else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                version = try versionField(&s, &c)
                c.key = key
            } else {
                try skipUnknown(key, in: &s, objectStart: objectStart, &c)
            }
            c.afterMember = true
        } while try lift(s.consume(UInt8(ascii: ",")))
        try lift(s.expect(UInt8(ascii: "}")))
        c.afterMember = false
        let end = s.offset - 1
        try lift(s.expectEnd())
        guard let name else { throw .heartbeat(.missingField(.processName), at: end) }
        guard let pid = c.pid else { throw .heartbeat(.missingField(.pid), at: end) }
        guard let version else { throw .heartbeat(.missingField(.version), at: end) }
        return Heartbeat(name: name, pid: pid, runCommand: command, version: version, unknownFields: c.unknown)
    }

    /// `"key":`, remembered as the context; an escaped key is refused.
    private static func memberKey(_ s: inout JSONScanner, _ c: inout Context) throws(ParseFailure) -> JSONStringToken {
        c.afterMember = false
        let key = try lift(s.string())
        guard !key.hasEscapes else { throw .heartbeat(.escapedKey, at: key.start - 1) }
        c.key = key
        try lift(s.expect(UInt8(ascii: ":")))
        return key
    }

    /// Skips the value of a key the parser does not know, unless it is a
    /// second one of that name (found by reading the object's keys again
    /// from its start: allocation-free, and bounded by the cap on unknown fields).
    private static func skipUnknown(_ key: JSONStringToken, in s: inout JSONScanner, objectStart: Int,
                                    _ c: inout Context) throws(ParseFailure) {
        c.unknown += 1
        guard c.unknown <= maximumUnknownFields else { throw .heartbeat(.tooManyUnknownFields, at: key.start - 1) }
        var earlier = JSONScanner(s.bytes)
        earlier.offset = objectStart + 1
        while true {
            guard let other = try? earlier.string(), other.start < key.start else { break }
            if other.count == key.count && s.bytes[other.start..<other.end].elementsEqual(s.bytes[key.start..<key.end]) {
                throw .heartbeat(.duplicateField, at: key.start - 1)
            }
            guard (try? earlier.expect(UInt8(ascii: ":"))) != nil, (try? earlier.skipValue()) != nil,
                  (try? earlier.consume(UInt8(ascii: ","))) == true else { break }
        }
        try lift(s.skipValue())
    }

    private static func nameField(_ s: inout JSONScanner) throws(ParseFailure) -> JSONStringToken {
        let at = s.offset
        guard try lift(s.peek()) == UInt8(ascii: "\"") else { throw .heartbeat(.wrongType(.processName), at: s.offset) }
        let token = try lift(s.string())
        guard !token.hasEscapes, ProcessName.isValid(UnsafeRawBufferPointer(rebasing: s.bytes[token.start..<token.end])) else {
            throw .heartbeat(.invalidName, at: at)
        }
        return token
    }

    private static func integerField(_ s: inout JSONScanner, _ field: HeartbeatError.Field) throws(ParseFailure) -> Int64 {
        let next = try lift(s.peek())
        let at = s.offset
        guard next == UInt8(ascii: "-") || (next >= 0x30 && next <= 0x39) else { throw .heartbeat(.wrongType(field), at: at) }
        guard let value = try lift(s.number()).integer else { throw .heartbeat(.wrongType(field), at: at) }
        return value
    }

    private static func versionField(_ s: inout JSONScanner, _ c: inout Context) throws(ParseFailure) -> Version {
        guard try lift(s.peek()) == UInt8(ascii: "{") else { throw .heartbeat(.wrongType(.version), at: s.offset) }
        let objectStart = s.offset
        s.offset += 1
        var parts: (Int64?, Int64?, Int64?) = (nil, nil, nil)
        var unknownHere = Context()
        if try !lift(s.consume(UInt8(ascii: "}"))) {
            repeat {
                let key = try memberKey(&s, &c)
                if s.token(key, equals: "major") {
                    guard parts.0 == nil else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                    parts.0 = try integerField(&s, .major)
                } else if s.token(key, equals: "minor") {
                    guard parts.1 == nil else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                    parts.1 = try integerField(&s, .minor)
                } else if s.token(key, equals: "patch") {
                    guard parts.2 == nil else { throw .heartbeat(.duplicateField, at: key.start - 1) }
                    parts.2 = try integerField(&s, .patch)
                } else {
                    try skipUnknown(key, in: &s, objectStart: objectStart, &unknownHere)
                }
                c.afterMember = true
            } while try lift(s.consume(UInt8(ascii: ",")))
            try lift(s.expect(UInt8(ascii: "}")))
        }
        c.unknown += unknownHere.unknown
        let end = s.offset - 1
        guard let major = parts.0 else { throw .heartbeat(.missingField(.major), at: end) }
        guard let minor = parts.1 else { throw .heartbeat(.missingField(.minor), at: end) }
        guard let patch = parts.2 else { throw .heartbeat(.missingField(.patch), at: end) }
        let range: ClosedRange<Int64> = 0...65535
        guard range.contains(major), range.contains(minor), range.contains(patch) else {
            throw .heartbeat(.versionOutOfRange, at: objectStart)
        }
        return Version(major: UInt16(major), minor: UInt16(minor), patch: UInt16(patch))
    }
}

/// Inside the parser both kinds of failure travel as one typed error.
private enum ParseFailure: Error {
    case heartbeat(HeartbeatError, at: Int)
    case json(JSONError)
}

/// Lifts a scanner result into the parser's error type.
private func lift<T>(_ value: @autoclosure () throws(JSONError) -> T) throws(ParseFailure) -> T {
    do { return try value() } catch { throw .json(error) }
}
