import TinyBase

/// Why a connection attempt failed or a session ended, as the log says it.
/// libstrophe reports most of it only in passing — a refused connection is a
/// plain "disconnected" with its errno in a debug line, a TLS or SASL
/// failure an error line before it — so the link gathers these per attempt
/// (`LinkProcess`) and this names them. The two debug lines read here,
/// `connection failed, error N` (src/event.c) and `SASL MECH auth failed`
/// (src/auth.c), are worded the same in Buster's 0.9.2, Bullseye's 0.10.1
/// and Bookworm's 0.12.2, as is the third, `RECV: <stream:stream …>`
/// (src/conn.c, the server's stream header).
package enum LinkFailure: Equatable {
    case dns(host: String, reason: String)
    case connect(endpoint: String, Errno)
    case tls(String)
    case authentication(jid: String)
    case streamError(condition: String, text: String)
    /// The server closed the stream (`</stream:stream>`).
    case closedByServer
    /// The session's connection broke (reset, timeout).
    case lost(Errno)
    /// The server ended the connection before its XMPP stream header: a
    /// port that expects TLS first (direct TLS, like 5223) does that to the
    /// agent's plain `<stream:stream>`.
    case noStream(endpoint: String, Errno?)
    /// The TLS layer ended the connection; `SSL_get_error`'s code, which is
    /// what libstrophe passes as the error once TLS is up.
    case tlsEnded(Int32, online: Bool)
    case other(String)

    package var description: String {
        switch self {
        case .dns(let host, let reason): return "DNS: cannot resolve \(host): \(reason)"
        case .connect(let endpoint, let e) where e == LinkFailure.refused: return "connection refused by \(endpoint)"
        case .connect(let endpoint, let e) where e == LinkFailure.timedOut: return "timed out connecting to \(endpoint)"
        case .connect(let endpoint, let e): return "cannot connect to \(endpoint): \(e)"
        case .tls(let reason): return "TLS: \(reason)"
        case .authentication(let jid): return "authentication failed for \(jid)"
        case .streamError(let condition, let text): return "stream error: \(condition)" + (text.isEmpty ? "" : " (\(text))")
        case .closedByServer: return "the server closed the session"
        case .lost(let e): return "connection lost: \(e)"
        case .noStream(let endpoint, let e):
            let how = e.map { "ended the connection (\($0))" } ?? "closed the connection"
            return "\(endpoint) \(how) before the XMPP stream began: a direct-TLS port (like 5223)? "
                + "The agent starts TLS inside the stream (STARTTLS, usually port 5222)"
        case .tlsEnded(let code, let online):
            let what = code == 6 ? "the server closed the TLS session" : code == 5 ? "closed or reset under TLS"
                : code == 1 ? "TLS protocol error" : "TLS error \(code)"
            return (online ? "connection lost: " : "connection lost while logging in: ") + what
        case .other(let text): return text
        }
    }

    /// The server ended the session on purpose (shutting down or sending
    /// the device elsewhere): every device it served got the same.
    var serverClosedOnPurpose: Bool {
        switch self {
        case .closedByServer: return true
        case .streamError(let condition, _): return condition == "system-shutdown" || condition == "see-other-host"
        default: return false
        }
    }

    package static let refused = Errno(rawValue: 111)   // ECONNREFUSED
    static let timedOut = Errno(rawValue: 110)  // ETIMEDOUT
    package static let reset = Errno(rawValue: 104)     // ECONNRESET

    /// RFC 6120 §4.9.3's conditions, in the order of libstrophe's
    /// `xmpp_error_type_t` (the same from 0.9 to 0.12).
    static let conditions = [
        "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout", "host-gone", "host-unknown",
        "improper-addressing", "internal-server-error", "invalid-from", "invalid-id", "invalid-namespace",
        "invalid-xml", "not-authorized", "policy-violation", "remote-connection-failed", "resource-constraint",
        "restricted-xml", "see-other-host", "system-shutdown", "undefined-condition", "unsupported-encoding",
        "unsupported-stanza-type", "unsupported-version", "xml-not-well-formed",
    ]

    package static func condition(_ type: Int) -> String {
        type >= 0 && type < conditions.count ? conditions[type] : "condition \(type)"
    }

    /// The errno in libstrophe's debug line for a failed non-blocking
    /// connect, `connection failed, error 111` (area `xmpp`), else nil.
    static func connectErrno(inDebugLine line: String) -> Errno? {
        let prefix = "connection failed, error "
        guard line.hasPrefix(prefix), let n = Int32(String(line.dropFirst(prefix.count))), n > 0 else { return nil }
        return Errno(rawValue: n)
    }
}

/// What libstrophe said in passing during one attempt, read when it ends.
package struct AttemptClues {
    /// The certificate-failure handler's reason (libstrophe 0.11+).
    package var certificate: String?
    var connectErrno: Errno?
    var saslFailed = false
    var tlsProblem: String?
    var otherProblem: String?
    /// Set when the CA file could not be read before the attempt: then a
    /// failed TLS handshake is that, not whatever OpenSSL calls it.
    var missingCAFile: String?
    /// The server's stream header came (libstrophe logged it).
    var streamStarted = false

    /// Whether libstrophe's debug line `message` is the server's stream
    /// header, `RECV: <stream:stream …>`; read in place, as every stanza
    /// received is logged the same way.
    static func isStreamHeader(_ message: UnsafePointer<CChar>) -> Bool {
        var i = 0
        for byte in "RECV: <stream:stream".utf8 {
            guard UInt8(bitPattern: message[i]) == byte else { return false }
            i += 1
        }
        return true
    }

    package mutating func debug(_ line: String) {
        if let e = LinkFailure.connectErrno(inDebugLine: line) {
            connectErrno = e
        } else if line.hasPrefix("SASL "), line.hasSuffix(" auth failed") {
            saslFailed = true
        }
    }

    /// A warning or error line (`area: text`), the first of each kind kept.
    package mutating func problem(area: String, text: String) {
        if area == "tls" {
            if tlsProblem == nil { tlsProblem = text }
        } else if otherProblem == nil {
            otherProblem = text
        }
    }

    /// The most specific cause: what the server said, then what failed
    /// (certificate, password, TLS, connect), then the bare error number.
    package func failure(error: Int32, streamError: (condition: String, text: String)?, secured: Bool, wasOnline: Bool,
                 jid: String, endpoint: String) -> LinkFailure {
        if let streamError { return .streamError(condition: streamError.condition, text: streamError.text) }
        if let missingCAFile, certificate != nil || tlsProblem != nil || secured {
            return .tls("no CA certificate to verify the server with: \(missingCAFile)")
        }
        if let certificate { return .tls(certificate) }
        if saslFailed { return .authentication(jid: JID.comparable(jid) ?? jid) }
        if let tlsProblem { return .tls(tlsProblem) }
        if let connectErrno { return .connect(endpoint: endpoint, connectErrno) }
        if !streamStarted && !secured && !wasOnline && (error == 0 || Errno(rawValue: error) == LinkFailure.reset) {
            return .noStream(endpoint: endpoint, error == 0 ? nil : Errno(rawValue: error))
        }
        if error == 0 {
            if wasOnline { return .closedByServer }
            return .other(otherProblem ?? "\(endpoint) closed the connection while logging in")
        }
        if secured { return .tlsEnded(error, online: wasOnline) }
        if !wasOnline && Errno(rawValue: error) == LinkFailure.timedOut { return .connect(endpoint: endpoint, LinkFailure.timedOut) }
        return .lost(Errno(rawValue: error))
    }
}
