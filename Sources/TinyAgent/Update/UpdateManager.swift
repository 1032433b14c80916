/// Runs a software update (SPEC §6) inside the agent's event loop, one
/// step at a time, journaling each step in `wdog/update.json` first:
///
///     fetch     the worker process downloads and unpacks into downloads/
///     swap      stop the processes; SmartMeter → SmartMeter.prev, staged → SmartMeter
///     verify    start the processes; every listed one must heartbeat its version
///     rollback  SmartMeter → SmartMeter.failed, SmartMeter.prev → SmartMeter, restart
///
/// Nothing here blocks: downloading and unpacking happen in the worker
/// (`UpdateWorker`), renames are quick, and waiting is done by the loop.
final class UpdateManager {
    private let paths: AgentPaths
    private let settings: UpdateSettings
    private let supervisor: Supervisor
    private let loop: EventLoop
    private let logger: Logger
    /// The helper user the worker runs as (nil: the agent is not root), or
    /// why there is none (updates are then refused).
    private let helper: Identity?
    private let helperRefusal: String?
    /// Sends the command's one answer (journaled first).
    private let answer: (_ commandNo: Int64, _ success: Bool, _ remarks: String) -> Void
    private(set) var record: UpdateRecord?
    private var worker: Worker?
    /// Progress of the fetch step, for STATUS= and `status`.
    private(set) var progress = ""
    /// Bumped whenever `summary` changes.
    private(set) var generation = 0
    private var lastProgressLog = Instant(nanoseconds: 0)
    /// When the verify step gives up (monotonic: a clock set by NTP mid-update changes nothing).
    private var verifyDeadline: Instant?

    private struct Worker {
        var pid: Int32
        var channel: PacketChannel
        var token: EventLoop.Token?
        var outcome: Outcome?
    }

    private enum Outcome {
        case done
        case failed(String)
    }

    init(paths: AgentPaths, settings: UpdateSettings, supervisor: Supervisor, loop: EventLoop, logger: Logger,
         helper: Identity?, helperRefusal: String?, answer: @escaping (Int64, Bool, String) -> Void) {
        self.paths = paths
        self.helper = helper
        self.helperRefusal = helperRefusal
        self.settings = settings
        self.supervisor = supervisor
        self.loop = loop
        self.logger = logger
        self.answer = answer
    }

    // MARK: Commands

    /// Whether the command is taken (its answer comes later), a duplicate
    /// of the running one, or refused with a remark.
    enum Decision: Equatable {
        case accepted
        case alreadyRunning
        case refused(String)
    }

    func begin(_ command: UpdateCommand, now: Instant) -> Decision {
        if let record {
            if record.command.commandNo == command.commandNo { return .alreadyRunning }
            return .refused("an update (command \(record.command.commandNo)) is in progress")
        }
        if let helperRefusal { return .refused(helperRefusal) }
        let timeout = command.timeout ?? settings.verifyTimeout
        let record = UpdateRecord(command: command, step: .fetch, timeoutSeconds: timeout.seconds)
        do { try save(record) } catch {
            return .refused("cannot write \(paths.updateJournal): \(error)")
        }
        logger.notice("update \(command.commandNo): \(command.url) → \(command.processes.map { "\($0.name) \($0.version)" }.joined(separator: ", "))")
        startWorker()
        return .accepted
    }

    /// At the agent's start: carries on with an update a previous run left.
    /// `answered` says whether the command journal already holds its answer.
    func resume(answered: (Int64) -> Bool, now: Instant) {
        guard Files.size(paths.updateJournal) != nil else { return }
        let loaded: UpdateRecord
        do {
            loaded = try UpdateRecord.decode(try readJournal())
        } catch {
            // Which step it was is unknown: the folders are left as they are.
            logger.error("\(paths.updateJournal): \(error.reason); kept as update.json.bad")
            try? Files.rename(paths.updateJournal, to: paths.updateJournal + ".bad")
            return
        }
        let no = loaded.command.commandNo
        if answered(no) {
            logger.notice("update \(no) was answered before the agent stopped; cleaning up")
            record = loaded
            cleanUp()
            return
        }
        logger.notice("update \(no) was at step \(loaded.step.rawValue) when the agent stopped; carrying on")
        record = loaded
        switch loaded.step {
        case .fetch:
            startWorker()
        case .swap, .rollback:
            supervisor.stopAll(now: now)
        case .verify:
            // The journal's wall-clock start gives what is left, at most the whole timeout.
            let left = loaded.verifySince + loaded.timeoutSeconds - Clock.wallSeconds()
            verifyDeadline = now + .seconds(min(max(0, left), loaded.timeoutSeconds))
            startNewProcesses(now: now)
        }
        changed()
    }

    // MARK: The loop's calls

    /// The verify deadline, when one is running.
    var nextDeadline: Instant? { record?.step == .verify ? verifyDeadline : nil }

    /// Moves the update on as far as it can go now; called after every
    /// loop iteration.
    func tick(now: Instant) {
        guard let record else { return }
        switch record.step {
        case .fetch:
            break  // the worker's packets and exit move it on
        case .swap:
            if supervisor.allStopped { install(now: now) }
        case .verify:
            verify(record, now: now)
        case .rollback:
            if supervisor.allStopped { restorePrevious(now: now) }
        }
    }

    /// A child exited; true when it was the worker.
    func childExited(pid: Int32, exitCode: Int32, signal: Int32, now: Instant) -> Bool {
        guard var worker, worker.pid == pid else { return false }
        drain(&worker)
        if let token = worker.token { loop.unwatch(token) }
        worker.channel.fd.close()
        self.worker = nil
        let outcome = worker.outcome ?? .failed(signal != 0
            ? "update worker was killed by signal \(signal)"
            : "update worker exited with status \(exitCode) before it finished")
        switch outcome {
        case .done:
            fetched(now: now)
        case .failed(let remark):
            logger.error("update \(record?.command.commandNo ?? -1): \(remark)")
            finish(success: false, remark)
        }
        return true
    }

    /// The one-line state for STATUS=, the presence and `status`.
    var summary: String {
        guard let record else { return "no update in progress" }
        let no = record.command.commandNo
        switch record.step {
        case .fetch: return progress.isEmpty ? "update \(no): starting the download" : "update \(no): \(progress)"
        case .swap: return "update \(no): stopping processes and installing"
        case .verify: return "update \(no): waiting for the new versions"
        case .rollback: return "update \(no): rolling back (\(record.cause))"
        }
    }

    // MARK: Steps

    /// Starts the worker as the helper user and hands it a new archive
    /// file, a new staging folder and the CA file, as descriptors.
    private func startWorker() {
        guard let record else { return }
        let no = record.command.commandNo
        let job = UpdateJob(url: record.command.url, sha256: record.command.sha256, settings: settings)
        do throws(Errno) {
            let downloads = try DownloadsFolder.open(paths.downloads)
            defer { downloads.close() }
            // Left by agents before 0.4, which resumed across restarts.
            for name in [AgentPaths.updateArchiveName(no) + ".part", AgentPaths.updateArchiveName(no) + ".part.json"] {
                try Files.removeTree("\(paths.downloads)/\(name)")
            }
            let archive = try downloads.newArchive(AgentPaths.updateArchiveName(no))
            defer { archive.close() }
            let staging = try downloads.newStaging(AgentPaths.updateStagingName(no), for: helper)
            defer { staging.close() }
            let ca: FileDescriptor
            do { ca = try Folder.openRegularFile("\(paths.certs)/cacert.pem") } catch { throw error.errno }
            defer { ca.close() }
            let (channel, pid) = try PacketChannel.startHelper("update-worker", as: helper)
            var worker = Worker(pid: pid, channel: channel)
            worker.token = try? loop.watch(channel.fd) { _ in self.workerReadable() }
            self.worker = worker
            channel.send(job.packet(), descriptors: [archive, staging.fd, ca])
            progress = "downloading"
            changed()
        } catch {
            finish(success: false, "cannot start the update worker: \(error)")
        }
    }

    private func workerReadable() {
        guard var worker else { return }
        drain(&worker)
        if worker.outcome != nil, let token = worker.token {
            // Finished: stop watching; its exit (SIGCHLD) moves the update on.
            loop.unwatch(token)
            worker.token = nil
        }
        self.worker = worker
    }

    private func drain(_ worker: inout Worker) {
        while true {
            switch worker.channel.receive() {
            case .empty:
                return
            case .closed:
                if let token = worker.token { loop.unwatch(token) }
                worker.token = nil
                return
            case .malformed:
                logger.warning("update worker: malformed packet ignored")
            case .packet(let packet):
                guard let event = packet["event"]?.stringValue else { continue }
                switch event {
                case "progress":
                    let done = packet["done"]?.integerValue ?? 0
                    let total = packet["total"]?.integerValue
                    let phase = packet["phase"]?.stringValue ?? "download"
                    progress = UpdateManager.progressText(phase: phase, done: done, total: total)
                    changed()
                    let now = Clock.now()
                    if now - lastProgressLog >= .seconds(10) {
                        lastProgressLog = now
                        logger.info("update \(record?.command.commandNo ?? -1): \(progress)")
                    }
                case "log":
                    logger.notice("update worker: \(packet["text"]?.stringValue ?? "")")
                case "done":
                    worker.outcome = .done
                case "failed":
                    worker.outcome = .failed(packet["remark"]?.stringValue ?? "update worker failed")
                default:
                    break
                }
            }
        }
    }

    /// Downloaded and unpacked: take the staged tree back from the worker's
    /// user, then stop the processes for the swap.
    private func fetched(now: Instant) {
        guard var record else { return }
        do throws(StagingError) {
            let downloads: DownloadsFolder
            do { downloads = try DownloadsFolder.open(paths.downloads) } catch { throw .system(paths.downloads, error) }
            defer { downloads.close() }
            // Without an app user the tree stays the agent's (and its code is not run).
            let app = supervisor.knownAppUser(now: now) ?? Processes.ownIdentity
            try downloads.adopt(AgentPaths.updateStagingName(record.command.commandNo), for: app)
        } catch {
            logger.error("update \(record.command.commandNo): \(error.remark)")
            finish(success: false, error.remark)
            return
        }
        record.step = .swap
        record.hadPrevious = Files.size(paths.smartMeter) != nil
        record.previous = supervisor.specs
        do { try save(record) } catch {
            finish(success: false, "cannot write \(paths.updateJournal): \(error)")
            return
        }
        logger.notice("update \(record.command.commandNo): downloaded and unpacked; stopping the processes")
        supervisor.stopAll(now: now)
        tick(now: now)
    }

    private func install(now: Instant) {
        guard var record else { return }
        let staged = "\(paths.updateStaging(record.command.commandNo))/SmartMeter"
        do {
            try FolderSwap(paths: paths).install(staged)
        } catch {
            // Nothing new is in place unless the last rename succeeded.
            logger.error("update \(record.command.commandNo): cannot install \(staged): \(error)")
            rollback("install: cannot move the new folder into place: \(error)", now: now)
            return
        }
        record.step = .verify
        record.verifySince = Clock.wallSeconds()
        verifyDeadline = now + .seconds(record.timeoutSeconds)
        do { try save(record) } catch {
            logger.error("cannot write \(paths.updateJournal): \(error)")
        }
        logger.notice("update \(record.command.commandNo): new SmartMeter in place (previous kept as SmartMeter.prev); starting the processes")
        startNewProcesses(now: now)
    }

    /// Starts what the new folder's manifest lists, else the processes
    /// known before; ones still running (re-adopted) are left alone.
    private func startNewProcesses(now: Instant) {
        guard let record else { return }
        var specs = record.previous
        let listed = UpdateManager.listedProcesses(in: paths.smartMeter, for: supervisor, now: now, logger: logger)
        if let listed {
            specs = listed
            supervisor.list(listed)
        }
        supervisor.start(specs, now: now)
        changed()
    }

    private func verify(_ record: UpdateRecord, now: Instant) {
        var missing: [String] = []
        var wrong: [String] = []
        for expected in record.command.processes {
            guard let i = supervisor.index(of: expected.name),
                  supervisor.processes[i].lastHeartbeatWall >= record.verifySince,
                  supervisor.processes[i].state == .running || supervisor.processes[i].state == .starting
            else {
                missing.append(expected.name)
                continue
            }
            let reported = supervisor.processes[i].version
            if reported != expected.version {
                wrong.append("\(expected.name) reported \(reported), expected \(expected.version)")
            }
        }
        if !wrong.isEmpty {
            rollback(wrong.joined(separator: "; "), now: now)
        } else if missing.isEmpty {
            logger.notice("update \(record.command.commandNo): every listed process runs its new version")
            finish(success: true, "")
        } else if let deadline = verifyDeadline, deadline <= now {
            rollback("\(missing.joined(separator: ", ")) sent no heartbeat within \(record.timeoutSeconds) s", now: now)
        }
    }

    private func rollback(_ cause: String, now: Instant) {
        guard var record else { return }
        logger.error("update \(record.command.commandNo) failed: \(cause); rolling back")
        record.step = .rollback
        record.cause = cause
        do { try save(record) } catch {
            logger.error("cannot write \(paths.updateJournal): \(error)")
        }
        supervisor.stopAll(now: now)
        changed()
        tick(now: now)
    }

    private func restorePrevious(now: Instant) {
        guard let record else { return }
        do {
            try FolderSwap(paths: paths).restore(hadPrevious: record.hadPrevious)
        } catch {
            // Retried at the next tick: the renames are safe to repeat.
            logger.error("update \(record.command.commandNo): cannot put the previous folder back: \(error); retrying")
            return
        }
        let listed = UpdateManager.listedProcesses(in: paths.smartMeter, for: supervisor, now: now, logger: logger)
        supervisor.list(listed ?? [])
        supervisor.start(record.previous, now: now)
        logger.notice("update \(record.command.commandNo): previous SmartMeter restored (the failed one is kept as SmartMeter.failed)")
        finish(success: false, record.cause)
    }

    /// Answers the command (journaled by the answer closure), then forgets
    /// the update: a crash in between is told apart by the command journal.
    private func finish(success: Bool, _ remark: String) {
        guard let record else { return }
        answer(record.command.commandNo, success, remark)
        cleanUp()
    }

    private func cleanUp() {
        guard let record else { return }
        let no = record.command.commandNo
        // The staging folder may still be the helper user's: Files.removeTree
        // walks through descriptors and follows no link.
        for path in [paths.updateArchive(no), paths.updateStaging(no)] {
            do { try Files.removeTree(path) } catch { logger.warning("cannot remove \(path): \(error)") }
        }
        Files.remove(paths.updateJournal)
        Files.syncFolder(of: paths.updateJournal)
        self.record = nil
        verifyDeadline = nil
        progress = ""
        changed()
    }

    private func readJournal() throws(RegistryError) -> [UInt8] {
        do { return try Files.readTrusted(paths.updateJournal) ?? [] } catch { throw .unreadable(error) }
    }

    private func save(_ new: UpdateRecord) throws(Errno) {
        try Files.writeAtomically(paths.updateJournal, new.encode(), mode: 0o600)
        record = new
        changed()
    }

    private func changed() { generation += 1 }

    // MARK: Helpers

    /// `SmartMeter/tinyagent.json`, when the folder has a valid one, and
    /// whether root owns it (no one else may write it).
    static func manifest(in folder: String, logger: Logger) -> (manifest: UpdateManifest, isRoots: Bool)? {
        let path = "\(folder)/tinyagent.json"
        guard Files.size(path) != nil else { return nil }
        let file: (bytes: [UInt8], status: FileStatus)
        do { file = try Files.readRegular(path) } catch {
            logger.error("\(path): \(error); ignored")
            return nil
        }
        do { return (try UpdateManifest.parse(file.bytes), !file.status.writableByOthers(than: 0)) } catch {
            logger.error("\(path): \(error.reason); ignored")
            return nil
        }
    }

    /// The processes `SmartMeter/tinyagent.json` lists, as the agent starts
    /// them; nil without a valid manifest. One that may not be started (its
    /// user is missing, or is one the manifest may not choose: `ManifestUsers`)
    /// is left out, and the log says why.
    static func listedProcesses(in folder: String, for supervisor: Supervisor, now: Instant, logger: Logger) -> [ProcessSpec]? {
        guard let (manifest, isRoots) = manifest(in: folder, logger: logger) else { return nil }
        let users = ManifestUsers(appUser: supervisor.knownAppUser(now: now), processUsers: supervisor.settings.processUsers,
                                  rootProcesses: supervisor.settings.rootProcesses, manifestIsRoots: isRoots)
        var specs: [ProcessSpec] = []
        for process in manifest.processes {
            do { specs.append(try ProcessSpec.listed(process, users: users)) } catch {
                logger.error("\(folder)/tinyagent.json: \(error.reason)")
            }
        }
        return specs
    }

    static func progressText(phase: String, done: Int64, total: Int64?) -> String {
        let verb = phase == "unpack" ? "unpacking" : "downloading"
        guard let total, total > 0 else { return "\(verb) \(megabytes(done)) MB" }
        return "\(verb) \(megabytes(done)) of \(megabytes(total)) MB (\(done * 100 / total) %)"
    }

    /// One decimal: 12.3.
    static func megabytes(_ bytes: Int64) -> String {
        let tenths = bytes * 10 / 1_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}
