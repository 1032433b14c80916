import TinyBase

/// The agent's side of `CARotation`: which servers a new CA must verify,
/// and its files in `certs/`.
extension CARotation {
    /// The link's servers as probe targets: its configured servers, else
    /// the JID's domain on the client port (SRV records are not looked up).
    package static func xmppTargets(endpoints: [ServerEndpoint], domain: String) -> [Target] {
        if endpoints.isEmpty { return [Target(host: domain, port: xmppPort, xmppDomain: domain)] }
        return endpoints.map { Target(host: $0.host, port: $0.port == 0 ? xmppPort : $0.port, xmppDomain: domain) }
    }

    /// What a new CA must verify before it is installed: the XMPP servers
    /// (`xmpp`; nil: this device has no XMPP configuration) and the download
    /// host of an update that came over HTTPS — or why it cannot be installed.
    package static func targets(xmpp: [Target]?, source: UpdateSource) -> Result<[Target], UpdateRefusal> {
        guard let xmpp, !xmpp.isEmpty else {
            return .failure(UpdateRefusal("the archive carries \(archivePath) but this device has no XMPP configuration (with TLS) "
                                          + "to verify it against; not installed (a new CA must never cut the device off)"))
        }
        guard case .https(let text, _, _) = source, let url = try? HTTPURL.parse(text), url.scheme == .https else {
            return .success(xmpp)
        }
        return .success(xmpp + [Target(host: url.host, port: url.port, xmppDomain: nil)])
    }

    /// The three CA files in root's `certs/`.
    package struct CAFiles {
        package let current: String
        package var staged: String { current + ".next" }
        package var previous: String { current + ".prev" }

        package init(paths: AgentPaths) { current = paths.caFile }

        /// The current CA → `cacert.pem.prev`, `cacert.pem.next` → the current
        /// one. Until `.next` is gone the current file is still the old one,
        /// so a repeat after a crash keeps the right `.prev`.
        package func swap() throws(Errno) {
            guard exists(staged) else { return }
            if exists(current) {
                try Files.writeAtomically(previous, bytes: try Files.read(current, limit: CARotation.maximumBytes), mode: 0o644)
            }
            try Files.rename(staged, to: current)
            Files.syncFolder(of: current)
        }

        /// Puts `cacert.pem.prev` back (the rollback); done once `.prev` is gone.
        package func restore() throws(Errno) {
            Files.remove(staged)
            guard exists(previous) else { return }
            try Files.rename(previous, to: current)
            Files.syncFolder(of: current)
        }

        /// Forgets what an ended update left: the unprobed copy, and the
        /// previous CA once the new one is confirmed (or put back).
        package func cleanUp() {
            Files.remove(staged)
            Files.remove(previous)
            Files.syncFolder(of: current)
        }

        private func exists(_ path: String) -> Bool { Files.size(path) != nil }
    }
}
