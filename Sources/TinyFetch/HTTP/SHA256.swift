import CTLS
import TinyBase

/// Streaming SHA-256 over mbedTLS (`mbedtls_sha256_starts_ret`/`_update_ret`/`_finish_ret`,
/// which both the host's libmbedtls and the trimmed static build have).
package final class SHA256 {
    // On the heap: the context must not move between calls.
    private let context = UnsafeMutablePointer<mbedtls_sha256_context>.allocate(capacity: 1)

    package init() {
        mbedtls_sha256_init(context)
        _ = mbedtls_sha256_starts_ret(context, 0)  // fails only for a bad is224 flag
    }

    deinit {
        mbedtls_sha256_free(context)
        context.deallocate()
    }

    package func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = mbedtls_sha256_update_ret(context, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// The 32-byte digest; the hasher is spent afterwards.
    package func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { _ = mbedtls_sha256_finish_ret(context, $0.baseAddress) }
        return digest
    }

    package static func digest(_ bytes: [UInt8]) -> [UInt8] {
        let hasher = SHA256()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finish()
    }
}
