/// A new CA carried by an update archive as `certs/cacert.pem` (DESIGN.md §6).
/// It replaces the only certificate the link and the downloads trust, so a
/// wrong one cuts the device off for good, and a hostile one lets a
/// man-in-the-middle in. Before it counts, it must verify the servers the
/// device talks to now (a probe, in a worker: `probe`); after the swap the
/// link must log in with it within the update's deadline, or the previous
/// file is put back.
///
/// Files in root's `certs/` (0755, files 0644), each step safe to repeat:
///
///     cacert.pem.next   the archive's CA, written by root before the probe (read
///                      from the locked staging tree: `DownloadsFolder.adopt`)
///     cacert.pem.prev  the CA before the swap, until the update is confirmed
package enum CARotation {
    /// Where an archive carries the CA, and where staging holds it.
    package static let archivePath = "certs/" + AgentPaths.caFileName
    /// A CA bundle larger than this is not one.
    package static let maximumBytes = 1 << 20
    /// XMPP's client port, for a server named without one (RFC 6120).
    package static let xmppPort: UInt16 = 5222

    /// A server the new CA must verify.
    package struct Target: Equatable, CustomStringConvertible {
        package var host: String
        package var port: UInt16
        /// The XMPP domain the stream is opened to (STARTTLS; the certificate
        /// is checked against it, as the link does); nil: an HTTPS server,
        /// checked against `host`.
        package var xmppDomain: String?

        package init(host: String, port: UInt16, xmppDomain: String?) {
            self.host = host
            self.port = port
            self.xmppDomain = xmppDomain
        }

        package var description: String {
            let shown = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
            return xmppDomain == nil ? "the download host \(shown)" : "the XMPP server \(shown)"
        }
    }
}
