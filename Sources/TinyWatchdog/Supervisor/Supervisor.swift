import TinyBase

/// Keeps the SmartMeter processes alive (DESIGN.md §4): learns them from their
/// heartbeats, notices silence and exits, and drives each through
/// `SupervisorTable`, carrying out the actions it names.
public final class Supervisor {
    public private(set) var processes: [SupervisedProcess] = []
    /// Replaced on reload (`Agent.reload`): the next deadline, start or
    /// restart follows the new policy.
    package var settings: AgentSettings
    private let logger: Logger
    /// Where processes run (`SmartMeter/`) and write their output (`logs/`;
    /// nil: to /dev/null, when the folder cannot be used).
    private let workingFolder: String
    private let logs: ProcessLogs?
    /// The app user (`AppUser`), kept once found: an update's new SmartMeter/
    /// must not change who SmartMeter code runs as. Looked for again while
    /// there is none (a start mid-update may find no SmartMeter/ until the
    /// swap is finished).
    public private(set) var appUser: Identity?
    private var noAppUser: String?
    private var appUserLog = RateLimitedLog(interval: .seconds(60))
    /// Set when something the registry keeps has changed.
    public var registryChanged = false
    /// Bumped when a process changes state, for STATUS= and status readers.
    public private(set) var stateGeneration = 0
    private var unverifiedLog = RateLimitedLog(interval: .seconds(10))
    /// Set while an update has the processes stopped.
    public private(set) var holding = false
    /// What the manifest (`SmartMeter/tinyagent.json`) lists (set by
    /// `list`): its commands are allowed besides the settings' allowlist.
    private var listed: [ProcessSpec] = []

    public init(settings: AgentSettings, logger: Logger, workingFolder: String, logs: ProcessLogs?, appUser: Identity? = nil) {
        self.settings = settings
        self.logger = logger
        self.workingFolder = workingFolder
        self.logs = logs
        self.appUser = appUser
        processes.reserveCapacity(settings.maximumProcesses)
    }

    /// The processes as status shows them: one started through a shell that
    /// has not heartbeated yet shows the shell's only child — the process
    /// itself — not the `sh -c` (its first heartbeat makes that its pid).
    public var reported: [SupervisedProcess] {
        processes.map { p in
            guard p.state == .starting, let group = p.group, p.pid == group, let child = Processes.soleChild(of: group) else { return p }
            var shown = p
            shown.pid = child
            return shown
        }
    }

    /// The earliest deadline of any process.
    public var nextDeadline: Instant? {
        var earliest: Instant?
        for p in processes {
            if let d = p.deadline, earliest == nil || d < earliest! { earliest = d }
        }
        return earliest
    }

    public func index(of name: String) -> Int? {
        processes.firstIndex { $0.name == name }
    }

    // MARK: Events

    /// A heartbeat that parsed. Steady state — a known process, same pid,
    /// command and version — allocates nothing.
    package func heartbeat(_ beat: Heartbeat, in datagram: UnsafeRawBufferPointer, verdict: SenderVerdict, now: Instant, wallClock: Int64) {
        let name = UnsafeRawBufferPointer(rebasing: datagram[beat.name.start..<beat.name.end])
        guard let i = processes.firstIndex(where: { $0.hasName(name) }) else {
            register(beat, in: datagram, verdict: verdict, now: now, wallClock: wallClock)
            return
        }
        // Only a verified sender's pid is a fact (an unverified claim of
        // another pid is refused below).
        if verdict.verified && processes[i].pid != beat.pid && isDuplicate(i, pid: beat.pid, uid: verdict.uid) { return }
        if verdict.verified {
            guard processes[i].uid == verdict.uid || !processes[i].verified else {
                if unverifiedLog.shouldLog(now: now) {
                    logger.warning("heartbeat for \(processes[i].name) from uid \(verdict.uid) refused: the process runs as uid \(processes[i].uid)")
                }
                return
            }
            if processes[i].pid != beat.pid { adopt(i, pid: beat.pid, now: now) }
            if !processes[i].verified || !commandUnchanged(i, beat, datagram) {
                updateCommand(i, beat, datagram, uid: verdict.uid, now: now)
            }
        } else if processes[i].pid != beat.pid && !inOwnGroup(i, pid: beat.pid) {
            // An unverified sender may refresh a known process, but not
            // point the agent at another pid (which it would later signal).
            if unverifiedLog.shouldLog(now: now) {
                logger.warning("unverified heartbeat for \(processes[i].name) claiming pid \(beat.pid) ignored (known pid \(processes[i].pid))")
            }
            return
        } else if processes[i].pid != beat.pid {
            adopt(i, pid: beat.pid, now: now)
        } else if processes[i].version != beat.version && processes[i].verified && !inOwnGroup(i, pid: beat.pid) {
            // The version is what an update is verified against: an
            // unverified claim may not change what a verified sender said.
            if unverifiedLog.shouldLog(now: now) {
                logger.warning("unverified heartbeat for \(processes[i].name) claiming version \(beat.version) ignored (verified version \(processes[i].version))")
            }
            return
        }
        if processes[i].version != beat.version {
            logger.info("\(processes[i].name): version \(processes[i].version) → \(beat.version)")
            processes[i].version = beat.version
            registryChanged = true
        }
        processes[i].lastHeartbeat = now
        processes[i].lastHeartbeatWall = wallClock
        if let started = processes[i].startedAt, now - started >= settings.policy.stableAfter {
            processes[i].consecutiveFailures = 0
        }
        apply(.heartbeat, to: i, now: now)
    }

    /// A child of the agent exited.
    package func childExited(pid: Int32, exitCode: Int32, signal: Int32, now: Instant) {
        guard let i = processes.firstIndex(where: { $0.group == pid }) else { return }
        let how = signal != 0 ? "killed by signal \(signal)" : "exited with status \(exitCode)"
        logger.notice("\(processes[i].name) (pid \(pid)) \(signal != 0 ? "was " : "")\(how)")
        let state = processes[i].state
        let up = state == .running || state == .starting
        if up { processes[i].endReason = how }
        // During a stop the shell's group may outlive it (the table then
        // waits for the group); otherwise the group is the agent's no more.
        let groupLivesOn = (state == .stopping || state == .killing) && Processes.groupExists(pid)
        if !groupLivesOn { processes[i].group = nil }
        // Only an exit of its own counts as clean: one after the agent's
        // SIGTERM (silence, a restart) is not a finished job.
        apply(.exited, to: i, now: now, exitedCleanly: exitCode == 0 && signal == 0 && up, groupLivesOn: groupLivesOn)
    }

    /// Restarts a process by name (the panel's `restart_process`); false
    /// when no such process is known.
    public func restart(name: String, now: Instant) -> Bool {
        guard let i = index(of: name) else { return false }
        logger.notice("\(name): restart requested")
        processes[i].endReason = "restart requested"
        processes[i].operatorStopped = false
        processes[i].recentStarts.removeAll()
        processes[i].consecutiveFailures = 0
        apply(.restartRequested, to: i, now: now)
        return true
    }

    /// `tinyagent stop`: stops a process and keeps it stopped until `start`
    /// or `restart` (the flag is in the registry); false when no such
    /// process is known.
    public func stop(name: String, now: Instant) -> Bool {
        guard let i = index(of: name) else { return false }
        logger.notice("\(name): stop requested by the operator; not restarted until started")
        if !processes[i].operatorStopped { registryChanged = true }
        processes[i].operatorStopped = true
        apply(.stopRequested, to: i, now: now)
        return true
    }

    /// `tinyagent start`: starts a stopped or failed process again (with a
    /// fresh restart budget); one that runs or is on its way is left alone.
    public func start(name: String, now: Instant) -> StartOutcome {
        guard let i = index(of: name) else { return .unknown }
        guard [.stopped, .failed, .finished].contains(processes[i].state) else { return .alreadyUp(processes[i].state) }
        logger.notice("\(name): start requested by the operator")
        processes[i].operatorStopped = false
        registryChanged = true
        return restart(name: name, now: now) ? .started : .unknown
    }

    public enum StartOutcome: Equatable {
        case started
        case unknown
        case alreadyUp(ProcessState)
    }

    /// `tinyagent forget`: drops a process that is not running from the
    /// registry and the status; one that heartbeats again is watched anew.
    public func forget(name: String) -> Bool {
        guard let i = index(of: name) else { return false }
        logger.notice("\(name): forgotten (registry entry removed by the operator)")
        processes.remove(at: i)
        registryChanged = true
        stateGeneration += 1
        return true
    }

    /// Handles every deadline that has passed. The table moves a passed
    /// deadline past `now` or clears it, except for a restart due now: the
    /// same process is looked at again until nothing is due.
    public func handleDeadlines(now: Instant) {
        var i = 0
        while i < processes.count {
            if let deadline = processes[i].deadline, deadline <= now {
                deadlinePassed(i, now: now)
            } else {
                i += 1
            }
        }
    }

    private func deadlinePassed(_ i: Int, now: Instant) {
        let p = processes[i]
        if p.group == nil && p.state != .waiting && !isAlive(i) {
            // Not the agent's child, so no SIGCHLD came: it is gone.
            if p.state == .running || p.state == .starting {
                logger.warning("\(p.name) (pid \(p.pid)): no heartbeat for \(timeout(i).milliseconds) ms, and the process is gone")
                processes[i].endReason = "no heartbeat for \(timeout(i).milliseconds) ms, and the process was gone"
            }
            apply(.exited, to: i, now: now)
            return
        }
        if p.state == .running || p.state == .starting {
            logger.warning("\(p.name) (pid \(p.pid)): no heartbeat for \(timeout(i).milliseconds) ms")
            processes[i].endReason = "no heartbeat for \(timeout(i).milliseconds) ms"
        }
        apply(.deadline, to: i, now: now)
    }

    // MARK: The table

    /// Takes `event` through the table for process i (`SupervisedProcess.take`)
    /// and carries out the action it names. The rest are facts the caller
    /// observed with the event.
    private func apply(_ event: SupervisorEvent, to i: Int, now: Instant,
                       exitedCleanly: Bool = false, groupLivesOn: Bool = false, alive: Bool = false) {
        let before = processes[i].state
        // The heartbeat rows read no facts (but a stopped process's), and
        // gathering them reads /proc: skip that on the hot path.
        var facts = event == .heartbeat && before != .stopped
            ? SupervisorFacts(canSignal: false, canRestart: false, restartLimitReached: false, holding: holding)
            : facts(i, now: now)
        (facts.exitedCleanly, facts.groupLivesOn, facts.alive) = (exitedCleanly, groupLivesOn, alive)
        let step = processes[i].take(event, facts, times(i, now: now))
        if event == .exited && step.action != .awaitGroup { processes[i].ended = true }
        if step.state != before {
            stateGeneration += 1
            registryChanged = true
            if step.state != .failed { processes[i].failure = nil }
        }
        perform(step.action, on: i, facts, now: now)
        if step.state == .finished && before != .finished {
            logger.notice("\(processes[i].name): finished (exit status 0, restart \(processes[i].launch.restart.name)); not restarted until a restart is asked for")
        }
        if event == .heartbeat && step.state == .running && before != .running && before != .starting {
            logger.notice("\(processes[i].name) (pid \(processes[i].pid)) is heartbeating again")
        }
    }

    private func perform(_ action: SupervisorAction, on i: Int, _ facts: SupervisorFacts, now: Instant) {
        switch action {
        case .none:
            break
        case .terminate:
            processes[i].stopStartedAt = now
            sendSignal(i, .terminate)
        case .kill:
            sendSignal(i, .kill)
        case .scheduleRestart:
            let delay = settings.policy.backoff(consecutive: processes[i].consecutiveFailures)
            if delay.nanoseconds > 0 {
                logger.notice("\(processes[i].name): restart in \(delay.milliseconds) ms")
            }
        case .spawn:
            spawn(i, now: now)
        case .giveUp(let reason):
            giveUp(i, reason, now: now)
        case .awaitGroup:
            processes[i].leaderExited = true
        case .releaseGroup:
            if !facts.groupEmpty, let group = processes[i].group {
                logger.warning("\(processes[i].name): process group \(group) still has members a second after SIGKILL; taken as gone")
            }
            processes[i].group = nil
            processes[i].leaderExited = false
            apply(.exited, to: i, now: now)
        }
    }

    private func giveUp(_ i: Int, _ reason: GiveUpReason, now: Instant) {
        let text: String
        switch reason {
        case .noTrustedCommand:
            if processes[i].runCommand != nil, case .refused(let why) = runIdentity(i, now: now) { text = why } else {
                text = "no run_command the agent may run"
            }
        case .restartLimit: text = "restarted \(settings.policy.restartLimit) times within \(settings.policy.restartWindow.seconds) s"
        case .cannotSignal: text = "silent, and its pid is not one the agent may signal"
        case .restartNever: text = "it ended, and its restart mode is never"
        }
        processes[i].failure = text
        logger.error("\(processes[i].name): failed: \(text); not restarted until it heartbeats or a restart is asked for")
    }

    private func times(_ i: Int, now: Instant) -> SupervisorTimes {
        let p = processes[i]
        return SupervisorTimes(now: now, deadline: p.deadline, heartbeatTimeout: timeout(i), killGrace: settings.policy.killGrace,
                               backoff: settings.policy.backoff(consecutive: p.consecutiveFailures), stopStartedAt: p.stopStartedAt)
    }

    private func facts(_ i: Int, now: Instant) -> SupervisorFacts {
        let p = processes[i]
        let windowStart = now - settings.policy.restartWindow
        var recent = 0
        for start in p.recentStarts where start > windowStart { recent += 1 }
        return SupervisorFacts(
            canSignal: p.group != nil || (p.verified && isAlive(i)),
            canRestart: p.runCommand != nil && runIdentity(i, now: now).user != nil,
            restartLimitReached: recent >= settings.policy.restartLimit,
            holding: holding, restart: p.launch.restart, operatorStopped: p.operatorStopped,
            adopted: p.group == nil, leaderExited: p.leaderExited,
            // Read only while a stop waits for the group.
            groupEmpty: p.leaderExited && p.group.map { !Processes.groupExists($0) } ?? false)
    }

    // MARK: Actions

    private func sendSignal(_ i: Int, _ signal: Signal) {
        let p = processes[i]
        let word = signal == .kill ? "SIGKILL" : "SIGTERM"
        if let group = p.group {
            logger.notice("\(p.name): \(word) to process group \(group)")
            Processes.signalGroup(group, signal)
        } else if isAlive(i) {
            // Adopted: its own group only if it leads one, else just the pid.
            if Processes.processGroup(of: p.pid) == p.pid {
                logger.notice("\(p.name): \(word) to process group \(p.pid)")
                Processes.signalGroup(p.pid, signal)
            } else {
                logger.notice("\(p.name): \(word) to pid \(p.pid)")
                Processes.signal(p.pid, signal)
            }
        }
    }

    private func spawn(_ i: Int, now: Instant) {
        guard let command = processes[i].runCommand else { return }
        guard case .user(let user) = runIdentity(i, now: now) else { return }  // facts said so: not reached
        processes[i].uid = user.uid
        processes[i].gid = user.gid
        let p = processes[i]
        let identity = user.uid == Processes.effectiveUID ? nil : user
        processes[i].startedAt = now
        processes[i].recentStarts.append(now)
        let windowStart = now - settings.policy.restartWindow
        processes[i].recentStarts.removeAll { $0 <= windowStart }
        processes[i].restarts += 1
        processes[i].consecutiveFailures += 1
        let reason = processes[i].endReason ?? "restart requested"
        processes[i].endReason = nil
        processes[i].lastStartReason = reason
        processes[i].lastStartWall = Clock.wallSeconds()
        let folder: Folder
        do { folder = try openWorkingFolder(p.launch.cwd) } catch {
            logger.error("\(p.name): cannot start in SmartMeter/\(p.launch.cwd ?? ""): \(error)")
            apply(.exited, to: i, now: now)
            return
        }
        defer { folder.close() }
        do {
            let output = try openOutput(p.name)
            defer { output.close() }
            // A line in its own log that says when and why, before its output.
            try? output.writeAll("\(Logger.timestamp(processes[i].lastStartWall)) tinyagent: starting \(p.name) (\(reason))\n")
            let pid = try Processes.spawn(command: command, in: folder, output: output, as: identity, environment: p.launch.environment)
            processes[i].pid = pid
            processes[i].group = pid
            processes[i].ended = false
            processes[i].startTime = Processes.startTime(of: pid)
            registryChanged = true
            logger.notice("\(p.name): started (\(reason)), shell pid \(pid), as uid \(p.uid): \(command)")
        } catch {
            logger.error("\(p.name): could not start \"\(command)\": \(error)")
            apply(.exited, to: i, now: now)
        }
    }

    /// SmartMeter/, or the folder `cwd` names inside it, opened one component
    /// at a time without following a link: the app user owns these folders,
    /// and a link or `..` must not take a process (perhaps another user's)
    /// outside them.
    private func openWorkingFolder(_ cwd: String?) throws(FileError) -> Folder {
        var folder = try Folder.open(workingFolder)
        guard let cwd else { return folder }
        for part in cwd.split(separator: "/") {
            let outer = folder
            defer { outer.close() }
            folder = try outer.folder(String(part))
        }
        return folder
    }

    /// `logs/NAME.log`, or /dev/null without a logs folder.
    private func openOutput(_ name: String) throws(Errno) -> FileDescriptor {
        guard let logs else { return try Files.openAppend("/dev/null") }
        do { return try logs.openForProcess(name, maximumBytes: settings.processLogMaximumBytes) } catch {
            logger.error("\(name): logs/\(name).log \(error); its output goes to /dev/null")
            return try Files.openAppend("/dev/null")
        }
    }

    // MARK: Software updates

    /// Stops every process and keeps it stopped: an update is about to
    /// swap the folder they run from.
    public func stopAll(now: Instant) {
        holding = true
        for i in processes.indices { apply(.stopRequested, to: i, now: now) }
    }

    /// Every process has stopped (or, not the agent's to signal, was left alone).
    public var allStopped: Bool { processes.allSatisfy { $0.state == .stopped } }

    /// Forgets the stopped processes and starts `specs` in their place.
    public func start(_ specs: [ProcessSpec], now: Instant) {
        holding = false
        processes.removeAll { $0.state == .stopped && !$0.operatorStopped }
        for spec in specs {
            if let i = index(of: spec.name), processes[i].operatorStopped {
                // Stays stopped; `start` runs what the new version says.
                processes[i].runCommand = spec.runCommand
                (processes[i].uid, processes[i].gid, processes[i].verified) = (spec.uid, spec.gid, spec.verified)
                processes[i].launch = listedLaunch(spec.name, uid: spec.uid, verified: spec.verified, appUID: knownAppUser(now: now)?.uid)
                continue
            }
            if let i = index(of: spec.name) {
                logger.warning("\(spec.name) is still running (pid \(processes[i].pid)); not started twice")
                continue
            }
            launch(spec, why: "started by an update", now: now)
        }
        registryChanged = true
        stateGeneration += 1
    }

    /// Starts those of `specs` it does not know yet — the manifest's
    /// processes at start and on SIGHUP — and leaves the known ones (re-adopted,
    /// running, restarting or failed) as they are. Returns the names started.
    public func startMissing(_ specs: [ProcessSpec], now: Instant) -> [String] {
        var started: [String] = []
        for spec in specs where index(of: spec.name) == nil {
            launch(spec, why: "listed in the manifest", now: now)
            started.append(spec.name)
        }
        return started
    }

    private func launch(_ spec: ProcessSpec, why: String, now: Instant) {
        processes.append(SupervisedProcess(name: spec.name, pid: 0, uid: spec.uid, gid: spec.gid, runCommand: spec.runCommand,
                                           verified: spec.verified, version: Version(major: 0, minor: 0, patch: 0), state: .stopped))
        let i = processes.count - 1
        processes[i].launch = listedLaunch(spec.name, uid: spec.uid, verified: spec.verified, appUID: knownAppUser(now: now)?.uid)
        processes[i].endReason = why
        apply(.restartRequested, to: i, now: now)
        if processes[i].restarts == 1 { processes[i].restarts = 0 }  // its first start is not a restart
        registryChanged = true
        stateGeneration += 1
    }

    /// What `start` needs to bring the current processes back later.
    public var specs: [ProcessSpec] {
        processes.compactMap { p in
            p.runCommand.map { ProcessSpec(name: p.name, runCommand: $0, uid: p.uid, gid: p.gid, verified: p.verified) }
        }
    }

    /// The manifest as read now: its commands are allowlisted, and each
    /// process it lists is started its way from now on (a known one keeps
    /// running); one it no longer lists gets the defaults back.
    public func list(_ specs: [ProcessSpec]) {
        listed = specs
        for i in processes.indices {
            if let command = listedCommand(processes[i].name, uid: processes[i].uid, appUID: appUser?.uid),
               processes[i].runCommand != command {
                processes[i].runCommand = command
                registryChanged = true
            }
            let launch = listedLaunch(processes[i].name, uid: processes[i].uid, verified: processes[i].verified, appUID: appUser?.uid)
            if processes[i].launch != launch {
                processes[i].launch = launch
                stateGeneration += 1
            }
        }
    }

    /// The manifest's command for `name` when `uid` is whom the manifest
    /// runs it as (its `user`, else the app user): a listed process is
    /// restarted the manifest's way whatever its heartbeats report. For
    /// another uid the sender's own command stands: the app user's manifest
    /// must not choose what another user runs.
    private func listedCommand(_ name: String, uid: UInt32, appUID: UInt32?) -> String? {
        guard let spec = listed.first(where: { $0.name == name }), runsAsListed(spec, uid: uid, appUID: appUID) else { return nil }
        return spec.runCommand
    }

    /// Whether `uid` is whom the manifest runs `spec` as: its `user`, else the app user.
    private func runsAsListed(_ spec: ProcessSpec, uid: UInt32, appUID: UInt32?) -> Bool {
        uid == spec.launch.user?.uid ?? appUID
    }

    /// How the manifest says to start `name` (environment, folder, restart
    /// mode, user); the defaults when not listed. As for the command, a
    /// verified sender of another uid than the manifest's (root's process,
    /// another user's) keeps the defaults: the app user's manifest must not
    /// set what root or another user runs with (LD_PRELOAD, say).
    private func listedLaunch(_ name: String, uid: UInt32, verified: Bool, appUID: UInt32?) -> LaunchOptions {
        guard let spec = listed.first(where: { $0.name == name }) else { return LaunchOptions() }
        if verified && !runsAsListed(spec, uid: uid, appUID: appUID) { return LaunchOptions() }
        return spec.launch
    }

    // MARK: Learning processes

    private func register(_ beat: Heartbeat, in datagram: UnsafeRawBufferPointer, verdict: SenderVerdict, now: Instant, wallClock: Int64) {
        let scanner = JSONScanner(datagram)
        let name = scanner.decode(beat.name)
        let command = beat.runCommand.map { scanner.decode($0) }
        guard processes.count < settings.maximumProcesses else {
            if unverifiedLog.shouldLog(now: now) {
                logger.warning("heartbeat for \(name) ignored: already watching \(processes.count) processes")
            }
            return
        }
        var process: SupervisedProcess
        if verdict.verified {
            guard mayHoldAnotherName(verdict.uid, for: name, now: now) else { return }
            // The gid it runs with now; the user database only as a fallback.
            let gid = Processes.gid(of: beat.pid) ?? Processes.identity(ofUID: verdict.uid).gid
            process = SupervisedProcess(name: name, pid: beat.pid, uid: verdict.uid, gid: gid,
                                        runCommand: listedCommand(name, uid: verdict.uid, appUID: knownAppUser(now: now)?.uid) ?? usable(command),
                                        verified: true, version: beat.version, state: .starting)
        } else if let command, settings.allowlist.contains(command) || listed.contains(where: { $0.runCommand == command }) {
            // SmartMeter code: the app user's, and counted as its names.
            guard let user = knownAppUser(now: now), mayHoldAnotherName(user.uid, for: name, now: now) else { return }
            process = SupervisedProcess(name: name, pid: beat.pid, uid: user.uid, gid: user.gid,
                                        runCommand: command, verified: false, version: beat.version, state: .starting)
        } else {
            if unverifiedLog.shouldLog(now: now) {
                logger.warning("heartbeat for \(name) claiming pid \(beat.pid) ignored: sender not verified and its run_command is not allowlisted")
            }
            return
        }
        process.lastCommandBytes = beat.runCommand.map { Array(UnsafeRawBufferPointer(rebasing: datagram[$0.start..<$0.end])) } ?? []
        process.startTime = Processes.startTime(of: beat.pid)
        process.lastHeartbeat = now
        process.lastHeartbeatWall = wallClock
        process.knownSince = wallClock
        processes.append(process)
        // Learned from its first heartbeat, which the table takes as any
        // first heartbeat after a start.
        apply(.heartbeat, to: processes.count - 1, now: now)
        let restart = process.runCommand.map { "restart command: \($0)" } ?? "no restart command"
        logger.notice("watching \(name) (pid \(beat.pid), uid \(process.uid), version \(beat.version), \(process.verified ? "verified" : "allowlisted")); \(restart)")
    }

    /// Whom process i's command runs as now (`RunIdentity.decide`).
    private func runIdentity(_ i: Int, now: Instant) -> RunIdentity {
        let p = processes[i]
        return RunIdentity.decide(name: p.name, verified: p.verified, uid: p.uid, gid: p.gid, listedUser: p.launch.user,
                                  appUser: { self.knownAppUser(now: now) }, rootProcesses: settings.rootProcesses)
    }

    /// The app user, or nil, said in the log (at a limited rate) when it matters.
    package func knownAppUser(now: Instant) -> Identity? {
        if appUser == nil {
            let owner = (try? Folder.open(workingFolder)).flatMap { folder in
                defer { folder.close() }
                return try? folder.status().uid
            }
            (appUser, noAppUser) = AppUser.resolve(runAs: settings.runAs, smartMeterOwner: owner)
        }
        if appUser == nil, let noAppUser, appUserLog.shouldLog(now: now) {
            logger.error("no app user: \(noAppUser); SmartMeter code is never run as root")
        }
        return appUser
    }

    /// Whether `uid` may hold one more name (`max_names_per_uid`), so that
    /// no user can take every name; says so in the log when not.
    private func mayHoldAnotherName(_ uid: UInt32, for name: String, now: Instant) -> Bool {
        var held = 0
        for p in processes where p.uid == uid { held += 1 }
        guard held >= settings.maximumNamesPerUID else { return true }
        if unverifiedLog.shouldLog(now: now) {
            logger.warning("heartbeat for \(name) from uid \(uid) ignored: that uid already holds \(held) names (max_names_per_uid)")
        }
        return false
    }

    /// Forgets the failed and stopped processes not heard from within
    /// `name_expiry_days` (DESIGN.md §4): a name another uid took and left is free
    /// again. Nothing the agent is running or restarting is forgotten.
    public func expireSilentNames(wallClock: Int64) {
        let cutoff = wallClock - settings.nameExpiry.seconds
        let before = processes.count
        for i in processes.indices where processes[i].knownSince == 0 {
            processes[i].knownSince = wallClock  // started by an update, or from an older registry
        }
        processes.removeAll { p in
            let idle = p.state == .failed || p.state == .finished || (p.state == .stopped && !holding)
            guard idle, max(p.lastHeartbeatWall, p.knownSince) < cutoff else { return false }
            logger.notice("\(p.name): not heard from for \(settings.nameExpiry.seconds / 86_400) days; forgotten")
            return true
        }
        if processes.count != before {
            registryChanged = true
            stateGeneration += 1
        }
    }

    /// A command the agent can run: no NUL bytes, which a C string would cut.
    private func usable(_ command: String?) -> String? {
        guard let command, !command.utf8.contains(0) else { return nil }
        return command
    }

    private func commandUnchanged(_ i: Int, _ beat: Heartbeat, _ datagram: UnsafeRawBufferPointer) -> Bool {
        guard let token = beat.runCommand else { return processes[i].lastCommandBytes.isEmpty }
        let raw = UnsafeRawBufferPointer(rebasing: datagram[token.start..<token.end])
        return processes[i].lastCommandBytes.count == raw.count && processes[i].lastCommandBytes.elementsEqual(raw)
    }

    /// A verified sender's command replaces what was known, and it runs as
    /// that sender from now on (an allowlisted entry taken over by a verified
    /// sender must not keep the app user's uid for the sender's command).
    private func updateCommand(_ i: Int, _ beat: Heartbeat, _ datagram: UnsafeRawBufferPointer, uid: UInt32, now: Instant) {
        if !processes[i].verified || processes[i].uid != uid {
            processes[i].uid = uid
            processes[i].gid = Processes.gid(of: beat.pid) ?? Processes.identity(ofUID: uid).gid
        }
        let scanner = JSONScanner(datagram)
        processes[i].runCommand = listedCommand(processes[i].name, uid: uid, appUID: knownAppUser(now: now)?.uid)
            ?? usable(beat.runCommand.map { scanner.decode($0) })
        processes[i].lastCommandBytes = beat.runCommand.map { Array(UnsafeRawBufferPointer(rebasing: datagram[$0.start..<$0.end])) } ?? []
        processes[i].verified = true
        registryChanged = true
    }

    /// The process now heartbeats from another pid.
    private func adopt(_ i: Int, pid: Int32, now: Instant) {
        if let group = processes[i].group {
            if Processes.processGroup(of: pid) != group {
                processes[i].group = nil  // no longer in the session the agent started
            } else if processes[i].pid == group {
                logger.notice("\(processes[i].name): runs as pid \(pid) (started by its shell, pid \(group))")
            }
        }
        processes[i].ended = false
        processes[i].pid = pid
        processes[i].startTime = Processes.startTime(of: pid)
        registryChanged = true
    }

    /// Whether `pid`, heartbeating process i's name, is a second instance:
    /// one already found to be, or any live pid outside the session the
    /// agent started while the tracked one lives (a shell's child in that
    /// session is the process itself). The tracked one stays tracked: the
    /// other's heartbeats must not hide its silence nor move the agent's
    /// signals to the other. Said once per pid.
    private func isDuplicate(_ i: Int, pid: Int32, uid: UInt32) -> Bool {
        if processes[i].duplicatePid == pid { return true }
        guard !inOwnGroup(i, pid: pid), isAlive(i), Processes.isAlive(pid) else { return false }
        processes[i].duplicatePid = pid
        stateGeneration += 1
        logger.warning("\(processes[i].name): a second instance, pid \(pid) (uid \(uid)), heartbeats with this name; "
                       + "the agent keeps watching pid \(processes[i].pid) and ignores the other's heartbeats")
        return true
    }

    /// Whether `pid` runs in the session the agent started for process i
    /// (a shell's child, say): a kernel fact, not a claim.
    private func inOwnGroup(_ i: Int, pid: Int32) -> Bool {
        guard let group = processes[i].group else { return false }
        return Processes.processGroup(of: pid) == group
    }

    /// Whether process i's pid still names the same process.
    private func isAlive(_ i: Int) -> Bool {
        let p = processes[i]
        guard let expected = p.startTime else { return Processes.isAlive(p.pid) }
        return Processes.startTime(of: p.pid) == expected
    }

    private func timeout(_ i: Int) -> Duration {
        settings.heartbeatTimeout(for: processes[i].name)
    }

    // MARK: Registry

    /// Takes over the processes of an earlier run (DESIGN.md §4): a live one
    /// (same pid, same start time) is watched anew with a full deadline; a
    /// dead one is handled as if it had just exited.
    public func restore(_ saved: [SupervisedProcess], sameBoot: Bool, now: Instant) {
        for var p in saved {
            p.group = nil
            p.recentStarts = []
            p.launch = listedLaunch(p.name, uid: p.uid, verified: p.verified, appUID: knownAppUser(now: now)?.uid)
            p.runCommand = listedCommand(p.name, uid: p.uid, appUID: knownAppUser(now: now)?.uid) ?? p.runCommand
            processes.append(p)
            let i = processes.count - 1
            let atRest = p.state == .failed || p.state == .stopped || p.state == .finished
            let alive = !atRest && sameBoot && isAlive(i)
            if !atRest {
                logger.notice(alive ? "re-adopted \(p.name) (pid \(p.pid))" : "\(p.name) (pid \(p.pid)) is gone since the agent's last run")
                if !alive { processes[i].ended = true }
            }
            apply(.restored, to: i, now: now, alive: alive)
        }
        registryChanged = true
    }
}
