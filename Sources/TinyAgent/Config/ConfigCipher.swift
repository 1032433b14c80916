import CMbedTLS
import TinyBase

/// AES-256-CBC with PKCS#7 padding through mbedTLS, byte for byte what
/// `openssl enc -aes-256-cbc -K <hex key> -iv <hex iv>` writes and reads
/// (raw key and IV: no `Salted__` header, no key derivation).
///
/// Only `mbedtls_aes_*` and `mbedtls_platform_zeroize` are called, so the
/// trimmed static mbedTLS of the armhf build (cross/mbedtls-config.h) covers it.
public enum ConfigCipher {
    package static let blockSize = 16

    /// Pads `plaintext` to whole blocks (a full block of 16s when it already
    /// is whole, as PKCS#7 requires) and encrypts it.
    public static func encrypt(_ plaintext: [UInt8], key: ConfigKey) -> [UInt8] {
        let padLength = blockSize - plaintext.count % blockSize
        var padded = plaintext
        padded.append(contentsOf: repeatElement(UInt8(padLength), count: padLength))
        defer { zeroize(&padded) }
        return cbc(padded, key: key, encrypting: true)
    }

    /// Decrypts and strips the padding, which is checked strictly: every pad
    /// byte must equal the pad length, 1...16. A wrong key fails this check
    /// except with probability about 1/256, and the JSON parse catches the rest.
    public static func decrypt(_ ciphertext: [UInt8], key: ConfigKey) throws(ConfigError) -> [UInt8] {
        guard !ciphertext.isEmpty, ciphertext.count % blockSize == 0 else { throw .notWholeBlocks(count: ciphertext.count) }
        var plaintext = cbc(ciphertext, key: key, encrypting: false)
        let padLength = Int(plaintext[plaintext.count - 1])
        // No padding oracle to fear (a local file, one attempt per run), so a
        // plain check: the length is 1...16 and every pad byte equals it.
        let valid = padLength >= 1 && padLength <= blockSize
            && plaintext[(plaintext.count - padLength)...].allSatisfy { Int($0) == padLength }
        guard valid else {
            zeroize(&plaintext)
            throw .badPadding
        }
        plaintext.removeLast(padLength)
        return plaintext
    }

    /// `mbedtls_aes_setkey_enc`/`_dec` then `mbedtls_aes_crypt_cbc` over whole blocks.
    package static func cbc(_ input: [UInt8], key: ConfigKey, encrypting: Bool) -> [UInt8] {
        // On the heap so it never moves: mbedtls_aes_setkey_* points the
        // context's round-key pointer into the context itself.
        let context = UnsafeMutablePointer<mbedtls_aes_context>.allocate(capacity: 1)
        mbedtls_aes_init(context)
        defer {
            mbedtls_aes_free(context)  // zeroizes the round keys
            context.deallocate()
        }
        let status = key.key.withUnsafeBufferPointer { k in
            encrypting ? mbedtls_aes_setkey_enc(context, k.baseAddress, 256) : mbedtls_aes_setkey_dec(context, k.baseAddress, 256)
        }
        // Only a key length other than 128/192/256 bits fails, and ConfigKey holds 32 bytes.
        precondition(status == 0, "mbedtls_aes_setkey: \(status)")
        var iv = key.iv  // mbedtls_aes_crypt_cbc advances the IV in place
        defer { zeroize(&iv) }
        var output = [UInt8](repeating: 0, count: input.count)
        let result = input.withUnsafeBufferPointer { inBytes in
            output.withUnsafeMutableBufferPointer { outBytes in
                iv.withUnsafeMutableBufferPointer { ivBytes in
                    mbedtls_aes_crypt_cbc(context, encrypting ? MBEDTLS_AES_ENCRYPT : MBEDTLS_AES_DECRYPT,
                                          input.count, ivBytes.baseAddress, inBytes.baseAddress, outBytes.baseAddress)
                }
            }
        }
        // Fails only for a length that is not whole blocks, which callers rule out.
        precondition(result == 0, "mbedtls_aes_crypt_cbc: \(result)")
        return output
    }
}
