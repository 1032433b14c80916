/// An XMPP address as the config must spell it: `local@domain[/resource]`.
///
/// Stricter than RFC 7622 where the agent gains nothing from the freedom: a
/// local part is required (the device logs in as a user, the panel is one),
/// the domain is an ASCII host name (punycode for IDNs) or an IP literal, and
/// no part holds spaces or control characters. Lengths are bounded well below
/// the RFC's 1023 bytes per part.
public struct JID: Equatable {
    public let local: String
    public let domain: String
    public let resource: String?

    public static let maximumLocalBytes = 255
    public static let maximumDomainBytes = 253
    public static let maximumResourceBytes = 255

    /// nil when `text` is not well formed; `problem(in:)` says why.
    public init?(_ text: String) {
        guard JID.problem(in: text) == nil else { return nil }
        let parts = JID.split(Array(text.utf8))
        local = String(decoding: parts.local, as: UTF8.self)
        domain = String(decoding: parts.domain, as: UTF8.self)
        resource = parts.resource.map { String(decoding: $0, as: UTF8.self) }
    }

    /// `local@domain`, what a message's sender is compared against.
    public var bare: String { "\(local)@\(domain)" }

    /// The bare JID of `text`, lowercased: local parts and domains compare
    /// without case. nil when `text` is not a JID.
    package static func comparable(_ text: String) -> String? {
        guard let parsed = JID(text) else { return nil }
        return String(decoding: parsed.bare.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// Why `text` is not a well-formed JID, or nil when it is. Never quotes
    /// `text`, so callers may log the reason.
    public static func problem(in text: String) -> String? {
        let bytes = Array(text.utf8)
        for b in bytes where b <= 0x20 || b == 0x7F { return "contains a space or control character" }
        let parts = split(bytes)
        guard parts.at != nil else { return "not local@domain[/resource]: no @" }
        if parts.local.isEmpty { return "not local@domain[/resource]: empty local part" }
        if parts.local.count > maximumLocalBytes { return "local part longer than \(maximumLocalBytes) bytes" }
        for b in parts.local {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: ":"),
                 UInt8(ascii: "<"), UInt8(ascii: ">"):
                return "local part holds one of \" & ' : < >"
            default: continue
            }
        }
        if parts.domain.isEmpty { return "not local@domain[/resource]: no domain" }
        if let why = hostNameProblem(parts.domain) { return "domain: \(why)" }
        if let resource = parts.resource {
            if resource.isEmpty { return "empty resource after /" }
            if resource.count > maximumResourceBytes { return "resource longer than \(maximumResourceBytes) bytes" }
        }
        return nil
    }

    /// Splits at the first `/` (the resource may hold `@` and `/`), then the
    /// part before it at its first `@`.
    private static func split(_ bytes: [UInt8]) -> (at: Int?, local: ArraySlice<UInt8>, domain: ArraySlice<UInt8>, resource: ArraySlice<UInt8>?) {
        let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
        let address = bytes[..<(slash ?? bytes.endIndex)]
        let resource = slash.map { bytes[($0 + 1)...] }
        guard let at = address.firstIndex(of: UInt8(ascii: "@")) else { return (nil, [], address, resource) }
        return (at, address[..<at], address[(at + 1)...], resource)
    }

    /// Why `name` is neither a host name (ASCII labels of letters, digits
    /// and inner `-`) nor a bracketed IPv6 literal, or nil.
    static func hostNameProblem(_ name: ArraySlice<UInt8>) -> String? {
        if name.isEmpty { return "empty" }
        if name.count > maximumDomainBytes { return "longer than \(maximumDomainBytes) bytes" }
        if name.first == UInt8(ascii: "[") {
            // An IPv6 literal: hex digits, colons and dots (an embedded IPv4) between brackets.
            guard name.count > 2, name.last == UInt8(ascii: "]") else { return "bad IP literal" }
            for b in name.dropFirst().dropLast() where !(isHexDigit(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: ".")) {
                return "bad IP literal"
            }
            return nil
        }
        for label in name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            if label.isEmpty { return "empty label" }
            if label.count > 63 { return "label longer than 63 characters" }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") { return "label starts or ends with -" }
            for b in label where !(isLetterOrDigit(b) || b == UInt8(ascii: "-")) {
                return "only letters, digits, - and . (punycode for international names)"
            }
        }
        return nil
    }

    static func isLetterOrDigit(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }

    package static func isHexDigit(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}
