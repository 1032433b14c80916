import CTLS
import TinyBase

/// A blocking TCP or TLS client connection (`ta_conn_*` in Sources/CTLS), closed when the
/// last reference goes.
package final class NetConnection {
    private let raw: OpaquePointer
    private let idleTimeout: Duration

    private init(raw: OpaquePointer, idleTimeout: Duration) {
        self.raw = raw
        self.idleTimeout = idleTimeout
    }

    deinit { ta_conn_close(raw) }

    /// `ta_conn_open`: TLS for https (trusting only `caFile`), plain TCP for http.
    package static func open(_ url: HTTPURL, caFile: String, connectTimeout: Duration, idleTimeout: Duration) throws(HTTPError) -> NetConnection {
        var code: Int32 = 0
        var detail: Int32 = 0
        let raw = withCString(url.host) { host in
            withCString(caFile) { ca in
                ta_conn_open(host, url.port, url.scheme == .https ? 1 : 0, ca,
                             clampedMilliseconds(connectTimeout), clampedMilliseconds(idleTimeout), &code, &detail)
            }
        }
        guard let raw else {
            throw error(code: code, detail: detail, connectTimeout: connectTimeout, idleTimeout: idleTimeout)
        }
        return NetConnection(raw: raw, idleTimeout: idleTimeout)
    }

    /// `ta_xmpp_probe`: whether the CA in `caFile` verifies the XMPP server
    /// at host:port for `domain` (STARTTLS, then the handshake); throws why not.
    static func probeXMPP(host: String, port: UInt16, domain: String, caFile: String,
                          connectTimeout: Duration, idleTimeout: Duration) throws(HTTPError) {
        var code: Int32 = 0
        var detail: Int32 = 0
        let status = withCString(host) { h in
            withCString(domain) { d in
                withCString(caFile) { ca in
                    ta_xmpp_probe(h, port, d, ca, clampedMilliseconds(connectTimeout), clampedMilliseconds(idleTimeout), &code, &detail)
                }
            }
        }
        if status != 0 { throw error(code: code, detail: detail, connectTimeout: connectTimeout, idleTimeout: idleTimeout) }
    }

    /// `ta_conn_read`: bytes read, 0 at the end of the stream.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(HTTPError) -> Int {
        let n = ta_conn_read(raw, buffer.baseAddress, buffer.count)
        if n < 0 { throw failure() }
        return n
    }

    /// `ta_conn_write_all`.
    package func writeAll(_ bytes: [UInt8]) throws(HTTPError) {
        let status = bytes.withUnsafeBytes { ta_conn_write_all(raw, $0.baseAddress, $0.count) }
        if status != 0 { throw failure() }
    }

    private func failure() -> HTTPError {
        NetConnection.error(code: ta_conn_error(raw), detail: ta_conn_detail(raw), connectTimeout: .seconds(0), idleTimeout: idleTimeout)
    }

    private static func error(code: Int32, detail: Int32, connectTimeout: Duration, idleTimeout: Duration) -> HTTPError {
        if code == Int32(TA_NET_TIMED_OUT.rawValue) {
            return detail == 0 ? .connectTimeout(connectTimeout) : .idleTimeout(idleTimeout)
        }
        return .network(NetworkFailure(code: code, detail: detail))
    }

    private static func clampedMilliseconds(_ d: Duration) -> Int32 {
        Int32(clamping: max(d.milliseconds, 1))
    }
}
