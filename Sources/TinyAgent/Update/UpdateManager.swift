import TinyBase
import TinyWatchdog

/// Runs a software update (DESIGN.md §6) inside the agent's event loop, one
/// step at a time, journaling each step in `wdog/update.json` first. An
/// update is acquired, then installed (as rauc splits it):
///
///     acquire   a worker (helper user) brings the archive and its signature
///               into downloads/: over HTTPS (the panel), or copied from
///               descriptors the local CLI passed (`UpdateSource`)
///     check     that worker has exited; the agent checks the signature on
///               the open archive (`ArchiveCheck`, certs/update-keys/)
///     unpack    a fresh worker unpacks that same descriptor into staging
///     probe     (an archive with certs/cacert.pem) a fresh worker checks that
///               the new CA verifies the servers (`CARotation`)
///     swap      stop the processes; SmartMeter → SmartMeter.prev, staged → SmartMeter
///               (and the CA: cacert.pem → .prev, the new one in place; the link restarts;
///               an archive with only a CA leaves the processes and SmartMeter alone)
///     verify    start the processes; every listed one must heartbeat its version
///               (and the link must log in with a new CA)
///     rollback  SmartMeter → SmartMeter.failed, SmartMeter.prev → SmartMeter, restart
///               (and cacert.pem.prev → cacert.pem)
///
/// The answer goes to the update's origin (the panel's command, or the local
/// CLI). Nothing here blocks long: downloading and unpacking happen in
/// workers, the signature check hashes the archive once, renames are quick,
/// and waiting is done by the loop.
package final class UpdateManager {
    private let paths: AgentPaths
    private let settings: UpdateSettings
    private let supervisor: Supervisor
    private let loop: EventLoop
    private let logger: Logger
    /// How the workers start: `tinyagent-fetch`, opened at the agent's
    /// start, and the helper user they run as; or why they cannot (every
    /// update is then refused).
    private let workers: Result<HelperLaunch, HelperUnavailable>
    /// Sends the update's one answer to its origin (journaled first for the panel).
    private let answer: (_ origin: UpdateOrigin, _ success: Bool, _ remarks: String) -> Void
    private let link: UpdateLink
    private let caFiles: CARotation.CAFiles
    /// The agent's programs, beside the running one (nil: its folder is
    /// unknown, and an archive carrying programs is refused).
    private let programs: ProgramFiles?
    /// `wdog/self-update.trial` (`TrialState`), read by the guard before every start.
    private let trialFile: String
    package private(set) var record: UpdateRecord?
    /// How the last update ended, for `status` (also in wdog/last-update.json).
    package private(set) var last: LastUpdate?
    /// `wdog/update.json`: the update in progress.
    private let journal: StateFile
    private let lastUpdateFile: StateFile
    private var worker: Worker?
    /// A local source's descriptors, until the copying worker has them.
    private var localFiles: [FileDescriptor] = []
    /// Progress of the acquire and unpack steps, for STATUS= and `status`.
    package private(set) var progress = ""
    /// Bumped whenever `summary` changes.
    package private(set) var generation = 0
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

    package init(paths: AgentPaths, settings: UpdateSettings, supervisor: Supervisor, loop: EventLoop, logger: Logger,
         workers: Result<HelperLaunch, HelperUnavailable>, link: UpdateLink, answer: @escaping (UpdateOrigin, Bool, String) -> Void) {
        self.paths = paths
        self.link = link
        caFiles = CARotation.CAFiles(paths: paths)
        programs = (try? Processes.executableFolder()).map { ProgramFiles(folder: $0) }
        trialFile = "\(paths.wdog)/\(TrialState.fileName)"
        self.workers = workers
        self.settings = settings
        self.supervisor = supervisor
        self.loop = loop
        self.logger = logger
        self.answer = answer
        journal = StateFile(path: paths.updateJournal, format: UpdateRecord.format)
        lastUpdateFile = StateFile(path: paths.lastUpdate, format: LastUpdate.format)
        last = lastUpdateFile.load(logger: logger, ifBad: "status shows no last update", LastUpdate.decode)
    }

    // MARK: Requests

    /// Whether the request is taken (its answer comes later), a duplicate
    /// of the running one, or refused with a remark.
    package enum Decision: Equatable {
        case accepted
        case alreadyRunning
        case refused(String)
    }

    /// The panel's `smart_meter_update`.
    package func begin(_ command: UpdateCommand, now: Instant) -> Decision {
        if let record, record.origin == .panel(commandNo: command.commandNo) { return .alreadyRunning }
        let source = UpdateSource.https(url: command.url, sha256: command.sha256, signatureURL: command.signatureURL)
        return begin(origin: .panel(commandNo: command.commandNo), source: source, expected: command.processes,
                     timeout: command.timeout, agentVersion: command.agentVersion)
    }

    /// `tinyagent update --file`: the archive and signature (nil: none) the CLI opened.
    package func beginLocal(name: String, archive: FileDescriptor, signature: FileDescriptor?, now: Instant) -> Decision {
        localFiles = [archive] + (signature.map { [$0] } ?? [])
        let decision = begin(origin: .local(id: Clock.wallSeconds()), source: .file(name: name), expected: [], timeout: nil,
                             agentVersion: nil)
        closeLocalFiles()
        return decision
    }

    private func begin(origin: UpdateOrigin, source: UpdateSource, expected: [UpdateCommand.Expected],
                       timeout: Duration?, agentVersion: Version?) -> Decision {
        if let record { return .refused("an update (\(record.origin.holder)) is in progress") }
        if case .failure(let refusal) = workers { return .refused(refusal.reason) }
        var record = UpdateRecord(origin: origin, source: source, expected: expected, step: .acquire,
                                  timeoutSeconds: (timeout ?? settings.verifyTimeout).seconds)
        record.startedAt = Clock.wallSeconds()
        record.agentVersion = agentVersion
        record.before = supervisor.processes.map { "\($0.name) \($0.version)" }.sorted().joined(separator: ", ")
        do { try save(record) } catch {
            return .refused("cannot write \(paths.updateJournal): \(error)")
        }
        let versions = expected.isEmpty ? "the versions its manifest names" : expected.map { "\($0.name) \($0.version)" }.joined(separator: ", ")
        logger.notice("\(origin.label): \(source.description) → \(versions)")
        startAcquiring()
        return .accepted
    }

    /// At the agent's start: carries on with an update a previous run left.
    /// `answered` says whether the command journal already holds a panel
    /// update's answer.
    package func resume(answered: (Int64) -> Bool, now: Instant) {
        // Which step a bad one was at is unknown: the folders are left as they are.
        guard let loaded = journal.load(logger: logger, ifBad: "the update it held is left as it is", UpdateRecord.decode) else {
            return
        }
        record = loaded
        if case .panel(let no) = loaded.origin, answered(no) {
            logger.notice("update \(no) was answered before the agent stopped; cleaning up")
            cleanUp()
            return
        }
        logger.notice("\(loaded.origin.label) was at step \(loaded.step.rawValue) when the agent stopped; carrying on")
        if loaded.newPrograms && resumeSelfUpdate(loaded, now: now) { return }
        switch loaded.step {
        case .acquire:
            startAcquiring()
        case .check, .unpack:
            // Checked again: nothing of a check survives the process that made it.
            checkAndUnpack()
        case .probe:
            startProbe()
        case .swap, .rollback:
            if loaded.newSmartMeter { supervisor.stopAll(now: now) }
        case .verify:
            // The journal's wall-clock start gives what is left, at most the whole timeout.
            let left = loaded.verifySince + loaded.timeoutSeconds - Clock.wallSeconds()
            verifyDeadline = now + .seconds(min(max(0, left), loaded.timeoutSeconds))
            if loaded.newSmartMeter { startNewProcesses(now: now) }
        }
        changed()
    }

    // MARK: The loop's calls

    /// The verify deadline, when one is running.
    package var nextDeadline: Instant? { record?.step == .verify ? verifyDeadline : nil }

    /// Moves the update on as far as it can go now; called after every
    /// turn of the loop.
    package func tick(now: Instant) {
        guard let record else { return }
        switch record.step {
        case .acquire, .check, .unpack, .probe:
            break  // the workers' packets and exits move it on
        case .swap:
            if !record.newSmartMeter || supervisor.allStopped { install(now: now) }
        case .verify:
            verify(record, now: now)
        case .rollback:
            if !record.newSmartMeter || supervisor.allStopped { restorePrevious(now: now) }
        }
    }

    /// A child exited; true when it was a worker.
    package func childExited(pid: Int32, exitCode: Int32, signal: Int32, now: Instant) -> Bool {
        guard var worker, worker.pid == pid else { return false }
        drain(&worker)
        if let token = worker.token { loop.unwatch(token) }
        worker.channel.close()
        self.worker = nil
        let outcome = worker.outcome
            ?? .failed("update worker: \(HelperRole.fetch.exitRemark(exitCode: exitCode, signal: signal)) before it finished")
        switch outcome {
        case .done where record?.step == .acquire:
            checkAndUnpack()
        case .done where record?.step == .probe:
            if let record { logger.notice("\(record.origin.label): the archive's CA verifies the servers") }
            stopForSwap(now: now)
        case .done:
            unpacked(now: now)
        case .failed(let remark):
            logger.error("\(record?.origin.label ?? "update"): \(remark)")
            finish(success: false, remark)
        }
        return true
    }

    /// The one-line state for STATUS=, the presence and `status`.
    package var summary: String {
        guard let record else { return "no update in progress" }
        let label = record.origin.label
        switch record.step {
        case .acquire: return progress.isEmpty ? "\(label): starting the download" : "\(label): \(progress)"
        case .check: return "\(label): checking the signature"
        case .unpack: return progress.isEmpty ? "\(label): unpacking" : "\(label): \(progress)"
        case .probe: return "\(label): checking the new CA against the servers"
        case .swap: return "\(label): stopping processes and installing"
        case .verify where record.newPrograms && record.agentVersion != Version(agentVersion):
            return "\(label): \(SelfUpdate.restarting) \(record.agentVersion.map { "\($0)" } ?? "?")"
        case .verify: return "\(label): waiting for the new versions"
        case .rollback: return "\(label): rolling back (\(record.cause))"
        }
    }

    // MARK: Steps

    /// Starts the acquiring worker with a new archive file and a new
    /// signature file, and what its source needs, as descriptors.
    private func startAcquiring() {
        guard let record, let launch = workerLaunchOrEnd() else { return }
        let name = AgentPaths.updateArchiveName(record.origin.fileKey)
        do throws(Errno) {
            let downloads = try DownloadsFolder.open(paths.downloads)
            defer { downloads.close() }
            // Left by agents before 0.4, which resumed across restarts.
            for stale in [name + ".part", name + ".part.json"] { try Files.removeTree("\(paths.downloads)/\(stale)") }
            let archive = try downloads.newArchive(name)
            defer { archive.close() }
            let signature = try downloads.newArchive(name + ".sig")
            defer { signature.close() }
            switch record.source {
            case .https(let url, let sha256, let signatureURL):
                let ca: FileDescriptor
                do { ca = try Folder.openRegularFile(paths.caFile) } catch { throw error.errno }
                defer { ca.close() }
                let job = UpdateJob(kind: .download, url: url, sha256: sha256, signatureURL: signatureURL, settings: settings)
                try startWorker(launch, job, [archive, signature, ca])
                progress = "downloading"
            case .file:
                guard !localFiles.isEmpty else {
                    finish(success: false, "the agent restarted before the local archive was copied; run the update again")
                    return
                }
                try startWorker(launch, UpdateJob(kind: .copy, settings: settings), [archive, signature] + localFiles)
                progress = "copying"
            }
            changed()
        } catch {
            finish(success: false, "cannot start the update worker: \(error)")
        }
    }

    /// How the workers start — or, when they cannot (a journaled update
    /// resumed by an agent that lacks them: `begin` refuses new ones), nil,
    /// having ended the update with the reason (the name says so at each call).
    private func workerLaunchOrEnd() -> HelperLaunch? {
        switch workers {
        case .success(let launch):
            return launch
        case .failure(let refusal):
            finish(success: false, refusal.reason)
            return nil
        }
    }

    private func startWorker(_ launch: HelperLaunch, _ job: UpdateJob, _ descriptors: [FileDescriptor]) throws(Errno) {
        let (channel, pid) = try launch.start()
        var worker = Worker(pid: pid, channel: channel)
        worker.token = try? loop.watch(channel.fd, for: self)
        self.worker = worker
        channel.send(job.packet(), descriptors: descriptors)
    }

    /// The acquiring worker has exited: checks the archive's signature on
    /// one open descriptor, and hands that same descriptor to a fresh worker
    /// to unpack — the process that parsed outside bytes decides nothing.
    private func checkAndUnpack() {
        guard var record, let launch = workerLaunchOrEnd() else { return }
        record.step = .check
        do { try save(record) } catch {
            finish(success: false, "cannot write \(paths.updateJournal): \(error)")
            return
        }
        let key = record.origin.fileKey
        do throws(UpdateCheckError) {
            let downloads = try checked { () throws(Errno) in try DownloadsFolder.open(paths.downloads) }
            defer { downloads.close() }
            let archive = try checked { () throws(Errno) in try downloads.openArchive(AgentPaths.updateArchiveName(key)) }
            defer { archive.close() }
            // A process the acquiring worker left behind could still write
            // through a descriptor it kept, between this check and the unpacking.
            guard try checked({ () throws(Errno) in try archive.isOnlyOpenHere() }) else {
                throw .refused("check: the archive is still open in another process (left by the update worker?); not installed")
            }
            let signature = try checked { () throws(Errno) in try downloads.readSignature(AgentPaths.updateArchiveName(key) + ".sig") }
            let keys: UpdateKeys
            do { keys = try UpdateKeys.load("\(paths.certs)/\(UpdateKeys.folderName)") } catch { throw .refused(error.remark) }
            let verdict = try checked { () throws(Errno) in try ArchiveCheck.check(archive: archive, signature: signature, keys: keys) }
            if case .refused(let why) = verdict { throw .refused(why) }
            log(verdict, record.origin)
            record.signature = verdict.summary
            record.signedBy = verdict.key
            record.step = .unpack
            try checked { () throws(Errno) in try save(record) }
            let staging = try checked { () throws(Errno) in try downloads.newStaging(AgentPaths.updateStagingName(key), for: launch.user) }
            defer { staging.close() }
            try checked { () throws(Errno) in try startWorker(launch, UpdateJob(kind: .unpack, settings: settings), [archive, staging.fd]) }
            progress = "unpacking"
            changed()
        } catch {
            logger.error("\(record.origin.label): \(error.remark)")
            finish(success: false, error.remark)
        }
    }

    private func log(_ verdict: SignatureVerdict, _ origin: UpdateOrigin) {
        switch verdict {
        case .signed(let key): logger.notice("\(origin.label): signature verified with certs/update-keys/\(key)")
        case .notChecked: logger.warning("\(origin.label): \(verdict.summary): installed without a signature check")
        case .refused: break
        }
    }

    private func checked<T>(_ body: () throws(Errno) -> T) throws(UpdateCheckError) -> T {
        do { return try body() } catch { throw .system(error) }
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
                do throws(PacketError) { take(try WorkerReport(packet: packet), into: &worker) } catch {
                    // A worker that says what this agent does not know is not believed.
                    logger.warning("update worker: packet refused: \(error.reason)")
                    if worker.outcome == nil { worker.outcome = .failed("the update worker sent a packet the agent does not know (\(error.reason))") }
                }
            }
        }
    }

    private func take(_ report: WorkerReport, into worker: inout Worker) {
        switch report {
        case .progress(let phase, let done, let total):
            progress = UpdateManager.progressText(phase: phase, done: done, total: total)
            changed()
            let now = Clock.now()
            if now - lastProgressLog >= .seconds(10) {
                lastProgressLog = now
                logger.info("\(record?.origin.label ?? "update"): \(progress)")
            }
        case .log(let text):
            logger.notice("update worker: \(text)")
        case .done:
            worker.outcome = .done
        case .failed(let remark):
            worker.outcome = .failed(remark)
        }
    }

    /// Unpacked: take the staged tree back from the worker's user (and a new
    /// CA into root's certs/), check the versions, then probe the CA or stop
    /// the processes for the swap.
    private func unpacked(now: Instant) {
        guard var record else { return }
        do throws(StagingError) {
            let downloads: DownloadsFolder
            do { downloads = try DownloadsFolder.open(paths.downloads) } catch { throw .system(paths.downloads, error) }
            defer { downloads.close() }
            // Without an app user the tree stays the agent's (and its code is not run).
            let app = supervisor.knownAppUser(now: now) ?? Processes.ownIdentity
            let staged = try downloads.adopt(AgentPaths.updateStagingName(record.origin.fileKey), for: app)
            record.newPrograms = staged.programs
            record.newSmartMeter = staged.smartMeter
            // The agent's programs run as root: a device that cannot check who made
            // them (no update keys) does not take them on TLS and the panel's word alone.
            if staged.programs && record.signedBy == nil {
                throw .notInstalled(SelfUpdate.unsignedPrograms)
            }
            if let ca = staged.ca { try stageCA(ca, &record) }
        } catch {
            logger.error("\(record.origin.label): \(error.remark)")
            finish(success: false, error.remark)
            return
        }
        if record.newSmartMeter {
            let manifest = UpdateManager.manifest(in: paths.stagedSmartMeter(record.origin.fileKey), logger: logger)?.manifest
            switch UpdateManager.confirmedVersions(command: record.expected, manifest: manifest) {
            case .success(let expected): record.expected = expected
            case .failure(let refusal):
                logger.error("\(record.origin.label): \(refusal.remark)")
                finish(success: false, refusal.remark)
                return
            }
        }
        if record.newPrograms && !stagePrograms(&record) { return }
        if record.newCA {
            record.step = .probe
            do { try save(record) } catch {
                finish(success: false, "cannot write \(paths.updateJournal): \(error)")
                return
            }
            startProbe()
        } else {
            self.record = record
            stopForSwap(now: now)
        }
    }

    /// The archive carries a CA: journaled first (so that an end at any
    /// point removes the copy), then written to root's `cacert.pem.next`.
    private func stageCA(_ bytes: [UInt8], _ record: inout UpdateRecord) throws(StagingError) {
        record.newCA = true
        do { try save(record) } catch { throw .system(paths.updateJournal, error) }
        // With nothing to verify it against, `startProbe` refuses it, unwritten.
        guard case .success = CARotation.targets(xmpp: link.xmppTargets(), source: record.source) else { return }
        do { try Files.writeAtomically(caFiles.staged, bytes: bytes, mode: 0o644) } catch { throw .system(caFiles.staged, error) }
    }

    /// Starts the worker that checks the new CA against the servers, given
    /// root's copy of it as a descriptor.
    private func startProbe() {
        guard let record, let launch = workerLaunchOrEnd() else { return }
        let targets: [CARotation.Target]
        switch CARotation.targets(xmpp: link.xmppTargets(), source: record.source) {
        case .success(let found): targets = found
        case .failure(let refusal):
            logger.error("\(record.origin.label): \(refusal.remark)")
            finish(success: false, refusal.remark)
            return
        }
        logger.notice("\(record.origin.label): checking the archive's CA against \(targets.map { $0.description }.joined(separator: ", "))")
        do throws(Errno) {
            let ca: FileDescriptor
            do { ca = try Folder.openRegularFile(caFiles.staged) } catch { throw error.errno }
            defer { ca.close() }
            var job = UpdateJob(kind: .probe, settings: settings)
            job.targets = targets
            try startWorker(launch, job, [ca])
            changed()
        } catch {
            finish(success: false, "cannot start the CA probe: \(error)")
        }
    }

    /// Everything checked: stop the processes for the swap.
    private func stopForSwap(now: Instant) {
        guard var record else { return }
        if record.newSmartMeter {
            do { try FolderSwap(paths: paths).removeOlderPrevious() } catch {
                finish(success: false, "install: cannot remove the SmartMeter.prev an earlier update left (\(error)); "
                       + "nothing installed, the processes run on")
                return
            }
        }
        record.step = .swap
        record.hadPrevious = Files.size(paths.smartMeter) != nil
        record.previous = supervisor.specs
        do { try save(record) } catch {
            finish(success: false, "cannot write \(paths.updateJournal): \(error)")
            return
        }
        if record.newSmartMeter {
            logger.notice("\(record.origin.label): downloaded and unpacked; stopping the processes")
            supervisor.stopAll(now: now)
        } else {
            logger.notice("\(record.origin.label): downloaded and unpacked; no SmartMeter/ in it: the processes run on")
        }
        tick(now: now)
    }

    private func install(now: Instant) {
        guard var record else { return }
        let staged = paths.stagedSmartMeter(record.origin.fileKey)
        do {
            if record.newSmartMeter { try FolderSwap(paths: paths).install(staged) }
            if record.newCA { try caFiles.swap() }
        } catch {
            // Nothing new is in place unless the last rename succeeded.
            logger.error("\(record.origin.label): cannot install \(staged): \(error)")
            rollback("install: cannot move the new folder into place: \(error)", now: now)
            return
        }
        if record.newPrograms {
            installPrograms(record, now: now)
            return
        }
        record.step = .verify
        record.verifySince = Clock.wallSeconds()
        verifyDeadline = now + .seconds(record.timeoutSeconds)
        do { try save(record) } catch {
            logger.error("cannot write \(paths.updateJournal): \(error)")
        }
        if record.newCA {
            logger.notice("\(record.origin.label): new certs/cacert.pem in place (previous kept as cacert.pem.prev); the link logs in again with it")
            link.restart()
        }
        if record.newSmartMeter {
            logger.notice("\(record.origin.label): new SmartMeter in place (previous kept as SmartMeter.prev); starting the processes")
            startNewProcesses(now: now)
        }
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
        // Only the new agent confirms its programs (the old one is on its way out).
        if record.newPrograms && record.agentVersion != Version(agentVersion) { return }
        var missing: [String] = []
        var wrong: [String] = []
        for expected in record.expected {
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
        // A new agent must also log in, when it has a link to log in with.
        let loggedOut = (record.newCA || record.newPrograms && link.hasLink()) && !link.isOnline()
        if !wrong.isEmpty {
            rollback(wrong.joined(separator: "; "), now: now)
        } else if missing.isEmpty && !loggedOut {
            logger.notice("\(record.origin.label): every listed process runs its new version" + (record.newCA ? "; the link logged in with the new CA" : ""))
            finish(success: true, "")
        } else if let deadline = verifyDeadline, deadline <= now {
            let silent = missing.isEmpty ? [] : ["\(missing.joined(separator: ", ")) sent no heartbeat"]
            let notOnline = record.newCA ? "the link did not log in with the new CA" : "the new agent did not log in"
            let causes = silent + (loggedOut ? [notOnline] : [])
            rollback("\(causes.joined(separator: "; ")) within \(record.timeoutSeconds) s", now: now)
        }
    }

    private func rollback(_ cause: String, now: Instant) {
        guard var record else { return }
        logger.error("\(record.origin.label) failed: \(cause); rolling back")
        record.step = .rollback
        record.cause = cause
        do { try save(record) } catch {
            logger.error("cannot write \(paths.updateJournal): \(error)")
        }
        if record.newPrograms && onTrial {
            giveUpTrial(record)
            return
        }
        if record.newSmartMeter { supervisor.stopAll(now: now) }
        changed()
        tick(now: now)
    }

    private func restorePrevious(now: Instant) {
        guard let record else { return }
        do {
            if record.newSmartMeter {
                try FolderSwap(paths: paths).restore(paths.stagedSmartMeter(record.origin.fileKey), hadPrevious: record.hadPrevious)
            }
            if record.newCA { try caFiles.restore() }
            // After the guard's rollback there is no `.prev` left: nothing to do.
            if record.newPrograms { try programs?.restore() }
        } catch {
            // Retried at the next tick: the renames are safe to repeat.
            logger.error("\(record.origin.label): cannot put the previous files back: \(error); retrying")
            return
        }
        if record.newSmartMeter {
            let listed = UpdateManager.listedProcesses(in: paths.smartMeter, for: supervisor, now: now, logger: logger)
            supervisor.list(listed ?? [])
            supervisor.start(record.previous, now: now)
            logger.notice("\(record.origin.label): previous SmartMeter restored (the failed one is kept as SmartMeter.failed)")
        }
        if record.newCA {
            logger.notice("\(record.origin.label): previous certs/cacert.pem restored; the link logs in again with it")
            link.restart()
        }
        finish(success: false, record.cause)
    }

    // MARK: The agent's own programs (SelfUpdate)

    /// Copies the archive's programs beside the agent (`NAME.next`) and runs
    /// the new `tinyagent version` as the helper user: the version it prints
    /// is the one to confirm. Journaled first, so an end at any point
    /// removes the copies. False: refused, and answered.
    private func stagePrograms(_ record: inout UpdateRecord) -> Bool {
        let outcome: Result<Version, UpdateRefusal>
        do {
            try save(record)
            outcome = trialOfStagedPrograms(record)
        } catch {
            outcome = .failure(UpdateRefusal("cannot write \(paths.updateJournal): \(error)"))
        }
        switch outcome {
        case .success(let version):
            logger.notice("\(record.origin.label): the new tinyagent passed its trial run: version \(version)")
            record.agentVersion = version
            return true
        case .failure(let refusal):
            programs?.discardStaged()
            logger.error("\(record.origin.label): \(refusal.remark)")
            finish(success: false, refusal.remark)
            return false
        }
    }

    private func trialOfStagedPrograms(_ record: UpdateRecord) -> Result<Version, UpdateRefusal> {
        guard let programs else { return .failure(UpdateRefusal("the agent cannot tell its own folder; its programs are not replaced")) }
        guard case .success(let launch) = workers, let user = launch.user else {
            return .failure(UpdateRefusal("the trial run of new programs needs the helper user (an agent running as root); not installed"))
        }
        let bin = "\(paths.updateStaging(record.origin.fileKey))/\(AgentPrograms.archiveFolder)"
        do throws(Errno) {
            for name in AgentPrograms.names {
                let source: FileDescriptor
                do { source = try Folder.openRegularFile("\(bin)/\(name)") } catch { throw error.errno }
                defer { source.close() }
                try programs.stage(name, from: source)
            }
            let agent = try programs.openStaged(AgentPrograms.agent)
            defer { agent.close() }
            return SelfUpdate.trialVersion(agent, as: user).flatMap { SelfUpdate.expectedVersion(command: record.agentVersion, trial: $0) }
        } catch {
            return .failure(UpdateRefusal("cannot copy the new programs into \(programs.folder): \(error)"))
        }
    }

    /// The trial state first (so the guard counts every start of the new
    /// programs), then the renames, then the journal's verify step; then the
    /// agent exits and systemd starts the new one, which confirms the update.
    private func installPrograms(_ record: UpdateRecord, now: Instant) {
        guard let programs, let version = record.agentVersion else { return }
        var record = record
        do {
            try writeTrial(TrialState(state: .trial, version: version, origin: record.origin.label))
            try programs.install()
        } catch {
            logger.error("\(record.origin.label): cannot put the new programs in place: \(error)")
            Files.remove(trialFile)
            rollback("install: cannot put the new programs in place: \(error)", now: now)
            return
        }
        record.step = .verify
        record.verifySince = Clock.wallSeconds()
        do { try save(record) } catch { logger.error("cannot write \(paths.updateJournal): \(error)") }
        logger.notice("\(record.origin.label): new programs in \(programs.folder) (previous kept as NAME.prev); "
                      + "restarting into tinyagent \(version)")
        link.exit(0)
    }

    /// At the start of an agent that finds a self-update in its journal;
    /// true when that settled what to do.
    private func resumeSelfUpdate(_ loaded: UpdateRecord, now: Instant) -> Bool {
        let trial = readTrial()
        if trial?.state == .rolledback && (loaded.step == .verify || loaded.step == .rollback) {
            // The previous agent, put back by the guard: it undoes the rest and answers.
            let version = loaded.agentVersion.map { "\($0)" } ?? "?"
            let cause = loaded.step == .rollback ? loaded.cause
                : "the new tinyagent \(version) did not come up (it crashed at start, hung, or was killed twice); the previous programs are back"
            rollback(cause, now: now)
            return true
        }
        if loaded.step == .verify && !onTrial {
            rollback("the agent running is not the new tinyagent \(loaded.agentVersion.map { "\($0)" } ?? "?") (its trial state is gone)", now: now)
            return true
        }
        return false
    }

    /// Whether this agent is the new one on trial: the version the update
    /// expects, and the guard has not rolled it back.
    private var onTrial: Bool {
        guard let expected = record?.agentVersion, Version(agentVersion) == expected else { return false }
        let state = readTrial()?.state
        return state == nil || state == .trial
    }

    /// The new agent could not confirm the update: it marks the trial failed
    /// and exits, and the guard puts the previous programs back before the
    /// next start; the previous agent then rolls back the rest and answers.
    private func giveUpTrial(_ record: UpdateRecord) {
        guard let version = record.agentVersion else { return }
        do { try writeTrial(TrialState(state: .failed, version: version, origin: record.origin.label)) } catch {
            // Still rolled back: the guard counts this start's failure.
            logger.error("cannot write \(trialFile): \(error)")
        }
        logger.error("\(record.origin.label): exiting so that the previous programs are put back")
        link.exit(ExitStatus.unavailable)
    }

    private func writeTrial(_ state: TrialState) throws(Errno) {
        try Files.writeAtomically(trialFile, state.encode(), mode: 0o600)
    }

    private func readTrial() -> TrialState? {
        // Root's alone (0600, one link): a trial state anyone else wrote is not believed.
        guard let bytes = try? Files.readTrusted(trialFile, owner: 0, limit: 4096) else { return nil }
        return TrialState.decode(String(decoding: bytes, as: UTF8.self))
    }

    /// Answers the origin (the panel's answer is journaled by the answer
    /// closure), records the outcome for `status`, then forgets the update:
    /// a crash in between is told apart by the command journal.
    private func finish(success: Bool, _ remark: String) {
        guard let record else { return }
        let outcome = LastUpdate(record: record, success: success, remark: remark, endedAt: Clock.wallSeconds())
        do { try lastUpdateFile.write(outcome.encode()) } catch {
            logger.warning("cannot write \(paths.lastUpdate): \(error)")
        }
        last = outcome
        // Confirmed or put back by now: who gets the answer finds certs/ as it stays.
        if record.newCA { caFiles.cleanUp() }
        // Before the answer: a confirmed agent killed after it must not be rolled back by the guard.
        if record.newPrograms { Files.remove(trialFile) }
        answer(record.origin, success, remark)
        cleanUp()
    }

    private func cleanUp() {
        guard let record else { return }
        let key = record.origin.fileKey
        // The staging folder may still be the helper user's: Files.removeTree
        // walks through descriptors and follows no link.
        for path in [paths.updateArchive(key), paths.updateArchive(key) + ".sig", paths.updateStaging(key)] {
            do { try Files.removeTree(path) } catch { logger.warning("cannot remove \(path): \(error)") }
        }
        // Also here for an update answered before the agent stopped.
        if record.newCA { caFiles.cleanUp() }
        if record.newPrograms {
            programs?.discardStaged()
            Files.remove(trialFile)
        }
        journal.remove()
        self.record = nil
        verifyDeadline = nil
        progress = ""
        closeLocalFiles()
        changed()
    }

    private func closeLocalFiles() {
        for fd in localFiles { fd.close() }
        localFiles = []
    }

    private func save(_ new: UpdateRecord) throws(Errno) {
        do { try journal.write(new.encode()) } catch { throw error.errno }
        record = new
        changed()
    }

    private func changed() { generation += 1 }

    // MARK: Helpers

    /// The versions an update is confirmed against: the command's, which the
    /// new manifest's `version`s must not contradict; for a local update
    /// (no command), the manifest's, which must name at least one.
    static func confirmedVersions(command: [UpdateCommand.Expected], manifest: UpdateManifest?)
        -> Result<[UpdateCommand.Expected], UpdateRefusal> {
        var named: [UpdateCommand.Expected] = []
        for p in manifest?.processes ?? [] {
            if let version = p.version { named.append(UpdateCommand.Expected(name: p.name, version: version)) }
        }
        for c in command {
            if let m = named.first(where: { $0.name == c.name }), m.version != c.version {
                return .failure(UpdateRefusal("\(c.name): the command expects \(c.version), the archive's manifest says \(m.version)"))
            }
        }
        if !command.isEmpty { return .success(command) }
        if named.isEmpty {
            return .failure(UpdateRefusal("the archive's SmartMeter/tinyagent.json names no process version: a local update has nothing to confirm"))
        }
        return .success(named)
    }

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

    static func progressText(phase: WorkerReport.Phase, done: Int64, total: Int64?) -> String {
        let verb: String
        switch phase {
        case .download: verb = "downloading"
        case .copy: verb = "copying"
        case .unpack: verb = "unpacking"
        }
        guard let total, total > 0 else { return "\(verb) \(megabytes(done)) MB" }
        return "\(verb) \(megabytes(done)) of \(megabytes(total)) MB (\(done * 100 / total) %)"
    }

    /// One decimal: 12.3.
    static func megabytes(_ bytes: Int64) -> String {
        let tenths = bytes * 10 / 1_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// What an update needs of the XMPP link for a new CA (`CARotation`).
package struct UpdateLink {
    /// The link's servers to probe; nil: no XMPP configuration with TLS.
    var xmppTargets: () -> [CARotation.Target]?
    /// Stops the link and starts it again (it reads certs/cacert.pem at start).
    var restart: () -> Void
    /// Whether the link is logged in.
    var isOnline: () -> Bool
    /// Whether the agent has a link at all (a control channel configured).
    var hasLink: () -> Bool = { false }
    /// Ends the agent's loop; it exits with the status, and systemd starts
    /// it again — from new programs after a self-update's swap.
    var exit: (_ status: Int32) -> Void = { _ in }
}

/// The worker's channel is watched for this manager; the worker's exit and
/// the verify deadline move the update on.
extension UpdateManager: EventParticipant {
    package func readable(_ token: EventLoop.Token, now: Instant) { workerReadable() }

    package func childExited(_ child: ChildExit, now: Instant) -> Bool {
        childExited(pid: child.pid, exitCode: child.exitCode, signal: child.signal, now: now)
    }
}
