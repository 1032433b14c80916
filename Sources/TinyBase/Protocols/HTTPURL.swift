
/// An `http://` or `https://` URL, parsed strictly: a host name, an IPv4 address or a
/// bracketed IPv6 address, an optional port, and a path with an optional query. No user
/// info, no spaces or control characters; a fragment is dropped (it is never sent).
public struct HTTPURL: Equatable, Sendable {
    public enum Scheme: Equatable, Sendable {
        case http, https
        public var name: String { self == .https ? "https" : "http" }
        public var defaultPort: UInt16 { self == .https ? 443 : 80 }
    }

    public var scheme: Scheme
    /// The host as connected to: lower-case, an IPv6 address without its brackets.
    public var host: String
    public var port: UInt16
    /// The request target: the path (always starting with `/`) and `?query`.
    public var target: String

    public static let maximumLength = 4096

    /// `host[:port]` as the `Host` header and URLs spell it (brackets around IPv6, no
    /// default port).
    public var authority: String {
        let name = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return port == scheme.defaultPort ? name : "\(name):\(port)"
    }

    public var text: String { "\(scheme.name)://\(authority)\(target)" }

    /// The path without the query.
    public var path: String {
        let bytes = Array(target.utf8)
        guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { return target }
        return String(decoding: bytes[..<q], as: UTF8.self)
    }

    public init(scheme: Scheme, host: String, port: UInt16? = nil, target: String = "/") {
        self.scheme = scheme
        self.host = host
        self.port = port ?? scheme.defaultPort
        self.target = target
    }

    public static func parse(_ text: String) throws(BadURL) -> HTTPURL {
        let bytes = Array(text.utf8)
        try checkCharacters(bytes)
        guard let schemeEnd = find(Array("://".utf8), in: bytes) else {
            throw BadURL("no scheme (expected https://host/path): \(text)")
        }
        let scheme: Scheme
        switch ASCII.lowercased(bytes[..<schemeEnd]) {
        case "https": scheme = .https
        case "http": scheme = .http
        case let other: throw BadURL("unsupported scheme '\(other)' (http or https)")
        }
        let rest = bytes[(schemeEnd + 3)...]
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        let (host, port) = try authority(rest[rest.startIndex..<authorityEnd], scheme: scheme)
        var target = Array(rest[authorityEnd...])
        if let hash = target.firstIndex(of: UInt8(ascii: "#")) { target.removeSubrange(hash...) }
        if target.first != UInt8(ascii: "/") { target.insert(UInt8(ascii: "/"), at: 0) }
        return HTTPURL(scheme: scheme, host: host, port: port, target: String(decoding: target, as: UTF8.self))
    }

    /// The URL a redirect's `Location` names, relative to this one: an absolute URL,
    /// `//host/path`, `/path`, `?query` or a relative path (RFC 3986 §5.2, with dot
    /// segments removed).
    public func resolving(_ reference: String) throws(BadURL) -> HTTPURL {
        var bytes = Array(reference.utf8)
        try HTTPURL.checkCharacters(bytes)
        if bytes.isEmpty { throw BadURL("empty redirect location") }
        if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) { bytes.removeSubrange(hash...) }
        // A scheme: letters before the first ':' that comes before any '/', '?' or '#'.
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
           !bytes[..<colon].contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) {
            return try HTTPURL.parse(reference)
        }
        if bytes.starts(with: Array("//".utf8)) {
            return try HTTPURL.parse(scheme.name + ":" + String(decoding: bytes, as: UTF8.self))
        }
        var resolved = self
        let query: [UInt8]
        var path: [UInt8]
        if let q = bytes.firstIndex(of: UInt8(ascii: "?")) {
            query = Array(bytes[q...])
            path = Array(bytes[..<q])
        } else {
            query = []
            path = bytes
        }
        if path.isEmpty {
            path = Array(self.path.utf8)
        } else if path.first != UInt8(ascii: "/") {
            var base = Array(self.path.utf8)
            while let last = base.last, last != UInt8(ascii: "/") { base.removeLast() }
            path = base + path
        }
        resolved.target = String(decoding: HTTPURL.removingDotSegments(path) + query, as: UTF8.self)
        return resolved
    }

    // MARK: - Pieces

    private static func checkCharacters(_ bytes: [UInt8]) throws(BadURL) {
        guard bytes.count <= maximumLength else { throw BadURL("longer than \(maximumLength) bytes") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw BadURL("contains a space, a control character or a non-ASCII byte")
        }
    }

    private static func authority(_ bytes: ArraySlice<UInt8>, scheme: Scheme) throws(BadURL) -> (String, UInt16) {
        if bytes.isEmpty { throw BadURL("no host") }
        if bytes.contains(UInt8(ascii: "@")) { throw BadURL("user names and passwords in URLs are not supported") }
        var hostBytes: ArraySlice<UInt8>
        var portBytes: ArraySlice<UInt8>? = nil
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { throw BadURL("IPv6 address without ']'") }
            hostBytes = bytes[(bytes.startIndex + 1)..<close]
            let isIPv6 = !hostBytes.isEmpty && hostBytes.contains(UInt8(ascii: ":"))
                && hostBytes.allSatisfy { Hex.value($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
            guard isIPv6 else { throw BadURL("bad IPv6 address [\(String(decoding: hostBytes, as: UTF8.self))]") }
            let after = bytes[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { throw BadURL("unexpected characters after ']'") }
                portBytes = after.dropFirst()
            }
        } else {
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
                hostBytes = bytes[..<colon]
                portBytes = bytes[(colon + 1)...]
            } else {
                hostBytes = bytes
            }
            let valid = !hostBytes.isEmpty && hostBytes.allSatisfy {
                ASCII.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
            }
            guard valid else { throw BadURL("bad host name '\(String(decoding: hostBytes, as: UTF8.self))'") }
        }
        var port = scheme.defaultPort
        if let portBytes {
            let text = String(decoding: portBytes, as: UTF8.self)
            guard !portBytes.isEmpty, portBytes.count <= 5, portBytes.allSatisfy(ASCII.isDigit),
                  let n = Int(text), n >= 1, n <= 65535 else { throw BadURL("bad port '\(text)'") }
            port = UInt16(n)
        }
        return (ASCII.lowercased(hostBytes), port)
    }

    /// RFC 3986 §5.2.4 on an absolute path.
    static func removingDotSegments(_ path: [UInt8]) -> [UInt8] {
        var output: [[UInt8]] = []
        let segments = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        var trailingSlash = false
        for segment in segments {
            trailingSlash = false
            if segment.elementsEqual(".".utf8) {
                trailingSlash = true
            } else if segment.elementsEqual("..".utf8) {
                if !output.isEmpty { output.removeLast() }
                trailingSlash = true
            } else {
                output.append(Array(segment))
            }
        }
        var result: [UInt8] = []
        for segment in output {
            result.append(UInt8(ascii: "/"))
            result.append(contentsOf: segment)
        }
        if trailingSlash || result.isEmpty { result.append(UInt8(ascii: "/")) }
        return result
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for i in 0...(bytes.count - needle.count) where bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}

/// Why a URL was refused: one line.
public struct BadURL: Error, Equatable {
    public let reason: String
    package init(_ reason: String) { self.reason = reason }
}
