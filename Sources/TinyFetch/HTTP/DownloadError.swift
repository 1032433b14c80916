import TinyBase

/// Why a download failed; `remark` is the one line the panel gets
/// ("download: certificate not trusted").
public enum DownloadError: Error, Equatable {
    /// The request itself is unusable (e.g. a sha256 that is not 32 bytes).
    case badRequest(String)
    /// The exchange failed: bad URL, plain http refused, TLS, connection, timeouts,
    /// redirects, a malformed response.
    case transfer(HTTPError)
    /// The server answered with a status other than 200/206 (and 416 when resuming).
    case httpStatus(Int, String)
    /// The connection ended early; byte counts are for the whole file.
    case bodyEnded(received: Int64, expected: Int64?)
    case tooLarge(limit: Int64)
    /// Hex digests.
    case sha256Mismatch(got: String, expected: String)
    case notEnoughSpace(need: Int64, have: Int64)
    /// Writing, syncing or renaming a file failed.
    case file(String, Errno)

    public var remark: String { "download: " + reason }

    /// `remark` without the "download: " prefix.
    public var reason: String {
        switch self {
        case .badRequest(let why): return why
        case .transfer(let error): return error.reason
        case .httpStatus(let status, let text): return text.isEmpty ? "HTTP \(status)" : "HTTP \(status) \(text)"
        case .bodyEnded(let received, let expected?): return "body ended after \(received) of \(expected) bytes"
        case .bodyEnded(let received, nil): return "body ended after \(received) bytes, before its last chunk"
        case .tooLarge(let limit): return "archive larger than the \(limit)-byte limit"
        case .sha256Mismatch(let got, let expected):
            return "sha256 mismatch (got \(DownloadError.abbreviated(got)), expected \(DownloadError.abbreviated(expected)))"
        case .notEnoughSpace(let need, let have): return "not enough free space (need \(need) bytes, have \(have))"
        case .file(let path, let errno): return "\(path): \(errno.description)"
        }
    }

    /// Whether the partial file is worth keeping for a later try (an interruption), or
    /// must go (the server refused the file, or what arrived is not the file).
    var keepsPartialFile: Bool {
        switch self {
        case .httpStatus(let status, _): return !(400..<500).contains(status)
        case .sha256Mismatch, .tooLarge: return false
        default: return true
        }
    }

    /// Whether trying again soon may succeed, resuming from the partial
    /// file: the connection broke, stalled or was refused, or the server
    /// was briefly unavailable — not a refusal, a bad certificate or a bad file.
    var isResumable: Bool {
        switch self {
        case .bodyEnded: return true
        case .httpStatus(let status, _): return status >= 500
        case .transfer(let error):
            switch error {
            case .connectTimeout, .idleTimeout, .bodyEnded: return true
            case .network(let failure):
                return !(failure.isCertificateNotTrusted || failure.isHostnameMismatch || failure.isCAFileProblem)
            default: return false
            }
        default: return false
        }
    }

    /// An HTTP failure while receiving a body that starts at byte `offset` of the file.
    package init(_ error: HTTPError, offset: Int64, limit: Int64) {
        switch error {
        case .bodyEnded(let received, let expected):
            self = .bodyEnded(received: offset + received, expected: expected.map { offset + $0 })
        case .bodyTooLarge: self = .tooLarge(limit: limit)
        default: self = .transfer(error)
        }
    }

    private static func abbreviated(_ hex: String) -> String {
        let bytes = Array(hex.utf8)
        return bytes.count <= 16 ? hex : String(decoding: bytes[0..<16], as: UTF8.self) + "…"
    }
}
