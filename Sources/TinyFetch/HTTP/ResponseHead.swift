import TinyBase

/// One header line of a response: the name lower-cased, the value without surrounding
/// spaces.
public struct HTTPHeader: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`), or `bytes */TOTAL` on a 416.
public struct ContentRange: Equatable, Sendable {
    /// Nil for `bytes */TOTAL`.
    public var range: ClosedRange<Int64>?
    public var total: Int64?
}

/// The status line and headers of an HTTP/1.x response, parsed strictly by a pure function
/// over bytes (a fuzz target): CRLF line ends, caps on line length and header count,
/// case-insensitive names, no folded lines, conflicting `Content-Length`s refused, only
/// `chunked` as a transfer coding.
public struct ResponseHead: Equatable, Sendable {
    public var status: Int
    public var reason: String
    public var headers: [HTTPHeader]
    /// Nil when absent, and when the body is chunked (chunked framing wins).
    public var contentLength: Int64?
    public var isChunked: Bool
    public var contentRange: ContentRange?
    public var etag: String?
    public var lastModified: String?
    public var location: String?

    public static let maximumLineLength = 8192
    public static let maximumHeaderCount = 100
    /// The longest head the client reads before giving up.
    public static let maximumLength = 32 * 1024

    /// The first value of header `name` (any case).
    public func value(of name: String) -> String? {
        let wanted = ASCII.lowercased(name.utf8)
        return headers.first { $0.name == wanted }?.value
    }

    /// The status line as a person reads it: "HTTP 404 Not Found".
    public var statusLine: String { reason.isEmpty ? "HTTP \(status)" : "HTTP \(status) \(reason)" }

    /// Whether a body follows this head (never for 1xx, 204 and 304).
    public var hasBody: Bool { !(status < 200 || status == 204 || status == 304) }

    /// The offset just past the empty line that ends a head in `bytes`, or nil when the
    /// head is not complete yet.
    public static func end(in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var i = 0
        while i + 3 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return nil
    }

    public static func parse(_ bytes: [UInt8]) throws(HTTPError) -> ResponseHead {
        try withBytes(of: bytes) { (raw) throws(HTTPError) in try parse(raw) }
    }

    /// Parses a head: the status line, header lines, and (optionally) the empty line.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPError) -> ResponseHead {
        var lines = LineReader(bytes: bytes)
        guard let statusLine = try lines.next() else { throw .badResponse("empty response") }
        var head = try parseStatusLine(statusLine)
        var contentLength: [UInt8]? = nil
        var codings: [String] = []
        while let line = try lines.next() {
            if line.isEmpty { break }
            guard head.headers.count < maximumHeaderCount else { throw .badResponse("more than \(maximumHeaderCount) header lines") }
            let header = try parseHeader(line)
            head.headers.append(header)
            switch header.name {
            case "content-length":
                // Repeated or listed ("5, 5") values must all be the same number.
                for piece in header.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                    let digits = Array(trimmed(piece))
                    guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy(ASCII.isDigit) else {
                        throw .badResponse("bad Content-Length '\(header.value)'")
                    }
                    if let earlier = contentLength, earlier != digits { throw .badResponse("conflicting Content-Length values") }
                    contentLength = digits
                }
            case "transfer-encoding":
                for piece in header.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                    codings.append(ASCII.lowercased(trimmed(piece)))
                }
            case "content-range":
                if head.contentRange != nil { throw .badResponse("more than one Content-Range") }
                head.contentRange = try parseContentRange(header.value)
            case "etag": if head.etag == nil { head.etag = header.value }
            case "last-modified": if head.lastModified == nil { head.lastModified = header.value }
            case "location": if head.location == nil { head.location = header.value }
            default: break
            }
        }
        if !codings.isEmpty {
            guard codings == ["chunked"] else {
                throw .badResponse("unsupported Transfer-Encoding '\(codings.joined(separator: ", "))'")
            }
            head.isChunked = true
        } else if let contentLength {
            head.contentLength = Int64(String(decoding: contentLength, as: UTF8.self))
        }
        return head
    }

    // MARK: - Pieces

    /// `HTTP/1.x SSS reason`.
    private static func parseStatusLine(_ line: UnsafeRawBufferPointer) throws(HTTPError) -> ResponseHead {
        let prefix = Array("HTTP/1.".utf8)
        guard line.count >= 12, line.starts(with: prefix), ASCII.isDigit(line[7]), line[8] == UInt8(ascii: " "),
              ASCII.isDigit(line[9]), ASCII.isDigit(line[10]), ASCII.isDigit(line[11]),
              line.count == 12 || line[12] == UInt8(ascii: " ") else {
            throw .badResponse("not an HTTP/1.x status line")
        }
        let status = Int(line[9] - 48) * 100 + Int(line[10] - 48) * 10 + Int(line[11] - 48)
        guard status >= 100 && status <= 599 else { throw .badResponse("status \(status) out of range") }
        let reasonBytes = line.count > 13 ? UnsafeRawBufferPointer(rebasing: line[13...]) : UnsafeRawBufferPointer(start: nil, count: 0)
        guard reasonBytes.allSatisfy({ $0 == 9 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .badResponse("control character in the status line")
        }
        return ResponseHead(status: status, reason: String(decoding: reasonBytes, as: UTF8.self), headers: [],
                            contentLength: nil, isChunked: false, contentRange: nil, etag: nil, lastModified: nil, location: nil)
    }

    private static func parseHeader(_ line: UnsafeRawBufferPointer) throws(HTTPError) -> HTTPHeader {
        if line[0] == UInt8(ascii: " ") || line[0] == 9 { throw .badResponse("folded header line") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { throw .badResponse("header line without a name") }
        let name = line[..<colon]
        guard name.allSatisfy(isTokenByte) else { throw .badResponse("bad header name") }
        let value = trimmed(line[(colon + 1)...])
        guard value.allSatisfy({ $0 == 9 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .badResponse("control character in header '\(ASCII.lowercased(name))'")
        }
        return HTTPHeader(ASCII.lowercased(name), String(decoding: value, as: UTF8.self))
    }

    /// RFC 9110 tchar.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        if ASCII.isAlphanumeric(b) { return true }
        return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
    }

    static func parseContentRange(_ text: String) throws(HTTPError) -> ContentRange {
        let bad = HTTPError.badResponse("bad Content-Range '\(text)'")
        let bytes = Array(text.utf8)
        let unit = Array("bytes ".utf8)
        guard bytes.starts(with: unit), let slash = bytes.firstIndex(of: UInt8(ascii: "/")) else { throw bad }
        let rangePart = bytes[unit.count..<slash]
        let totalPart = bytes[(slash + 1)...]
        var total: Int64? = nil
        if !totalPart.elementsEqual("*".utf8) {
            guard let n = number(totalPart) else { throw bad }
            total = n
        }
        if rangePart.elementsEqual("*".utf8) {
            guard total != nil else { throw bad }
            return ContentRange(range: nil, total: total)
        }
        guard let dash = rangePart.firstIndex(of: UInt8(ascii: "-")),
              let first = number(rangePart[..<dash]), let last = number(rangePart[(dash + 1)...]),
              first <= last, total.map({ last < $0 }) ?? true else { throw bad }
        return ContentRange(range: first...last, total: total)
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy(ASCII.isDigit) else { return nil }
        return Int64(String(decoding: digits, as: UTF8.self))
    }

    private static func trimmed<C: BidirectionalCollection>(_ bytes: C) -> C.SubSequence where C.Element == UInt8 {
        var s = bytes[...]
        while let f = s.first, f == 32 || f == 9 { s = s.dropFirst() }
        while let l = s.last, l == 32 || l == 9 { s = s.dropLast() }
        return s
    }
}

/// CRLF-terminated lines of a head, each at most `ResponseHead.maximumLineLength` bytes.
/// A lone CR or LF is an error; bytes after the last CRLF are ignored (the empty line may
/// be missing).
private struct LineReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    mutating func next() throws(HTTPError) -> UnsafeRawBufferPointer? {
        var i = offset
        while i < bytes.count {
            let b = bytes[i]
            if b == 13 {
                guard i + 1 < bytes.count, bytes[i + 1] == 10 else { throw .badResponse("CR without LF in the head") }
                let line = UnsafeRawBufferPointer(rebasing: bytes[offset..<i])
                offset = i + 2
                return line
            }
            if b == 10 { throw .badResponse("LF without CR in the head") }
            if b == 0 { throw .badResponse("NUL byte in the head") }
            if i - offset >= ResponseHead.maximumLineLength {
                throw .badResponse("head line longer than \(ResponseHead.maximumLineLength) bytes")
            }
            i += 1
        }
        return nil
    }
}
