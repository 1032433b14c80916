/// The compression methods of an archive's entries (APPNOTE.TXT 4.4.5).
///
/// Buster's libzip 1.5.1 unpacks stored, Deflate and bzip2 entries, and has no
/// `zip_compression_method_supported` (1.7.0) to ask; the rest (7-Zip's
/// Deflate64, LZMA and PPMd among them) are refused by name before anything is
/// written, rather than failing later as an unreadable entry.
package enum CompressionMethod {
    package static func isSupported(_ method: UInt16) -> Bool {
        method == 0 || method == 8 || method == 12
    }

    package static func name(_ method: UInt16) -> String {
        switch method {
        case 0: return "no compression"
        case 1: return "Shrink"
        case 2, 3, 4, 5: return "Reduce"
        case 6: return "Implode"
        case 8: return "Deflate"
        case 9: return "Deflate64"
        case 10: return "PKWARE DCL Implode"
        case 12: return "bzip2"
        case 14: return "LZMA"
        case 18: return "IBM TERSE"
        case 19: return "IBM LZ77"
        case 93: return "Zstandard"
        case 94: return "MP3"
        case 95: return "XZ"
        case 96: return "JPEG"
        case 97: return "WavPack"
        case 98: return "PPMd"
        case 99: return "AES encryption"
        default: return "compression method " + String(method)
        }
    }
}
