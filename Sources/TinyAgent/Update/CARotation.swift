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
enum CARotation {
    /// Where an archive carries the CA, and where staging holds it.
    static let archivePath = "certs/cacert.pem"
    /// A CA bundle larger than this is not one.
    static let maximumBytes = 1 << 20
    /// XMPP's client port, for a server named without one (RFC 6120).
    static let xmppPort: UInt16 = 5222

    /// A server the new CA must verify.
    struct Target: Equatable, CustomStringConvertible {
        var host: String
        var port: UInt16
        /// The XMPP domain the stream is opened to (STARTTLS; the certificate
        /// is checked against it, as the link does); nil: an HTTPS server,
        /// checked against `host`.
        var xmppDomain: String?

        var description: String {
            let shown = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
            return xmppDomain == nil ? "the download host \(shown)" : "the XMPP server \(shown)"
        }
    }

    /// The link's servers as probe targets: its configured servers, else
    /// the JID's domain on the client port (SRV records are not looked up).
    static func xmppTargets(endpoints: [ServerEndpoint], domain: String) -> [Target] {
        if endpoints.isEmpty { return [Target(host: domain, port: xmppPort, xmppDomain: domain)] }
        return endpoints.map { Target(host: $0.host, port: $0.port == 0 ? xmppPort : $0.port, xmppDomain: domain) }
    }

    /// What a new CA must verify before it is installed: the XMPP servers
    /// (`xmpp`; nil: this device has no XMPP configuration) and the download
    /// host of an update that came over HTTPS — or why it cannot be installed.
    static func targets(xmpp: [Target]?, source: UpdateSource) -> Result<[Target], UpdateRefusal> {
        guard let xmpp, !xmpp.isEmpty else {
            return .failure(UpdateRefusal("the archive carries \(archivePath) but this device has no XMPP configuration (with TLS) "
                                          + "to verify it against; not installed (a new CA must never cut the device off)"))
        }
        guard case .https(let text, _, _) = source, let url = try? HTTPURL.parse(text), url.scheme == .https else {
            return .success(xmpp)
        }
        return .success(xmpp + [Target(host: url.host, port: url.port, xmppDomain: nil)])
    }

    /// Worker side: nil when the CA in `caFile` verifies every target, else
    /// the refusal's remark naming the first that failed and why.
    static func probe(_ targets: [Target], caFile: String, connectTimeout: Duration, idleTimeout: Duration) -> String? {
        for target in targets {
            do throws(HTTPError) {
                if let domain = target.xmppDomain {
                    try NetConnection.probeXMPP(host: target.host, port: target.port, domain: domain, caFile: caFile,
                                                connectTimeout: connectTimeout, idleTimeout: idleTimeout)
                } else {
                    let url = HTTPURL(scheme: .https, host: target.host, port: target.port, target: "/")
                    _ = try NetConnection.open(url, caFile: caFile, connectTimeout: connectTimeout, idleTimeout: idleTimeout)
                }
            } catch {
                return "the archive's \(archivePath) does not verify \(target) (\(error.reason)); not installed, the old CA is kept"
            }
        }
        return nil
    }

    /// The three CA files in root's `certs/`.
    struct CAFiles {
        let current: String
        var staged: String { current + ".next" }
        var previous: String { current + ".prev" }

        init(certs: String) { current = "\(certs)/cacert.pem" }

        /// The current CA → `cacert.pem.prev`, `cacert.pem.next` → the current
        /// one. Until `.next` is gone the current file is still the old one,
        /// so a repeat after a crash keeps the right `.prev`.
        func swap() throws(Errno) {
            guard exists(staged) else { return }
            if exists(current) {
                try Files.writeAtomically(previous, bytes: try Files.read(current, limit: CARotation.maximumBytes), mode: 0o644)
            }
            try Files.rename(staged, to: current)
            Files.syncFolder(of: current)
        }

        /// Puts `cacert.pem.prev` back (the rollback); done once `.prev` is gone.
        func restore() throws(Errno) {
            Files.remove(staged)
            guard exists(previous) else { return }
            try Files.rename(previous, to: current)
            Files.syncFolder(of: current)
        }

        /// Forgets what an ended update left: the unprobed copy, and the
        /// previous CA once the new one is confirmed (or put back).
        func cleanUp() {
            Files.remove(staged)
            Files.remove(previous)
            Files.syncFolder(of: current)
        }

        private func exists(_ path: String) -> Bool { Files.size(path) != nil }
    }
}
