import TinyBase

/// Why the encrypted config (or its key file) could not be used. Reasons are
/// one line and never quote the decrypted text or the key: a wrong key yields
/// noise that may still hold pieces of the real plaintext.
public enum ConfigError: Error, Equatable {
    /// An input file (config, plain JSON or key file) is missing or unreadable.
    case cannotRead(Errno)
    /// The encrypted file could not be written.
    case cannotWrite(Errno)
    /// The key file is not two lines `key=<64 hex>` / `iv=<32 hex>`.
    case badKeyFile(line: Int, why: String)
    /// The fleet key `cfg/key` is not root's, or others may read or write
    /// it, or it has a second name: refused rather than trusted.
    case untrustedKeyFile(FileStatus)
    /// An input is larger than any config could be.
    case tooLarge(limit: Int)
    /// The ciphertext is empty or not whole AES blocks: cut short, or not
    /// an encrypted config at all.
    case notWholeBlocks(count: Int)
    /// The PKCS#7 padding is wrong, which is what a wrong key (or a damaged
    /// last block) almost always produces.
    case badPadding
    /// The plain config is not JSON.
    case notJSON(JSONError)
    /// The decrypted text is not JSON although its padding was right: a
    /// damaged block in the middle (CBC garbles it and the next one only).
    case decryptedNotJSON(JSONError)
    /// The decrypted text is not JSON and begins with bytes no config holds:
    /// every block is noise, so the key (or IV) is wrong and the padding
    /// came out valid by chance (about 1 in 256 wrong keys).
    case noise
    /// A required member is missing (`xmpp_client.client_jid`).
    case missing(String)
    /// A member has the wrong JSON type.
    case wrongType(String, expected: String)
    /// A member has the right type and a bad value.
    case badValue(String, why: String)
    /// A member of `xmpp_client` the agent does not know: most likely a typo
    /// (`"prot": 5223`) that would otherwise be ignored silently.
    case unknownKey(String)
    /// `rpi_unique_id` asks for the MAC address and no physical interface has one.
    case noMACAddress(String)
    /// Context: the file the error is about.
    indirect case file(String, ConfigError)
    /// Context: the key the config was decrypted with (`ConfigKey.origin`),
    /// when a wrong key is the likely cause.
    indirect case decrypted(with: String, ConfigError)

    public var reason: String {
        switch self {
        case .cannotRead(let errno): return "cannot read: \(errno)"
        case .cannotWrite(let errno): return "cannot write: \(errno)"
        case .badKeyFile(let line, let why): return line > 0 ? "key file line \(line): \(why)" : "key file: \(why)"
        case .untrustedKeyFile(let st):
            return "key file not trusted (\(st.ownerAndMode), \(st.links) name(s)): it must be root's, mode 0600, one name "
                + "(chown root:root, chmod 0600)"
        case .tooLarge(let limit): return "larger than \(limit) bytes: not a config"
        case .notWholeBlocks(let count):
            return count == 0 ? "empty file: not an encrypted config"
                : "\(count) bytes is not a whole number of 16-byte AES blocks: truncated or not an encrypted config"
        case .badPadding: return "wrong key or corrupted file (bad padding after decryption)"
        case .notJSON(let error): return "not JSON: \(error.reason)"
        case .decryptedNotJSON(let error): return "decrypts to something that is not JSON (\(error.reason)): corrupted file or wrong key"
        case .noise: return "wrong key or corrupted file (decrypts to noise; its padding was valid by chance)"
        case .missing(let field): return "\(field): missing"
        case .wrongType(let field, let expected): return "\(field): must be \(expected)"
        case .badValue(let field, let why): return "\(field): \(why)"
        case .unknownKey(let field): return "\(field): unknown key"
        case .noMACAddress(let why): return "rpi_unique_id asks for the MAC address, but \(why)"
        case .file(let path, let error): return "\(path): \(error.reason)"
        case .decrypted(let key, let error): return "\(error.reason); decrypted with \(key)"
        }
    }

    /// Why a decrypted config is not JSON: noise from the first block on (a
    /// wrong key), or text garbled further on (a damaged block). Only the
    /// message depends on it; the file is refused either way.
    static func decryptedNotJSON(_ plaintext: [UInt8], _ error: JSONError) -> ConfigError {
        let firstBlock = plaintext.prefix(16)
        let text = firstBlock.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        return text ? .decryptedNotJSON(error) : .noise
    }

    /// The `tinyagent` exit status for this error.
    public var exitStatus: Int32 {
        switch self {
        case .cannotRead: return ExitStatus.noInput
        case .cannotWrite: return ExitStatus.systemError
        case .file(_, let error), .decrypted(_, let error): return error.exitStatus
        default: return ExitStatus.dataError
        }
    }
}
