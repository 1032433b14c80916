/// What the agent asks its update worker to do: one packet, which carries
/// three descriptors (`SCM_RIGHTS`) in this order: the archive file (new,
/// empty, read-write; root's, in root's `downloads/`), the staging folder
/// (new, empty, the helper user's), and the CA file (read-only). The worker
/// can reach nothing else of the agent's.
struct UpdateJob: Equatable {
    var url: String
    var sha256: [UInt8]?
    var settings: UpdateSettings

    /// The descriptors' order in the packet.
    enum Descriptor: Int { case archive = 0, staging, ca }

    func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        w.key("url"); w.string(url)
        w.key("sha256"); if let sha256 { w.string(Hex.encode(sha256)) } else { w.null() }
        w.key("max_bytes"); w.integer(settings.downloadMaximumBytes)
        w.key("allow_http"); w.bool(settings.allowPlainHTTP)
        w.key("connect_ms"); w.integer(settings.connectTimeout.milliseconds)
        w.key("idle_ms"); w.integer(settings.idleTimeout.milliseconds)
        w.key("reserve_bytes"); w.integer(settings.reserveBytes)
        w.key("unpack_max_bytes"); w.integer(settings.unpackMaximumBytes)
        w.key("unpack_max_entries"); w.integer(settings.unpackMaximumEntries)
        w.key("unpack_max_ratio"); w.integer(settings.unpackMaximumRatio)
        w.endObject()
        return w
    }

    init(url: String, sha256: [UInt8]?, settings: UpdateSettings) {
        self.url = url
        self.sha256 = sha256
        self.settings = settings
    }

    init?(packet p: JSONValue) {
        guard let url = p["url"]?.stringValue,
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
        self.init(url: url, sha256: sha, settings: s)
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
/// `{"event": "progress", "phase": "download"|"unpack", "done", "total"}`,
/// `{"event": "log", "text"}`, then `{"event": "done"}` or
/// `{"event": "failed", "remark"}`.
enum UpdateWorker {
    /// Attempts at a download cut short (the server closed, a stall):
    /// each resumes where the last stopped.
    static let attempts = 3
    static let progressInterval = Duration.milliseconds(250)

    static func run() -> Int32 {
        guard HelperUser.dropPrivileges() else {
            Console.error("update-worker: cannot drop to the helper user: \(Errno.current)")
            return ExitStatus.systemError
        }
        let channel = PacketChannel(fd: FileDescriptor(3))
        guard let (first, fds) = channel.receiveWithDescriptors(timeout: .seconds(10)), fds.count == 3,
              let job = UpdateJob(packet: first) else {
            return ExitStatus.dataError
        }
        var target = DownloadTarget(file: fds[UpdateJob.Descriptor.archive.rawValue])
        let staging = Folder(fd: fds[UpdateJob.Descriptor.staging.rawValue], path: "the staging folder")
        let ca = "/proc/self/fd/\(fds[UpdateJob.Descriptor.ca.rawValue].rawValue)"
        var reporter = ProgressReporter(channel: channel)
        if let remark = fetch(job, ca: ca, into: &target, &reporter) ?? unpack(job, target.file, into: staging, &reporter) {
            channel.send(event("failed", "remark", remark))
        } else {
            channel.send(event("done", nil, nil))
        }
        return ExitStatus.ok
    }

    /// Downloads the archive (resuming), or says why not.
    private static func fetch(_ job: UpdateJob, ca: String, into target: inout DownloadTarget,
                              _ reporter: inout ProgressReporter) -> String? {
        var request = DownloadRequest(url: job.url, caFile: ca)
        request.maximumBytes = job.settings.downloadMaximumBytes
        request.allowPlainHTTP = job.settings.allowPlainHTTP
        request.connectTimeout = job.settings.connectTimeout
        request.idleTimeout = job.settings.idleTimeout
        request.sha256 = job.sha256
        request.reserveBytes = job.settings.reserveBytes
        var attempt = 1
        while true {
            do throws(DownloadError) {
                try Downloader.fetch(request, into: &target) { done, total in reporter.report("download", done, total) }
                return nil
            } catch {
                guard error.isResumable, attempt < attempts else { return error.remark }
                reporter.channel.send(event("log", "text", "\(error.remark); resuming (attempt \(attempt + 1) of \(attempts))"))
                Clock.sleep(.seconds(Int64(attempt)))
                attempt += 1
            }
        }
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
                reporter.channel.send(event("log", "text", "archive entries outside SmartMeter/ not installed: \(result.ignored.joined(separator: ", "))"))
            }
            return nil
        } catch {
            return error.remark
        }
    }

    private static func event(_ name: String, _ key: String?, _ value: String?) -> JSONWriter {
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
    }
}

/// `tinyagent update-worker`: started by the agent, never by hand.
public func runUpdateWorker() -> Int32 { UpdateWorker.run() }
