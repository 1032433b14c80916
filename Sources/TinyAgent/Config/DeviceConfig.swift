import TinyBase

/// The decrypted `cfg/config_file.bin`: how the device logs in to the XMPP
/// server and whom it takes commands from.
///
/// ```json
/// {"xmpp_client": {"client_jid": "rpi-17@example.com", "client_password": "…",
///                  "cpanel_jid": "panel@example.com", "rpi_unique_id": "mac-address",
///                  "host": "xmpp.example.com", "port": 5222, "tls": "required"}}
/// ```
///
/// The first four are the seed's and required; `host`, `port` and `tls` are
/// optional. Instead of `host` and `port`, `servers` may list several
/// (`["xmpp1.example.com:5222", "xmpp2.example.com", "[2001:db8::5]:5222"]`):
/// the link tries them in turn, from a random one, so a fleet spreads over
/// them and fails over when one goes away. Members of `xmpp_client` the agent does not know are refused (a
/// misspelt `port` must not be dropped silently); other top-level members are
/// ignored.
public struct DeviceConfig: Equatable {
    public var clientJID: String
    public var password: String
    /// The control panel: only messages from this bare JID are commands.
    public var panelJID: String
    /// `rpi_unique_id`, the `from` of every answer. After `load`, the MAC
    /// address when the file asks for it.
    public var deviceID: String
    /// The file says `"mac-address"` (or leaves `rpi_unique_id` empty).
    public var deviceIDIsMACAddress: Bool
    /// Server to connect to instead of the client JID's domain (and its SRV records).
    public var host: String?
    /// Port to connect to instead of the default (5222, or the SRV record's).
    public var port: UInt16?
    /// `servers`: several servers or cluster nodes, tried in turn.
    public var servers: [ServerEndpoint] = []
    /// `tls`: `"required"` (the default) or `"disabled"`, refused unless
    /// every server (`servers`, else `host`, else the JID's domain) is on
    /// loopback: a test server.
    public var tlsRequired: Bool

    /// What `rpi_unique_id` says to mean "this device's MAC address".
    public static let macAddressID = "mac-address"
    public static let maximumPasswordBytes = 1024
    public static let maximumDeviceIDBytes = 255
    static let knownKeys = ["client_jid", "client_password", "cpanel_jid", "rpi_unique_id", "host", "port", "servers", "tls"]
    public static let maximumServers = 16

    /// The servers the link tries in turn: `servers`, else `host` (and
    /// `port`); empty means the JID's domain and its SRV records.
    public var endpoints: [ServerEndpoint] {
        if !servers.isEmpty { return servers }
        guard let host else { return [] }
        return [ServerEndpoint(host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: port ?? 0)]
    }

    /// `ROOT/cfg/config_file.bin` (the name is the seed's).
    public static func file(root: String) -> String { "\(root)/cfg/config_file.bin" }

    /// Decrypts and validates `ROOT/cfg/config_file.bin` with the key
    /// `ConfigKey.forConfig` picks (`keyFile`, else `cfg/key`, else the
    /// seed's), and resolves a `"mac-address"` device id.
    public static func load(root: String, keyFile: String? = nil,
                            interfaces: NetworkInterfaces = .system) throws(ConfigError) -> DeviceConfig {
        var key = try ConfigKey.forConfig(root: root, keyFile: keyFile)
        defer { key.wipe() }
        let path = file(root: root)
        var plaintext: [UInt8]
        do { plaintext = try ConfigFile.decrypt(path, key: key) } catch { throw naming(key, in: error) }
        defer { zeroize(&plaintext) }
        var config: DeviceConfig
        do { config = try parse(plaintext) } catch {
            if case .notJSON(let why) = error { throw naming(key, in: .file(path, .decryptedNotJSON(plaintext, why))) }
            throw .file(path, error)
        }
        if config.deviceIDIsMACAddress { config.deviceID = try MACAddress.resolve(interfaces).address }
        return config
    }

    /// `error` with the key that was tried when a wrong key is its likely
    /// cause: with a fleet key on the card, "wrong key" alone does not say
    /// whether the config or the key is the odd one out.
    package static func naming(_ key: ConfigKey, in error: ConfigError) -> ConfigError {
        guard case .file(let path, let inner) = error else { return error }
        switch inner {
        case .badPadding, .noise: return .file(path, .decrypted(with: key.origin, inner))
        default: return error
        }
    }

    /// Validates a plain config. A `"mac-address"` device id stays as it is:
    /// the machine encrypting a config is usually not the device.
    public static func parse(_ json: [UInt8]) throws(ConfigError) -> DeviceConfig {
        let document: JSONValue
        do { document = try JSONValue.parse(json) } catch { throw .notJSON(error) }
        guard document.objectValue != nil else { throw .wrongType("the config", expected: "a JSON object") }
        guard let section = document["xmpp_client"] else { throw .missing("xmpp_client") }
        guard let members = section.objectValue else { throw .wrongType("xmpp_client", expected: "an object") }
        for (key, _) in members where !knownKeys.contains(key) {
            throw .unknownKey("xmpp_client." + (printable(key, limit: 64) ?? "<unprintable key>"))
        }
        let client = ClientSection(value: section)
        let clientJID = try client.jid("client_jid")
        let password = try client.password()
        let panelJID = try client.jid("cpanel_jid")
        let (deviceID, isMAC) = try client.deviceID()
        let route = try client.route(clientJID: clientJID)
        return DeviceConfig(clientJID: clientJID, password: password, panelJID: panelJID, deviceID: deviceID,
                            deviceIDIsMACAddress: isMAC, host: route.host, port: route.port, servers: route.servers,
                            tlsRequired: route.tlsRequired)
    }

    /// `servers`: absent, or 1...16 strings `host[:port]`.
    static func serverList(_ value: JSONValue?) throws(ConfigError) -> [ServerEndpoint] {
        let key = "xmpp_client.servers"
        switch value {
        case nil, .null?: return []
        case .array(let items)?:
            guard !items.isEmpty, items.count <= maximumServers else {
                throw .badValue(key, why: "must list 1...\(maximumServers) servers")
            }
            var servers: [ServerEndpoint] = []
            for (i, item) in items.enumerated() {
                guard case .string(let text) = item else { throw .wrongType("\(key)[\(i)]", expected: "a string HOST:PORT") }
                let (endpoint, problem) = ServerEndpoint.parse(text)
                guard let endpoint else { throw .badValue("\(key)[\(i)]", why: problem ?? "bad") }
                servers.append(endpoint)
            }
            return servers
        default: throw .wrongType(key, expected: "a list of strings HOST:PORT")
        }
    }
    /// `localhost`, an IPv4 address in 127.0.0.0/8, or `::1` (bracketed or
    /// not): names that never leave the machine.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }
        if name == Array("localhost".utf8) || name == Array("::1".utf8) || name == Array("[::1]".utf8) { return true }
        let parts = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].elementsEqual("127".utf8) else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            var value = 0
            for digit in part { value = value * 10 + Int(digit - 0x30) }
            if value > 255 { return false }
        }
        return true
    }

    /// `text` when it is at most `limit` bytes without control characters,
    /// so it may go into a one-line message or an answer; otherwise nil.
    package static func printable(_ text: String, limit: Int) -> String? {
        guard text.utf8.count <= limit else { return nil }
        for b in text.utf8 where b < 0x20 || b == 0x7F { return nil }
        return text
    }
}

/// The members of `xmpp_client`, read one by one; every error names its key.
private struct ClientSection {
    let value: JSONValue

    func string(_ key: String, required: Bool) throws(ConfigError) -> String? {
        switch value[key] {
        case nil, .null?:
            if required { throw .missing("xmpp_client.\(key)") }
            return nil
        case .string(let s)?: return s
        default: throw .wrongType("xmpp_client.\(key)", expected: "a string")
        }
    }

    func jid(_ key: String) throws(ConfigError) -> String {
        let text = try string(key, required: true)!
        if let why = JID.problem(in: text) { throw .badValue("xmpp_client.\(key)", why: why) }
        return text
    }

    func password() throws(ConfigError) -> String {
        let key = "xmpp_client.client_password"
        let password = try string("client_password", required: true)!
        if password.isEmpty { throw .badValue(key, why: "empty") }
        if password.utf8.count > DeviceConfig.maximumPasswordBytes {
            throw .badValue(key, why: "longer than \(DeviceConfig.maximumPasswordBytes) bytes")
        }
        // libstrophe takes it as a C string.
        if password.utf8.contains(0) { throw .badValue(key, why: "holds a NUL character") }
        return password
    }

    /// `rpi_unique_id`, and whether it asks for the MAC address.
    func deviceID() throws(ConfigError) -> (String, isMAC: Bool) {
        let id = try string("rpi_unique_id", required: true)!
        if id.isEmpty || id == DeviceConfig.macAddressID { return (DeviceConfig.macAddressID, true) }
        guard DeviceConfig.printable(id, limit: DeviceConfig.maximumDeviceIDBytes) != nil else {
            throw .badValue("xmpp_client.rpi_unique_id",
                            why: "longer than \(DeviceConfig.maximumDeviceIDBytes) bytes or holds control characters")
        }
        return (id, false)
    }

    func port() throws(ConfigError) -> UInt16? {
        switch value["port"] {
        case nil, .null?: return nil
        case .integer(let n)?:
            guard n >= 1 && n <= 65535 else { throw .badValue("xmpp_client.port", why: "must be 1...65535") }
            return UInt16(n)
        default: throw .wrongType("xmpp_client.port", expected: "an integer 1...65535")
        }
    }

    /// Where the link connects (`host` and `port`, or `servers`) and whether
    /// it must use TLS.
    func route(clientJID: String) throws(ConfigError) -> (host: String?, port: UInt16?, servers: [ServerEndpoint], tlsRequired: Bool) {
        let host = try string("host", required: false)
        if let host, let why = ServerEndpoint.hostProblem(host) { throw .badValue("xmpp_client.host", why: why) }
        let port = try port()
        let servers = try DeviceConfig.serverList(value["servers"])
        if !servers.isEmpty && (host != nil || port != nil) {
            throw .badValue("xmpp_client.servers", why: "give either servers or host and port, not both")
        }
        var tlsRequired = true
        switch try string("tls", required: false) {
        case nil, "required"?: break
        case "disabled"?: tlsRequired = false
        default: throw .badValue("xmpp_client.tls", why: "must be \"required\" or \"disabled\"")
        }
        // Without TLS the password crosses the network in the clear and any
        // machine on the path can pose as the panel: loopback only.
        let targets = servers.isEmpty ? [host ?? JID(clientJID)?.domain ?? ""] : servers.map { $0.host }
        if !tlsRequired, let remote = targets.first(where: { !DeviceConfig.isLoopback($0) }) {
            throw .badValue("xmpp_client.tls",
                            why: "\"disabled\" is allowed only for a loopback server (localhost, 127.0.0.0/8, ::1), not \(remote)")
        }
        return (host, port, servers, tlsRequired)
    }
}
