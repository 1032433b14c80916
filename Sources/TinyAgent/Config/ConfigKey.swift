import TinyBase

/// The AES-256 key and CBC IV of the encrypted config: the same two values
/// `openssl enc -aes-256-cbc -K <hex key> -iv <hex iv>` takes.
public struct ConfigKey {
    /// 32 bytes.
    public internal(set) var key: [UInt8]
    /// 16 bytes.
    public internal(set) var iv: [UInt8]
    /// Where it came from, for errors a wrong key causes: "the seed's key",
    /// "the fleet key ROOT/cfg/key", "the key file F".
    public internal(set) var origin = "the seed's key"

    package init(key: [UInt8], iv: [UInt8]) {
        precondition(key.count == 32 && iv.count == 16)
        self.key = key
        self.iv = iv
    }

    /// The seed's symmetric key and salt, in ASCII: what every device in the
    /// field was provisioned with.
    public static var seed: ConfigKey {
        ConfigKey(key: Array("01234567890123456789012345678901".utf8), iv: Array("0123456789012345".utf8))
    }

    /// The fleet key on the card: `ROOT/cfg/key`, in the `--key-file` format.
    public static func fleetFile(root: String) -> String { "\(root)/cfg/key" }

    /// The key the agent decrypts `cfg/config_file.bin` with (`run`, `config
    /// check`, `check`): `keyFile` when the command line names one, else the
    /// fleet key `ROOT/cfg/key` when it exists, else the seed's. The fleet key
    /// must be root's, mode 0600 or stricter, one name: a key someone else
    /// wrote or can read is refused, not used and not skipped (skipping would
    /// quietly fall back to the seed's key).
    public static func forConfig(root: String, keyFile: String?) throws(ConfigError) -> ConfigKey {
        if keyFile != nil { return try load(keyFile: keyFile) }
        let path = fleetFile(root: root)
        var text: [UInt8]
        do {
            guard let bytes = try Files.readTrusted(path, owner: 0, limit: 4096) else { return seed }
            text = bytes
        } catch {
            switch error {
            case .untrusted(let st): throw .file(path, .untrustedKeyFile(st))
            // No cfg/ folder: no fleet key either (the config's own error says more).
            case .system(.noSuchFile): return seed
            case .system(.fileTooLarge): throw .file(path, .badKeyFile(line: 0, why: "larger than 4 KiB"))
            case .system(let errno): throw .file(path, .cannotRead(errno))
            case .symbolicLink, .notRegular, .linked: throw .file(path, .badKeyFile(line: 0, why: error.description))
            }
        }
        defer { zeroize(&text) }
        return try parse(text, from: path, origin: "the fleet key \(path)")
    }

    /// The seed's key, or the one in `keyFile` when given.
    public static func load(keyFile: String?) throws(ConfigError) -> ConfigKey {
        guard let path = keyFile else { return seed }
        var text: [UInt8]
        do { text = try Files.read(path, limit: 4096) } catch {
            throw .file(path, error == .fileTooLarge ? .badKeyFile(line: 0, why: "larger than 4 KiB") : .cannotRead(error))
        }
        defer { zeroize(&text) }
        return try parse(text, from: path, origin: "the key file \(path)")
    }

    private static func parse(_ text: [UInt8], from path: String, origin: String) throws(ConfigError) -> ConfigKey {
        var key: ConfigKey
        do { key = try parse(text) } catch { throw .file(path, error) }
        key.origin = origin
        return key
    }

    /// A key file: lines `key=<64 hex digits>` and `iv=<32 hex digits>` (digits
    /// in either case, spaces around `=` allowed), `#` comments and blank lines. A
    /// `salt=` line is ignored, so what `openssl enc -aes-256-cbc -P …` prints
    /// is a key file as it stands. Errors name the line, never its text.
    public static func parse(_ text: [UInt8]) throws(ConfigError) -> ConfigKey {
        var key: [UInt8]?
        var iv: [UInt8]?
        var lineNumber = 0
        for rawLine in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = trimmed(rawLine)
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw .badKeyFile(line: lineNumber, why: "expected key=<64 hex digits> or iv=<32 hex digits>")
            }
            let name = String(decoding: trimmed(line[line.startIndex..<equals]), as: UTF8.self)
            let value = trimmed(line[(equals + 1)...])
            switch name {
            case "key":
                guard key == nil else { throw .badKeyFile(line: lineNumber, why: "key given twice") }
                guard let bytes = Hex.decode(value, count: 32) else { throw .badKeyFile(line: lineNumber, why: "key must be 64 hex digits") }
                key = bytes
            case "iv":
                guard iv == nil else { throw .badKeyFile(line: lineNumber, why: "iv given twice") }
                guard let bytes = Hex.decode(value, count: 16) else { throw .badKeyFile(line: lineNumber, why: "iv must be 32 hex digits") }
                iv = bytes
            case "salt":
                continue
            default:
                throw .badKeyFile(line: lineNumber, why: "expected key=<64 hex digits> or iv=<32 hex digits>")
            }
        }
        guard let key else { throw .badKeyFile(line: 0, why: "no key= line") }
        guard let iv else { throw .badKeyFile(line: 0, why: "no iv= line") }
        return ConfigKey(key: key, iv: iv)
    }

    /// Zeros both values.
    public mutating func wipe() {
        zeroize(&key)
        zeroize(&iv)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let b = slice.first, b == 0x20 || b == 0x09 || b == 0x0D { slice.removeFirst() }
        while let b = slice.last, b == 0x20 || b == 0x09 || b == 0x0D { slice.removeLast() }
        return slice
    }
}
