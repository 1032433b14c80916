import TinyBase

/// The update worker: a helper program (`tinyagent-fetch update-worker`) the
/// agent starts with a packet channel on descriptor 3, so that TLS,
/// downloading and unpacking — blocking work, and the parsing of outside
/// bytes — never stall heartbeats or the watchdog, and their memory is
/// returned when it exits. It runs as the helper user (no root, no
/// capabilities) and works only on the descriptors the agent hands it. It
/// dies with the agent (PR_SET_PDEATHSIG); the next agent starts a new one,
/// which downloads again from the first byte.
///
/// Agent → worker: one `UpdateJob` packet with its descriptors. Worker → agent:
/// `WorkerReport`s.
package enum UpdateWorker {
    package static let progressInterval = Duration.milliseconds(250)

    package static func run() -> Int32 {
        guard HelperUser.dropPrivileges() else {
            Console.error("cannot drop to the helper user: \(Errno.current)", from: HelperRole.fetch.program)
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
        channel.send((remark.map { WorkerReport.failed(remark: $0) } ?? .done).packet())
        return ExitStatus.ok
    }

    /// Unpacks into a fresh staging folder, or says why not.
    private static func unpack(_ job: UpdateJob, _ archive: FileDescriptor, into staging: Folder,
                               _ reporter: inout ProgressReporter) -> String? {
        let limits = ExtractionLimits(maximumEntries: job.settings.unpackMaximumEntries, maximumBytes: job.settings.unpackMaximumBytes,
                                      maximumRatio: job.settings.unpackMaximumRatio, reserveBytes: job.settings.reserveBytes)
        do throws(ArchiveError) {
            let result = try ZipExtractor.extract(archive: archive, into: staging, limits: limits) { done, total in
                reporter.report(.unpack, done, total)
            }
            if !result.ignored.isEmpty {
                reporter.log("archive entries not installed: \(result.ignored.joined(separator: ", "))")
            }
            return nil
        } catch {
            return error.remark
        }
    }

    /// Progress packets, at most four a second.
    package struct ProgressReporter {
        package let channel: PacketChannel
        private var last = Instant(nanoseconds: 0)

        package init(channel: PacketChannel) { self.channel = channel }

        package mutating func report(_ phase: WorkerReport.Phase, _ done: Int64, _ total: Int64?) {
            let now = Clock.now()
            guard now - last >= UpdateWorker.progressInterval || (total != nil && done == total) else { return }
            last = now
            channel.send(WorkerReport.progress(phase, done: done, total: total).packet())
        }

        package func log(_ text: String) { channel.send(WorkerReport.log(text).packet()) }
    }
}

/// `tinyagent-fetch update-worker`: started by the agent, never by hand.
public func runUpdateWorker() -> Int32 { UpdateWorker.run() }
