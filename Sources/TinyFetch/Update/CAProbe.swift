import TinyBase

extension CARotation {
    /// Worker side: nil when the CA in `caFile` verifies every target, else
    /// the refusal's remark naming the first that failed and why.
    package static func probe(_ targets: [Target], caFile: String, connectTimeout: Duration, idleTimeout: Duration) -> String? {
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
}
