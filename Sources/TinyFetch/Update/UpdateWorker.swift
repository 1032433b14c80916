import TinyBase

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
package enum UpdateWorker {
    package static let progressInterval = Duration.milliseconds(250)

    package static func run() -> Int32 {
        guard HelperUser.dropPrivileges() else {
            Console.error("update-worker: cannot drop to the helper user: \(Errno.current)")
            return ExitStatus.systemError
        }
        let channel = PacketChannel(fd: FileDescriptor(3))
        let first: (packet: JSONValue, descriptors: [FileDescriptor])
        switch channel.receiveFirst(.fetch, timeout: .seconds(10)) {
        case .success(let received): first = received
        case .failure(let exit): return exit.status
        }
        let fds = first.descriptors
        guard let job = UpdateJob(packet: first.packet), job.takes(fds.count) else { return ExitStatus.dataError }
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

    package static func event(_ name: String, _ key: String?, _ value: String?) -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        w.key("event"); w.string(name)
        if let key, let value { w.key(key); w.string(value) }
        w.endObject()
        return w
    }

    /// Progress packets, at most four a second.
    package struct ProgressReporter {
        package let channel: PacketChannel
        private var last = Instant(nanoseconds: 0)

        package init(channel: PacketChannel) { self.channel = channel }

        package mutating func report(_ phase: String, _ done: Int64, _ total: Int64?) {
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

        package func log(_ text: String) { channel.send(UpdateWorker.event("log", "text", text)) }
    }
}

/// `tinyagent update-worker`: started by the agent, never by hand.
public func runUpdateWorker() -> Int32 { UpdateWorker.run() }
