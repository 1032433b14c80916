import TinyBase

/// The `tinyagent config` subcommands, behind the command-line parsing.
/// Errors carry the file they are about; none quotes decrypted text or keys.
public enum ConfigTool {
    /// What `decrypt` shows instead of the password.
    public static let mask = "********"

    /// `config encrypt`: validates the plain JSON config (an invalid one is
    /// refused, so a device never gets a file it cannot use), then writes it
    /// encrypted, mode 0600, atomically.
    public static func encrypt(input: String, output: String, keyFile: String?) throws(ConfigError) {
        var key = try ConfigKey.load(keyFile: keyFile)
        defer { key.wipe() }
        var plaintext = try ConfigFile.read(input)
        defer { zeroize(&plaintext) }
        do { _ = try DeviceConfig.parse(plaintext) } catch { throw .file(input, error) }
        try ConfigFile.write(plaintext, to: output, key: key)
    }

    /// `config decrypt`: the document as compact JSON, the password masked
    /// unless `showSecrets`. Only JSON-ness is required, so a config that
    /// fails validation can still be looked at (`check` says what is wrong).
    public static func decrypt(input: String, keyFile: String?, showSecrets: Bool) throws(ConfigError) -> String {
        var key = try ConfigKey.load(keyFile: keyFile)
        defer { key.wipe() }
        var plaintext = try ConfigFile.decrypt(input, key: key)
        defer { zeroize(&plaintext) }
        var document: JSONValue
        do { document = try JSONValue.parse(plaintext) } catch { throw .file(input, .decryptedNotJSON(plaintext, error)) }
        if !showSecrets { document = masked(document) }
        var writer = JSONWriter()
        writer.value(document)
        return writer.text
    }

    /// `config check`: loads the config the agent would load and returns a
    /// one-line summary without the password.
    public static func check(root: String, keyFile: String?, interfaces: NetworkInterfaces = .system) throws(ConfigError) -> String {
        let config = try DeviceConfig.load(root: root, keyFile: keyFile, interfaces: interfaces)
        var line = "config ok: client \(config.clientJID), panel \(config.panelJID), device \(config.deviceID)"
        if config.deviceIDIsMACAddress { line += " (MAC address)" }
        if config.host != nil || config.port != nil {
            line += ", server \(config.host ?? JID(config.clientJID)?.domain ?? "?"):\(config.port.map { "\($0)" } ?? "default port")"
        }
        line += config.tlsRequired ? ", TLS required" : ", TLS disabled"
        return line
    }

    /// `document` with `xmpp_client.client_password`, whatever its type, replaced by the mask.
    package static func masked(_ document: JSONValue) -> JSONValue {
        guard case .object(var top) = document else { return document }
        for i in top.indices where top[i].0 == "xmpp_client" {
            guard case .object(var client) = top[i].1 else { continue }
            for j in client.indices where client[j].0 == "client_password" { client[j].1 = .string(mask) }
            top[i].1 = .object(client)
        }
        return .object(top)
    }
}
