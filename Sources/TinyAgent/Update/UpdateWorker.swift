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
struct UpdateJob: Equatable {
    enum Kind: String { case download, copy, unpack, probe }

    var kind: Kind
    var url = ""
    var sha256: [UInt8]?
    var signatureURL = ""
    var settings: UpdateSettings
    /// `probe`: the servers the new CA must verify.
    var targets: [CARotation.Target] = []

    enum Descriptor: Int {
        case archive = 0, signature
        /// `download`: the CA file; `copy`: the local archive; `unpack` has only archive and staging.
        case third
        /// `copy`: the local signature, when given.
        case fourth
        static let staging = Descriptor.signature
    }

    /// Whether `count` descriptors are what this kind takes.
    func takes(_ count: Int) -> Bool {
        switch kind {
        case .download: return count == 3
        case .copy: return count == 3 || count == 4
        case .unpack: return count == 2
        case .probe: return count == 1
        }
    }

    func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
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

    init(kind: Kind, url: String = "", sha256: [UInt8]? = nil, signatureURL: String = "", settings: UpdateSettings) {
        self.kind = kind
        self.url = url
        self.sha256 = sha256
        self.signatureURL = signatureURL
        self.settings = settings
    }

    init?(packet p: JSONValue) {
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

/// The update worker: a helper process (`tinyagent update-worker`) the
/// agent starts with a packet channel on descriptor 3, so that TLS,
/// downloading and unpacking — blocking work, and the parsing of outside
/// bytes — never stall heartbeats or the watchdog, and their memory is
/// returned when it exits. It runs as the helper user (no root, no
/// capabilities) and works only on the descriptors the agent hands it. It
/// dies with the agent (PR_SET_PDEATHSIG); the next agent starts a new one,
/// which downloads again from the first byte.
///
/// Agent → worker: one `UpdateJob` packet with its descriptors. Worker → agent:
/// `{"event": "progress", "phase": "download"|"copy"|"unpack", "done", "total"}`,
/// `{"event": "log", "text"}`, then `{"event": "done"}` or
/// `{"event": "failed", "remark"}`.
enum UpdateWorker {
    static let progressInterval = Duration.milliseconds(250)

    static func run() -> Int32 {
        guard HelperUser.dropPrivileges() else {
            Console.error("update-worker: cannot drop to the helper user: \(Errno.current)")
            return ExitStatus.systemError
        }
        let channel = PacketChannel(fd: FileDescriptor(3))
        guard let (first, fds) = channel.receiveWithDescriptors(timeout: .seconds(10)),
              let job = UpdateJob(packet: first), job.takes(fds.count) else {
            return ExitStatus.dataError
        }
        var reporter = ProgressReporter(channel: channel)
        let remark: String?
        switch job.kind {
        case .download, .copy:
            remark = UpdateAcquirer.acquire(job, fds, &reporter)
        case .unpack:
            let staging = Folder(fd: fds[UpdateJob.Descriptor.staging.rawValue], path: "the staging folder")
            remark = unpack(job, fds[UpdateJob.Descriptor.archive.rawValue], into: staging, &reporter)
        case .probe:
            remark = CARotation.probe(job.targets, caFile: "/proc/self/fd/\(fds[0].rawValue)",
                                      connectTimeout: job.settings.connectTimeout, idleTimeout: job.settings.idleTimeout)
        }
        if let remark {
            channel.send(event("failed", "remark", remark))
        } else {
            channel.send(event("done", nil, nil))
        }
        return ExitStatus.ok
    }

    /// Unpacks into a fresh staging folder, or says why not.
    private static func unpack(_ job: UpdateJob, _ archive: FileDescriptor, into staging: Folder,
                               _ reporter: inout ProgressReporter) -> String? {
        let limits = ExtractionLimits(maximumEntries: job.settings.unpackMaximumEntries, maximumBytes: job.settings.unpackMaximumBytes,
                                      maximumRatio: job.settings.unpackMaximumRatio, reserveBytes: job.settings.reserveBytes)
        do throws(ArchiveError) {
            let result = try ZipExtractor.extract(archive: archive, into: staging, limits: limits) { done, total in
                reporter.report("unpack", done, total)
            }
            if !result.ignored.isEmpty {
                reporter.log("archive entries outside SmartMeter/ not installed: \(result.ignored.joined(separator: ", "))")
            }
            return nil
        } catch {
            return error.remark
        }
    }

    static func event(_ name: String, _ key: String?, _ value: String?) -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        w.key("event"); w.string(name)
        if let key, let value { w.key(key); w.string(value) }
        w.endObject()
        return w
    }

    /// Progress packets, at most four a second.
    struct ProgressReporter {
        let channel: PacketChannel
        private var last = Instant(nanoseconds: 0)

        init(channel: PacketChannel) { self.channel = channel }

        mutating func report(_ phase: String, _ done: Int64, _ total: Int64?) {
            let now = Clock.now()
            guard now - last >= UpdateWorker.progressInterval || (total != nil && done == total) else { return }
            last = now
            var w = JSONWriter()
            w.beginObject()
            w.key("event"); w.string("progress")
            w.key("phase"); w.string(phase)
            w.key("done"); w.integer(done)
            w.key("total"); if let total { w.integer(total) } else { w.null() }
            w.endObject()
            channel.send(w)
        }

        func log(_ text: String) { channel.send(UpdateWorker.event("log", "text", text)) }
    }
}

/// `tinyagent update-worker`: started by the agent, never by hand.
public func runUpdateWorker() -> Int32 { UpdateWorker.run() }
