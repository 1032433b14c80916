import CTLS
import TinyBase

/// Why an HTTP exchange failed; `reason` is one line for logs and remarks.
public enum HTTPError: Error, Equatable {
    /// The URL (or a redirect's `Location`) is not one we fetch.
    case badURL(String)
    /// An `http://` URL while only HTTPS is allowed.
    case plainHTTPRefused
    /// Connecting, TLS or the connection itself failed (see `NetworkFailure`).
    case network(NetworkFailure)
    /// No TCP connection within the connect timeout.
    case connectTimeout(Duration)
    /// No byte moved for the idle timeout.
    case idleTimeout(Duration)
    /// The server's bytes are not HTTP/1.x as we accept it.
    case badResponse(String)
    case tooManyRedirects(Int)
    case redirectToPlainHTTP
    /// The body is (or says it will be) larger than the limit.
    case bodyTooLarge(limit: Int64)
    /// The connection ended before the body did: `expected` is its length when known
    /// (Content-Length), nil for a chunked body that lacked its last chunk.
    case bodyEnded(received: Int64, expected: Int64?)

    package init(_ bad: BadURL) { self = .badURL(bad.reason) }

    public var reason: String {
        switch self {
        case .badURL(let why): return "bad URL: \(why)"
        case .plainHTTPRefused: return "plain http refused (https required)"
        case .network(let failure): return failure.reason
        case .connectTimeout(let d): return "no connection within \(d.spoken)"
        case .idleTimeout(let d): return "no data for \(d.spoken)"
        case .badResponse(let why): return "bad response: \(why)"
        case .tooManyRedirects(let n): return "too many redirects (\(n))"
        case .redirectToPlainHTTP: return "redirect to plain http refused"
        case .bodyTooLarge(let limit): return "body larger than the \(limit)-byte limit"
        case .bodyEnded(let received, let expected?): return "body ended after \(received) of \(expected) bytes"
        case .bodyEnded(let received, nil): return "body ended after \(received) bytes, before its last chunk"
        }
    }
}

/// A failure of the C connection layer (`ta_conn_*`): its `ta_net_error` code and detail.
public struct NetworkFailure: Equatable, Sendable {
    public let code: Int32
    public let detail: Int32

    package init(code: Int32, detail: Int32) {
        self.code = code
        self.detail = detail
    }

    public var isCertificateNotTrusted: Bool { code == Int32(TA_NET_NOT_TRUSTED.rawValue) }
    public var isHostnameMismatch: Bool { code == Int32(TA_NET_HOSTNAME.rawValue) }
    public var isCAFileProblem: Bool { code == Int32(TA_NET_CA_FILE.rawValue) }

    /// `ta_net_describe`: "certificate not trusted", "connection refused", …
    public var reason: String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 160) { buffer in
            ta_net_describe(code, detail, buffer.baseAddress, buffer.count)
            return String(cString: buffer.baseAddress!)
        }
    }
}

extension Duration {
    /// "60 s", or "500 ms" below a second, for messages.
    var spoken: String {
        nanoseconds >= 1_000_000_000 && nanoseconds % 1_000_000_000 == 0 ? "\(seconds) s" : "\(milliseconds) ms"
    }
}
