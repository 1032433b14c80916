import TinyBase

/// `cfg/config_file.bin` on disk: reading and decrypting, encrypting and
/// writing. Errors carry the file's path.
package enum ConfigFile {
    /// Far above any real config (a few hundred bytes); bounds what a wrong
    /// `--in` makes the tool read.
    package static let maximumBytes = 64 * 1024

    /// The file's bytes, with errors in config terms.
    package static func read(_ path: String) throws(ConfigError) -> [UInt8] {
        do { return try Files.read(path, limit: maximumBytes) } catch {
            throw .file(path, error == .fileTooLarge ? .tooLarge(limit: maximumBytes) : .cannotRead(error))
        }
    }

    /// Reads and decrypts `path`; the caller wipes the result.
    package static func decrypt(_ path: String, key: ConfigKey) throws(ConfigError) -> [UInt8] {
        let ciphertext = try read(path)
        do { return try ConfigCipher.decrypt(ciphertext, key: key) } catch { throw .file(path, error) }
    }

    /// Encrypts `plaintext` into `path`, mode 0600 (the file holds the
    /// password, and the default key is no secret), written atomically:
    /// `path.new` created with O_EXCL in the output folder opened without
    /// following a link, renamed inside that folder. Root may be writing
    /// into a user's folder: nothing that user plants there is followed.
    package static func write(_ plaintext: [UInt8], to path: String, key: ConfigKey) throws(ConfigError) {
        do { try Files.writeAtomically(path, bytes: ConfigCipher.encrypt(plaintext, key: key), mode: 0o600) } catch {
            throw .file(path, .cannotWrite(error))
        }
    }
}
