import TinyBase

/// The install's first step, in the root agent after the acquiring worker has
/// exited: may this archive be unpacked at all? (RELIABILITY.md "Threat model":
/// the network-facing worker never decides that.)
package enum SignatureVerdict: Equatable {
    /// Signed by the named key of `certs/update-keys`.
    case signed(by: String)
    /// The device has no keys: accepted without a check (and logged so).
    case notChecked(hadSignature: Bool)
    case refused(String)

    /// How the status and the log name it.
    package var summary: String {
        switch self {
        case .signed(let key): return "signed by " + key
        case .notChecked(let had): return had ? "signature not checked (no update keys)" : "unsigned (no update keys)"
        case .refused(let why): return why
        }
    }

    /// The device's key that verified the archive, if one did.
    package var key: String? {
        if case .signed(let key) = self { return key } else { return nil }
    }
}

package enum ArchiveCheck {
    /// A DER ECDSA P-256 signature is at most 72 bytes; anything far larger is not one.
    package static let maximumSignatureBytes = 1024

    /// Hashes the open archive and judges its detached signature (empty: none).
    package static func check(archive: FileDescriptor, signature: [UInt8], keys: UpdateKeys) throws(Errno) -> SignatureVerdict {
        if keys.keys.isEmpty { return .notChecked(hadSignature: !signature.isEmpty) }
        let (digest, _) = try Signature.sha256(of: archive)
        return verdict(digest: digest, signature: signature, keys: keys)
    }

    /// The rule, given the archive's SHA-256: with keys, exactly a signature
    /// one of them verifies is accepted; every other case is refused with
    /// what was wrong.
    package static func verdict(digest: [UInt8], signature: [UInt8], keys: UpdateKeys) -> SignatureVerdict {
        if keys.keys.isEmpty { return .notChecked(hadSignature: !signature.isEmpty) }
        let folder = "certs/\(UpdateKeys.folderName)"
        if signature.isEmpty {
            return .refused("signature: the archive is unsigned, and this device accepts only archives signed by a key in \(folder)")
        }
        if signature.count > maximumSignatureBytes {
            return .refused("signature: corrupt (\(signature.count) bytes is no ECDSA signature)")
        }
        for key in keys.keys {
            switch Signature.verify(key: key.pem, digest: digest, signature: signature) {
            case .valid: return .signed(by: key.name)
            case .mismatch: continue
            case .corrupt: return .refused("signature: corrupt (not a DER ECDSA signature)")
            case .badKey(let why): return .refused("\(folder)/\(key.name) is not an EC P-256 public key (\(why))")
            }
        }
        return .refused("signature: does not match (made by none of the \(keys.keys.count) key(s) in \(folder), or the archive was altered)")
    }

}
