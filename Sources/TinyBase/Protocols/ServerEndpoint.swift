/// One XMPP server the device may log in to: `host:port`, `[v6]:port`, or
/// a bare host (port 0: libstrophe's default, 5222). Written so in the
/// config's `servers` list and in the packet that starts the link.
public struct ServerEndpoint: Equatable, Sendable, CustomStringConvertible {
    /// A host name, an IPv4 address, or an IPv6 address without brackets.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        let shown = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return port == 0 ? shown : "\(shown):\(port)"
    }

    /// Reads `host:port`, `[v6]:port`, `[v6]` or `host`; nil and why otherwise.
    public static func parse(_ text: String) -> (endpoint: ServerEndpoint?, problem: String?) {
        let bytes = Array(text.utf8)
        var hostBytes = bytes[...]
        var portBytes: ArraySlice<UInt8>?
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return (nil, "unclosed [") }
            hostBytes = bytes[1..<close]
            let rest = bytes[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":") else { return (nil, "expected :PORT after ]") }
                portBytes = rest.dropFirst()
            }
        } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            guard bytes.lastIndex(of: UInt8(ascii: ":")) == colon else {
                return (nil, "an IPv6 address needs brackets: [ADDRESS]:PORT")
            }
            hostBytes = bytes[..<colon]
            portBytes = bytes[(colon + 1)...]
        }
        let host = String(decoding: hostBytes, as: UTF8.self)
        let checked = bytes.first == UInt8(ascii: "[") ? "[\(host)]" : host
        if let why = hostProblem(checked) { return (nil, why) }
        var port: UInt16 = 0
        if let portBytes {
            var value = 0
            for b in portBytes {
                guard b >= 0x30 && b <= 0x39, value <= 65535 else { return (nil, "port must be 1...65535") }
                value = value * 10 + Int(b - 0x30)
            }
            guard !portBytes.isEmpty, value >= 1, value <= 65535 else { return (nil, "port must be 1...65535") }
            port = UInt16(value)
        }
        return (ServerEndpoint(host: host, port: port), nil)
    }

    /// A host name, an IPv4 address, or an IPv6 address with or without brackets.
    package static func hostProblem(_ host: String) -> String? {
        let bytes = Array(host.utf8)
        for b in bytes where b <= 0x20 || b == 0x7F { return "contains a space or control character" }
        if bytes.contains(UInt8(ascii: ":")) && bytes.first != UInt8(ascii: "[") {
            for b in bytes where !(JID.isHexDigit(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: ".")) {
                return "not a host name or IP address"
            }
            return nil
        }
        return JID.hostNameProblem(bytes[...])
    }
}
