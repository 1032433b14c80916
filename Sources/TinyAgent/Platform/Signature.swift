import CCrypto
import TinyBase

/// Detached ECDSA P-256 / SHA-256 signatures over open files, as `openssl dgst
/// -sha256 -sign` makes them (`ta_sha256_fd` and `ta_sig_verify`, over libgcrypt, in CCrypto).
package enum Signature {
    /// What one key says of one signature.
    package enum Check: Equatable {
        case valid
        /// Well-formed, but this key did not sign these bytes.
        case mismatch
        /// Not a DER ECDSA signature at all.
        case corrupt
        /// The key is not an EC P-256 public key (PEM or DER); what is wrong with it.
        case badKey(String)
    }

    /// SHA-256 of the whole file behind `fd` (read with `pread`: the offset
    /// is left where it was) and its size.
    package static func sha256(of fd: FileDescriptor) throws(Errno) -> (digest: [UInt8], size: Int64) {
        var digest = [UInt8](repeating: 0, count: 32)
        var size: Int64 = 0
        let result = digest.withUnsafeMutableBufferPointer { ta_sha256_fd(fd.rawValue, $0.baseAddress, &size) }
        if result != 0 { throw Errno.current }
        return (digest, size)
    }

    package static func verify(key: [UInt8], digest: [UInt8], signature: [UInt8]) -> Check {
        var why: UnsafePointer<CChar>? = nil
        let result = key.withUnsafeBufferPointer { k in
            digest.withUnsafeBufferPointer { d in
                signature.withUnsafeBufferPointer { s in
                    ta_sig_verify(k.baseAddress, k.count, d.baseAddress, s.baseAddress, s.count, &why)
                }
            }
        }
        switch UInt32(bitPattern: result) {
        case TA_SIG_OK.rawValue: return .valid
        case TA_SIG_MISMATCH.rawValue: return .mismatch
        case TA_SIG_CORRUPT.rawValue: return .corrupt
        default: return .badKey(why.map { String(cString: $0) } ?? "unreadable")
        }
    }
}
