import CMbedTLS
import TinyBase

/// Overwrites `bytes` with zeros through `mbedtls_platform_zeroize`, which the
/// compiler may not drop as a dead store, and empties the array.
///
/// Only this copy is wiped: Swift may have made others (copy-on-write, the
/// Strings the JSON parser built), so this narrows the window rather than
/// closing it.
func zeroize(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { mbedtls_platform_zeroize(base, raw.count) }
    }
    bytes.removeAll()
}
