/// Why a heartbeat datagram was dropped.
public enum HeartbeatError: Error, Equatable {
    case empty
    case tooLarge
    case malformed(JSONError)
    case notAnObject
    case unknownField
    case duplicateField
    case missingField(Field)
    case wrongType(Field)
    case invalidName
    case pidOutOfRange
    case versionOutOfRange
    case commandTooLong

    public enum Field: Equatable, Sendable { case processName, pid, runCommand, version, major, minor, patch }

    /// A short reason for the log, one counter per case.
    public var reason: StaticString {
        switch self {
        case .empty: return "empty datagram"
        case .tooLarge: return "datagram too large"
        case .malformed: return "not valid JSON"
        case .notAnObject: return "not a JSON object"
        case .unknownField: return "unknown field"
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

/// A heartbeat read in place: `name` and `runCommand` are ranges of the
/// datagram, so reading one allocates nothing.
struct Heartbeat {
    var name: JSONStringToken
    var pid: Int32
    /// nil when absent or empty: no command to restart with.
    var runCommand: JSONStringToken?
    var version: Version
}

/// The strict heartbeat format (SPEC §4):
/// `{"process_name": "ocr", "pid": 444, "run_command": "…", "version": {"major": 1, "minor": 0, "patch": 0}}`
enum HeartbeatParser {
    static let maximumDatagram = 2048
    static let maximumName = 64
    static let maximumCommand = 1024
    /// Linux's largest possible pid (`PID_MAX_LIMIT` on 64-bit).
    static let maximumPID: Int64 = 4_194_304

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(HeartbeatError) -> Heartbeat {
        guard bytes.count > 0 else { throw .empty }
        guard bytes.count <= maximumDatagram else { throw .tooLarge }
        do {
            return try parseObject(bytes)
        } catch {
            switch error {
            case .heartbeat(let reason): throw reason
            case .json(let reason): throw .malformed(reason)
            }
        }
    }

    private static func parseObject(_ bytes: UnsafeRawBufferPointer) throws(ParseFailure) -> Heartbeat {
        var s = JSONScanner(bytes)
        guard try lift(s.peek()) == UInt8(ascii: "{") else { throw .heartbeat(.notAnObject) }
        s.offset += 1
        var name: JSONStringToken?
        var pid: Int32?
        var command: JSONStringToken?
        var sawCommand = false
        var version: Version?
        if try lift(s.consume(UInt8(ascii: "}"))) { throw .heartbeat(.missingField(.processName)) }
        repeat {
            let key = try lift(s.string())
            try lift(s.expect(UInt8(ascii: ":")))
            if s.token(key, equals: "process_name") {
                guard name == nil else { throw .heartbeat(.duplicateField) }
                name = try nameField(&s)
            } else if s.token(key, equals: "pid") {
                guard pid == nil else { throw .heartbeat(.duplicateField) }
                let value = try integerField(&s, .pid)
                guard value > 1 && value <= maximumPID else { throw .heartbeat(.pidOutOfRange) }
                pid = Int32(value)
            } else if s.token(key, equals: "run_command") {
                guard !sawCommand else { throw .heartbeat(.duplicateField) }
                sawCommand = true
                guard try lift(s.peek()) == UInt8(ascii: "\"") else { throw .heartbeat(.wrongType(.runCommand)) }
                let token = try lift(s.string())
                guard token.count <= maximumCommand else { throw .heartbeat(.commandTooLong) }
                command = token.count == 0 ? nil : token
            } else if s.token(key, equals: "version") {
                guard version == nil else { throw .heartbeat(.duplicateField) }
                version = try versionField(&s)
            } else {
                throw .heartbeat(.unknownField)
            }
        } while try lift(s.consume(UInt8(ascii: ",")))
        try lift(s.expect(UInt8(ascii: "}")))
        try lift(s.expectEnd())
        guard let name else { throw .heartbeat(.missingField(.processName)) }
        guard let pid else { throw .heartbeat(.missingField(.pid)) }
        guard let version else { throw .heartbeat(.missingField(.version)) }
        return Heartbeat(name: name, pid: pid, runCommand: command, version: version)
    }

    /// A name is 1–64 of `[A-Za-z0-9._-]`: it names a log file, so nothing
    /// that could leave the logs folder or hide in a terminal.
    private static func nameField(_ s: inout JSONScanner) throws(ParseFailure) -> JSONStringToken {
        guard try lift(s.peek()) == UInt8(ascii: "\"") else { throw .heartbeat(.wrongType(.processName)) }
        let token = try lift(s.string())
        guard !token.hasEscapes, token.count > 0, token.count <= maximumName else { throw .heartbeat(.invalidName) }
        for i in token.start..<token.end {
            switch s.bytes[i] {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                throw .heartbeat(.invalidName)
            }
        }
        if token.count <= 2 && s.bytes[token.start] == UInt8(ascii: ".") &&
            (token.count == 1 || s.bytes[token.start + 1] == UInt8(ascii: ".")) { throw .heartbeat(.invalidName) }
        return token
    }

    private static func integerField(_ s: inout JSONScanner, _ field: HeartbeatError.Field) throws(ParseFailure) -> Int64 {
        let next = try lift(s.peek())
        guard next == UInt8(ascii: "-") || (next >= 0x30 && next <= 0x39) else { throw .heartbeat(.wrongType(field)) }
        guard let value = try lift(s.number()).integer else { throw .heartbeat(.wrongType(field)) }
        return value
    }

    private static func versionField(_ s: inout JSONScanner) throws(ParseFailure) -> Version {
        guard try lift(s.peek()) == UInt8(ascii: "{") else { throw .heartbeat(.wrongType(.version)) }
        s.offset += 1
        var parts: (Int64?, Int64?, Int64?) = (nil, nil, nil)
        if try !lift(s.consume(UInt8(ascii: "}"))) {
            repeat {
                let key = try lift(s.string())
                try lift(s.expect(UInt8(ascii: ":")))
                if s.token(key, equals: "major") {
                    guard parts.0 == nil else { throw .heartbeat(.duplicateField) }
                    parts.0 = try integerField(&s, .major)
                } else if s.token(key, equals: "minor") {
                    guard parts.1 == nil else { throw .heartbeat(.duplicateField) }
                    parts.1 = try integerField(&s, .minor)
                } else if s.token(key, equals: "patch") {
                    guard parts.2 == nil else { throw .heartbeat(.duplicateField) }
                    parts.2 = try integerField(&s, .patch)
                } else {
                    throw .heartbeat(.unknownField)
                }
            } while try lift(s.consume(UInt8(ascii: ",")))
            try lift(s.expect(UInt8(ascii: "}")))
        }
        guard let major = parts.0 else { throw .heartbeat(.missingField(.major)) }
        guard let minor = parts.1 else { throw .heartbeat(.missingField(.minor)) }
        guard let patch = parts.2 else { throw .heartbeat(.missingField(.patch)) }
        let range: ClosedRange<Int64> = 0...65535
        guard range.contains(major), range.contains(minor), range.contains(patch) else { throw .heartbeat(.versionOutOfRange) }
        return Version(major: UInt16(major), minor: UInt16(minor), patch: UInt16(patch))
    }
}

/// Inside the parser both kinds of failure travel as one typed error.
private enum ParseFailure: Error {
    case heartbeat(HeartbeatError)
    case json(JSONError)
}

/// Lifts a scanner result into the parser's error type.
private func lift<T>(_ value: @autoclosure () throws(JSONError) -> T) throws(ParseFailure) -> T {
    do { return try value() } catch { throw .json(error) }
}
