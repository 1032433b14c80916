/// What the agent asks one update worker to do: one packet, carrying
/// descriptors (`SCM_RIGHTS`) in the order `Descriptor` names for its kind.
/// Acquiring and unpacking are separate workers: the one that parsed network
/// (or USB-stick) bytes has exited before the agent checks the signature, and
/// a fresh one unpacks what was checked. A worker reaches nothing of the
/// agent's but these descriptors.
///
/// - `download`: archive file, signature file (both new, empty, read-write,
///   root's, in root's `downloads/`), the CA file (read-only);
/// - `copy`: archive file, signature file, then the local archive and, when
///   there is one, the local signature (read-only, opened by the CLI);
/// - `unpack`: the checked archive (read-only), the staging folder (new,
///   empty, the helper user's);
/// - `probe`: the archive's CA (`certs/cacert.pem.next`, read-only), to verify
///   `targets` with (`CARotation`).
package struct UpdateJob: Equatable {
    /// Read from a signature source: more than any signature, so that the
    /// agent sees (and names) an oversized one.
    package static let signatureCap: Int64 = 4096

    package enum Kind: String { case download, copy, unpack, probe }

    package var kind: Kind
    package var url = ""
    package var sha256: [UInt8]?
    package var signatureURL = ""
    package var settings: UpdateSettings
    /// `probe`: the servers the new CA must verify.
    package var targets: [CARotation.Target] = []

    package enum Descriptor: Int {
        case archive = 0, signature
        /// `download`: the CA file; `copy`: the local archive; `unpack` has only archive and staging.
        case third
        /// `copy`: the local signature, when given.
        case fourth
        package static let staging = Descriptor.signature
    }

    /// Whether `count` descriptors are what this kind takes.
    package func takes(_ count: Int) -> Bool {
        switch kind {
        case .download: return count == 3
        case .copy: return count == 3 || count == 4
        case .unpack: return count == 2
        case .probe: return count == 1
        }
    }

    package func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        w.key(HelperRole.protocolKey); w.integer(HelperRole.protocolVersion)
        w.key("job"); w.string(kind.rawValue)
        w.key("url"); w.string(url)
        w.key("sha256"); if let sha256 { w.string(Hex.encode(sha256)) } else { w.null() }
        w.key("signature_url"); w.string(signatureURL)
        w.key("max_bytes"); w.integer(settings.downloadMaximumBytes)
        w.key("allow_http"); w.bool(settings.allowPlainHTTP)
        w.key("connect_ms"); w.integer(settings.connectTimeout.milliseconds)
        w.key("idle_ms"); w.integer(settings.idleTimeout.milliseconds)
        w.key("reserve_bytes"); w.integer(settings.reserveBytes)
        w.key("unpack_max_bytes"); w.integer(settings.unpackMaximumBytes)
        w.key("unpack_max_entries"); w.integer(settings.unpackMaximumEntries)
        w.key("unpack_max_ratio"); w.integer(settings.unpackMaximumRatio)
        w.key("targets"); w.beginArray()
        for t in targets {
            w.beginObject()
            w.key("host"); w.string(t.host)
            w.key("port"); w.integer(Int64(t.port))
            w.key("xmpp_domain"); if let d = t.xmppDomain { w.string(d) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w
    }

    package init(kind: Kind, url: String = "", sha256: [UInt8]? = nil, signatureURL: String = "", settings: UpdateSettings) {
        self.kind = kind
        self.url = url
        self.sha256 = sha256
        self.signatureURL = signatureURL
        self.settings = settings
    }

    package init?(packet p: JSONValue) {
        guard let kindName = p["job"]?.stringValue, let kind = Kind(rawValue: kindName),
              let url = p["url"]?.stringValue, let signatureURL = p["signature_url"]?.stringValue,
              let maxBytes = p["max_bytes"]?.integerValue, let allowHTTP = p["allow_http"]?.boolValue,
              let connect = p["connect_ms"]?.integerValue, let idle = p["idle_ms"]?.integerValue,
              let reserve = p["reserve_bytes"]?.integerValue, let unpackBytes = p["unpack_max_bytes"]?.integerValue,
              let entries = p["unpack_max_entries"]?.integerValue, let ratio = p["unpack_max_ratio"]?.integerValue
        else { return nil }
        var sha: [UInt8]?
        if let text = p["sha256"]?.stringValue {
            guard let bytes = Hex.decode(Array(text.utf8)[...], count: 32) else { return nil }
            sha = bytes
        }
        var s = UpdateSettings()
        s.downloadMaximumBytes = maxBytes
        s.allowPlainHTTP = allowHTTP
        s.connectTimeout = .milliseconds(connect)
        s.idleTimeout = .milliseconds(idle)
        s.reserveBytes = reserve
        s.unpackMaximumBytes = unpackBytes
        s.unpackMaximumEntries = Int(entries)
        s.unpackMaximumRatio = ratio
        self.init(kind: kind, url: url, sha256: sha, signatureURL: signatureURL, settings: s)
        for item in p["targets"]?.arrayValue ?? [] {
            guard let host = item["host"]?.stringValue, let port = item["port"]?.integerValue, let port = UInt16(exactly: port)
            else { return nil }
            targets.append(CARotation.Target(host: host, port: port, xmppDomain: item["xmpp_domain"]?.stringValue))
        }
    }
}
