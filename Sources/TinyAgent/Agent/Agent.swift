import TinyBase
import TinyWatchdog

/// Why the agent could not start.
public enum AgentError: Error {
    case root(String, FileError)
    /// The folders are unsafe to run on (`FolderCheck`): one line each,
    /// already logged (journal and stderr) when this is thrown.
    case unsafeFolders([String])
    /// `wdog/agent.lock` is held: another agent (pid when known) serves the root.
    case anotherAgent(Int32?, root: String)
    case lock(String, FileError)
    case heartbeatPort(UInt16, Errno)
    case controlSocket(String, Errno)
    case system(String, Errno)

    public var reason: String {
        switch self {
        case .root(let path, let e) where e == .system(.noSuchFile):
            return "root folder \(path) does not exist: make it with `install -d -m 0755 \(path)` (root's, 0755; "
                + "the agent makes wdog/ and logs/ in it; the .deb and buildroot/provision make the whole tree), "
                + "or give another with --root DIR"
        case .root(let path, let e): return "root folder \(path)\(e == .symbolicLink ? " " : ": ")\(e)"
        case .unsafeFolders(let lines):
            return "refusing to run: \(lines.count) problem\(lines.count == 1 ? "" : "s") with the agent's folders (above)"
        case .anotherAgent(let pid, let root): return "another agent (\(pid.map { "pid \($0)" } ?? "pid unknown")) serves \(root)"
        case .lock(let path, let e): return "cannot take the lock \(path): \(e)"
        case .heartbeatPort(let port, let e) where e == .addressInUse:
            return "cannot listen for heartbeats on 127.0.0.1:\(port): \(e): another program has the port; is the agent "
                + "already running for another root (systemctl status tinyagent; ss -uapn 'sport = :\(port)')? "
                + "Otherwise set heartbeat_port in cfg/agent.json or --heartbeat-port"
        case .heartbeatPort(let port, let e): return "cannot listen for heartbeats on 127.0.0.1:\(port): \(e)"
        case .controlSocket(let path, let e): return "cannot open the control socket \(path): \(e)"
        case .system(let what, let e): return "\(what): \(e)"
        }
    }

    /// 78 (EX_CONFIG) for unsafe folders: systemd's restarts cannot fix
    /// that, an operator must; 71 (EX_OSERR) for a root folder that is
    /// missing or cannot be opened; 69 for the rest.
    public var exitStatus: Int32 {
        switch self {
        case .unsafeFolders: return ExitStatus.unsafeFolders
        case .root: return ExitStatus.systemError
        default: return ExitStatus.unavailable
        }
    }
}

/// The running agent: one thread, one event loop, serving heartbeats,
/// restarting processes, pinging systemd's watchdog and answering status.
public final class Agent {
    public let paths: AgentPaths
    /// The root folder, `wdog/` and `logs/`, open for the agent's lifetime:
    /// everything in them is reached through these descriptors or through
    /// paths relative to the root (the agent's working folder).
    let top: Folder
    let wdog: Folder?
    /// Held for the agent's lifetime; nil only when `wdog/` is unusable (then it does not start).
    let lock: AgentLock?
    let logs: Folder?
    /// Who the SmartMeter code runs as; nil when there is none (`AppUser`).
    let appUser: Identity?
    let logger: Logger
    /// Re-read on reload (`reload`); what the agent set up with at start
    /// (ports, users, its own log) keeps its start value.
    var settings: AgentSettings
    /// `--heartbeat-port`, which overrides the settings' port.
    let commandLinePort: UInt16?
    let loop: EventLoop
    let signals: SignalQueue
    /// Heartbeats on the seed's UDP port, and on the Unix socket whose
    /// senders the kernel names (nil when it could not be opened).
    let receiver: HeartbeatReceiver
    let attestedReceiver: HeartbeatReceiver?
    let heartbeatPort: UInt16
    let supervisor: Supervisor
    let controlSocket: ControlSocket
    /// The XMPP control channel; nil without a usable `cfg/config_file.bin`.
    private(set) var control: ControlChannel?
    /// Who the link and the update worker run as (nil: the agent is not
    /// root and they run as it), or why no one can.
    private var helperUser: Result<Identity?, HelperUnavailable> = .success(nil)
    /// Software updates; created when the loop starts.
    private var update: UpdateManager?
    /// The servers a new CA must verify (`CARotation`); nil without an XMPP
    /// configuration that uses TLS.
    private var caProbeTargets: [CARotation.Target]?
    /// The `tinyagent update --file --wait` client: told the progress, then the one answer.
    private var localUpdateClient: ControlConnection?
    let notifier = SystemdNotifier()
    let watchdog: WatchdogPinger
    let startedAt = Clock.now()
    let bootID = Registry.currentBootID()
    private var running = true
    /// What `run` returns once `running` is false.
    private var exitStatus = ExitStatus.ok
    /// When the manifest's processes not heard from are started (`startListedProcesses`).
    private var manifestStartDue: Instant?
    private var nextHousekeeping: Instant
    private var reportedGeneration = -1
    private var reportedLinkState = ""
    /// When the link entered `reportedLinkState` (wall clock), for status.
    private var linkStateSince: Int64 = 0
    private var reportedUpdate = -1
    /// Control clients waiting for a process to get where they sent it.
    var waiting: [ControlWaiter] = []
    static let housekeepingInterval = Duration.seconds(60)

    /// Opens `root` (not following a link) and works inside it from then on
    /// (`fchdir`: a rename of its path changes nothing), checks the folders,
    /// reads the settings, prepares `wdog/` and `logs/`, opens the sockets.
    public init(root: String, heartbeatPort: UInt16?) throws(AgentError) {
        do { top = try Folder.open(root) } catch { throw .root(root, error) }
        do { try top.makeCurrent() } catch { throw .root(root, .system(error)) }
        paths = AgentPaths(root: ".")
        let agentUID = Processes.effectiveUID
        var problems = FolderCheck.check(top, agentUID: agentUID)
        var (settings, notes) = Agent.readSettings(paths.settingsFile)
        if let heartbeatPort { settings.heartbeatPort = heartbeatPort }
        self.settings = settings
        commandLinePort = heartbeatPort
        let smartMeterOwner = (try? top.folder("SmartMeter")).flatMap { folder in
            defer { folder.close() }
            return try? folder.status().uid
        }
        let app = AppUser.resolve(runAs: settings.runAs, smartMeterOwner: smartMeterOwner)
        appUser = app.identity
        let group = app.identity?.gid ?? 0
        wdog = FolderCheck.prepare("wdog", in: top, mode: 0o710, group: group, agentUID: agentUID, &problems)
        // Before anything that a running agent owns is touched: logs, sockets, the registry.
        do { lock = try wdog.map { (w) throws(AgentLock.Failure) in try AgentLock.take(in: w) } } catch {
            switch error {
            case .held(let pid): throw .anotherAgent(pid, root: root)
            case .system(let e): throw .lock("\(root)/wdog/\(AgentLock.name)", e)
            }
        }
        logs = FolderCheck.prepare("logs", in: top, mode: 0o750, group: group, agentUID: agentUID, &problems)
        logger = Logger(file: logs.map { RotatingLog(folder: $0, name: "tinyagent.log", maximumBytes: settings.logMaximumBytes,
                                                     keep: settings.logKeep, group: group) })
        for problem in problems { problem.fatal ? logger.error(problem.message) : logger.warning(problem.message) }
        for note in notes.errors { logger.error(note) }
        for note in notes.warnings { logger.warning(note) }
        if let problem = app.problem { logger.warning(problem) }
        guard let wdog, !problems.contains(where: { $0.fatal }) else {
            throw .unsafeFolders(problems.filter { $0.fatal }.map { $0.message })
        }

        do {
            signals = try SignalQueue.open()
            loop = try EventLoop(logger: logger)
        } catch { throw .system("event loop", error) }
        let supervisor = Supervisor(settings: settings, logger: logger, workingFolder: paths.smartMeter,
                                    logs: logs.map { ProcessLogs(folder: $0, group: group) }, appUser: appUser)
        self.supervisor = supervisor
        let verifier = SenderVerifier()
        let udp: UDPSocket
        do { udp = try UDPSocket.bindLoopback(port: settings.heartbeatPort) } catch {
            throw .heartbeatPort(settings.heartbeatPort, error)
        }
        self.heartbeatPort = udp.localPort
        receiver = HeartbeatReceiver(endpoint: .udp(udp), verifier: verifier, supervisor: supervisor, logger: logger)
        attestedReceiver = Agent.openAttestedEndpoint(in: wdog, group: group, verifier: verifier, supervisor: supervisor, logger: logger)
        do {
            controlSocket = try ControlSocket(in: wdog, gate: ControlGate(appUser: appUser), loop: loop)
        } catch { throw .controlSocket(paths.controlSocket, error) }
        watchdog = WatchdogPinger(notifier: notifier)
        nextHousekeeping = startedAt + Agent.housekeepingInterval
    }

    /// `cfg/agent.json`, or the defaults; what was wrong with it, as log lines.
    static func readSettings(_ path: String) -> (AgentSettings, (errors: [String], warnings: [String])) {
        guard Files.size(path) != nil else { return (AgentSettings(), ([], [])) }
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { return (AgentSettings(), (["\(path): \(error); using defaults"], [])) }
        let reading = AgentSettings.parse(bytes)
        return (reading.settings, (reading.errors, reading.warnings))
    }

    /// Runs until SIGTERM or SIGINT; returns the exit status.
    public func run() -> Int32 {
        // The manifest first: a listed process found dead in the registry is
        // restarted its way (folder, user, environment, restart mode).
        supervisor.list(UpdateManager.listedProcesses(in: paths.smartMeter, for: supervisor, now: Clock.now(), logger: logger) ?? [])
        restoreRegistry()
        exportHeartbeatAddress()
        let helper = HelperUser.resolve(settings.helperUser)
        if let warning = helper.warning { logger.warning(warning) }
        if case .failure(let refusal) = helper.user { logger.error(refusal.reason) }
        helperUser = helper.user
        control = openControlChannel()
        let update = UpdateManager(paths: paths, settings: settings.update, supervisor: supervisor, loop: loop, logger: logger,
                                   workers: launch(.fetch), link: UpdateLink(
                                       xmppTargets: { self.caProbeTargets }, restart: { self.restartLink() },
                                       isOnline: { self.control?.link.online ?? false },
                                       hasLink: { self.control != nil },
                                       exit: { status in self.exitStatus = status; self.running = false })) { origin, success, remarks in
            self.answerUpdate(origin, success: success, remarks: remarks)
        }
        self.update = update
        do { try registerParticipants(update) } catch {
            logger.error("event loop: \(error)")
            stop()
            return ExitStatus.systemError
        }
        update.resume(answered: { self.control?.processor.journal.answer(for: $0) != nil }, now: Clock.now())
        // Listed processes already running but not in the registry (started
        // by hand, or before the agent was installed) make themselves known
        // by heartbeating: give them one deadline before starting the rest.
        manifestStartDue = Clock.now() + settings.policy.heartbeatTimeout
        // The status line first, so that the link's first presence carries it.
        saveChanges()
        control?.start()
        let attested = attestedReceiver == nil ? "" : " and wdog/\(AgentPaths.heartbeatSocketName)"
        logger.notice("tinyagent \(agentVersion) serving heartbeats on 127.0.0.1:\(heartbeatPort)\(attested), root \(top.path)")
        notifier.ready()
        watchdog.start(now: Clock.now())
        while running { loop.runOnce() }
        notifier.stopping()
        logger.notice("stopping; supervised processes keep running and are re-adopted at the next start")
        saveChanges()
        stop()
        return exitStatus
    }

    /// Everything the loop serves, once each. Ticks go in this order: the
    /// supervisor's deadlines before the update manager looks whether its
    /// processes have stopped, the agent's own work (answers, the registry,
    /// STATUS=) last.
    private func registerParticipants(_ update: UpdateManager) throws(Errno) {
        for heartbeats in [receiver] + (attestedReceiver.map { [$0] } ?? []) {
            try loop.register(heartbeats, watching: heartbeats.endpoint.fd)
        }
        if let control { loop.register(control) }
        loop.register(supervisor)
        try loop.register(controlSocket, watching: controlSocket.listener)
        loop.register(update)
        loop.register(watchdog)
        try loop.register(self, watching: signals.fd)
    }

    /// Processes the agent starts heartbeat to this port, or better to
    /// the Unix socket (the Python helper and `tinyagent heartbeat` read both).
    private func exportHeartbeatAddress() {
        setEnvironment("TINYAGENT_HEARTBEAT_PORT", "\(heartbeatPort)")
        if attestedReceiver != nil {
            setEnvironment("TINYAGENT_HEARTBEAT_SOCKET", AgentPaths(root: top.path).heartbeatSocket)
        }
    }

    /// Lets go of the link, the clients and the sockets. The loop holds its
    /// participants (the agent among them), the command processor's and the
    /// update manager's callbacks hold the agent: dropping them frees it on
    /// return (leak checkers then report only real leaks).
    private func stop() {
        control?.stop()
        for waiter in waiting { waiter.connection.send(.failed(.unavailable, "\(waiter.name): the agent is stopping")) }
        waiting.removeAll()
        controlSocket.close()
        attestedReceiver?.endpoint.close()
        loop.unregisterAll()
        control = nil
        self.update = nil
    }

    public func statusReport() -> StatusReport {
        StatusReport(pid: Processes.currentPID, uptimeSeconds: (Clock.now() - startedAt).seconds,
                     heartbeatPort: heartbeatPort, heartbeatsAccepted: receiver.accepted + (attestedReceiver?.accepted ?? 0),
                     heartbeatsDropped: receiver.dropped + (attestedReceiver?.dropped ?? 0),
                     heartbeatsWithUnknownFields: receiver.withUnknownFields + (attestedReceiver?.withUnknownFields ?? 0),
                     processes: supervisor.reported, wallClock: Clock.wallSeconds(),
                     xmpp: control?.link.stateName ?? "off", xmppSince: linkStateSince, freeBytes: Files.freeBytes(under: paths.root),
                     update: update?.summary ?? "no update in progress", lastUpdate: update?.last)
    }

    /// Writes the registry and STATUS= when they changed.
    private func saveChanges() {
        if supervisor.registryChanged {
            supervisor.registryChanged = false
            do {
                guard let wdog else { return }
                try Registry.file(in: wdog).write(Registry.encode(supervisor.processes, bootID: bootID))
            } catch {
                logger.error("cannot write \(paths.registryFile): \(error)")
            }
        }
        let linkState = control?.link.stateName ?? "off"
        let updateGeneration = update?.generation ?? 0
        if supervisor.stateGeneration != reportedGeneration || linkState != reportedLinkState || updateGeneration != reportedUpdate {
            reportedGeneration = supervisor.stateGeneration
            if linkState != reportedLinkState { linkStateSince = Clock.wallSeconds() }
            reportedLinkState = linkState
            reportedUpdate = updateGeneration
            let processes = StatusReport.summary(supervisor.processes)
            let updateState = update?.summary ?? "no update in progress"
            notifier.status("\(processes); xmpp \(linkState)" + (update?.record == nil ? "" : "; \(updateState)"))
            control?.setSummary("tinyagent \(agentVersion) · \(processes) · \(updateState)")
            if let client = localUpdateClient, update?.record != nil, !client.send(.progress(updateState)) {
                localUpdateClient = nil  // gone: the update goes on
            }
        }
    }

    /// The control channel from `cfg/config_file.bin`; without one (or with
    /// a bad one) the agent goes on watching processes, channel off.
    private func openControlChannel() -> ControlChannel? {
        let file = "\(paths.cfg)/config_file.bin"
        guard Files.size(file) != nil else {
            logger.notice("no \(file): XMPP control channel off")
            return nil
        }
        let config: DeviceConfig
        do { config = try DeviceConfig.load(root: paths.root, keyFile: nil) } catch {
            // Most reasons name their file already (the config, or cfg/key).
            let reason = if case .file = error { error.reason } else { "\(file): \(error.reason)" }
            logger.error("\(reason); XMPP control channel off")
            return nil
        }
        let journal = CommandJournal(path: "\(paths.wdog)/commands.json")
        journal.load(logger: logger)
        // Without its program or user the link stays offline, but the channel
        // is kept: an update resumed now still journals its answer for later.
        let link = LinkClient(launch: launch(.link), settings: LinkSettings(
            jid: config.clientJID, password: config.password, servers: config.endpoints,
            tlsRequired: config.tlsRequired, caFile: paths.caFile, panel: config.panelJID,
            spread: settings.reconnectSpread))
        let processor = CommandProcessor(
            panelJID: config.panelJID, deviceID: config.deviceID, journal: journal, logger: logger,
            status: { self.statusReport() }, restart: { self.restartProcess($0) },
            update: { self.update?.begin($0, now: Clock.now()) ?? .refused("the agent is starting") })
        logger.notice("XMPP control channel: \(config.clientJID), commands from \(config.panelJID), device id \(config.deviceID)")
        if config.tlsRequired, let domain = JID(config.clientJID)?.domain {
            caProbeTargets = CARotation.xmppTargets(endpoints: config.endpoints, domain: domain)
        }
        if config.tlsRequired, let problem = CAFile.problem(paths.caFile) {
            logger.error("XMPP: \(problem): the server's certificate cannot be verified, so the link cannot log in; "
                         + "put the panel's CA certificate there (root, mode 0644)")
        }
        return ControlChannel(link: link, processor: processor, loop: loop, logger: logger)
    }

    /// The manifest (`SmartMeter/tinyagent.json`) as the list of processes
    /// that should run: those the agent does not know yet — none re-adopted,
    /// none already watched — are started. Not while an update owns them.
    @discardableResult
    func startListedProcesses(why: String) -> [String] {
        guard !supervisor.holding, update?.record == nil,
              let specs = UpdateManager.listedProcesses(in: paths.smartMeter, for: supervisor, now: Clock.now(), logger: logger) else { return [] }
        supervisor.list(specs)
        let started = supervisor.startMissing(specs, now: Clock.now())
        if !started.isEmpty {
            logger.notice("\(why): starting \(Agent.list(started)), listed in SmartMeter/tinyagent.json and not running")
        }
        return started
    }

    /// An update's one answer, to whoever asked for it.
    private func answerUpdate(_ origin: UpdateOrigin, success: Bool, remarks: String) {
        switch origin {
        case .panel(let no):
            guard let control else {
                logger.error("update \(no) ended (success: \(success)) but there is no control channel to answer on")
                return
            }
            control.answerLater(no, success: success, remarks: remarks)
        case .local:
            guard let client = localUpdateClient else { return }
            localUpdateClient = nil
            let installed = update?.last.map { "installed and confirmed: \($0.after)" } ?? "installed and confirmed"
            client.send(success ? .ok(installed) : .failed(.data, remarks))
        }
    }

    /// `update --file`: the archive (and signature) the client opened, passed
    /// with the request, go to the same install path as the panel's.
    func beginLocalUpdate(_ request: ControlRequest.LocalUpdate, on connection: ControlConnection) {
        let files = connection.takeDescriptors()
        guard let update else {
            for fd in files { fd.close() }
            connection.send(.failed(.unavailable, "update: the agent is starting"))
            return
        }
        guard files.count == request.descriptorCount,
              files.allSatisfy({ (try? $0.status().kind) == .regular }) else {
            for fd in files { fd.close() }
            connection.send(.failed(.usage, "update: the request must carry \(request.descriptorCount) regular file(s), open for reading"))
            return
        }
        let decision = update.beginLocal(name: request.file, archive: files[0], signature: files.count > 1 ? files[1] : nil,
                                         now: Clock.now())
        switch decision {
        case .accepted:
            logger.notice("local update from \(request.file) asked by uid \(connection.peer.uid)")
            guard request.wait else {
                connection.send(.ok("update started from \(request.file); tinyagent status shows how it goes"))
                return
            }
            localUpdateClient = connection
            connection.send(.progress(update.summary))
        case .alreadyRunning:
            connection.send(.failed(.unavailable, "update: one is already running"))
        case .refused(let why):
            connection.send(.failed(.unavailable, "update: \(why)"))
        }
    }

    /// The panel's `restart_process`: nil, or why not.
    private func restartProcess(_ name: String) -> String? {
        if supervisor.holding { return "an update has the processes stopped; try again when it ends" }
        return supervisor.restart(name: name, now: Clock.now()) ? nil : "no process named \"\(name)\""
    }

    /// Stops the link and starts a new one, which reads certs/cacert.pem again.
    private func restartLink() {
        control?.stop()
        control?.start()
    }

    /// How `role`'s helper is started; a program that cannot be used is
    /// logged once, with what goes without it (a missing helper user was
    /// logged already).
    private func launch(_ role: HelperRole) -> Result<HelperLaunch, HelperUnavailable> {
        let launch = HelperLaunch.prepare(role, user: helperUser)
        if case .failure(let refusal) = launch, case .success = helperUser {
            logger.error("\(refusal.reason): \(role == .link ? "the XMPP control channel is off" : "updates are refused")")
        }
        return launch
    }

    /// The Unix heartbeat socket, root:app group 0620 (RELIABILITY.md "Threat
    /// model"): the app user may send, nobody else but root. Without it the
    /// agent still serves UDP.
    private static func openAttestedEndpoint(in wdog: Folder, group: UInt32, verifier: SenderVerifier,
                                             supervisor: Supervisor, logger: Logger) -> HeartbeatReceiver? {
        do {
            let socket = try UnixDatagramSocket.attested(
                try wdog.bindUnixSocket(AgentPaths.heartbeatSocketName, mode: 0o620, gid: group, datagram: true))
            return HeartbeatReceiver(endpoint: .unix(socket), verifier: verifier, supervisor: supervisor, logger: logger)
        } catch {
            logger.warning("cannot open wdog/\(AgentPaths.heartbeatSocketName): \(error); heartbeats over UDP only")
            return nil
        }
    }

    private func housekeeping() {
        supervisor.expireSilentNames(wallClock: Clock.wallSeconds())
        guard let logs else { return }
        for p in supervisor.processes {
            RotatingLog.capRunning("\(p.name).log", in: logs, maximumBytes: settings.processLogMaximumBytes, group: appUser?.gid ?? 0)
        }
    }

    private func restoreRegistry() {
        guard let wdog, let saved = Registry.file(in: wdog).load(logger: logger, ifBad: "starting with no known processes",
                                                                 Registry.decode) else { return }
        supervisor.restore(saved.processes, sameBoot: !bootID.isEmpty && saved.bootID == bootID, now: Clock.now())
        supervisor.expireSilentNames(wallClock: Clock.wallSeconds())  // not only at the first housekeeping
    }
}

/// The agent's own part of the loop: its signals (the signalfd is watched
/// for it), the manifest's first start, housekeeping, control requests and
/// the clients waiting on them, and writing what changed — last in each turn.
extension Agent: EventParticipant {
    public var nextDeadline: Instant? {
        var deadline = nextHousekeeping
        if let d = manifestStartDue, d < deadline { deadline = d }
        for waiter in waiting where waiter.deadline < deadline { deadline = waiter.deadline }
        return deadline
    }

    public func tick(now: Instant) {
        for (request, connection) in controlSocket.takeRequests() { answer(request, on: connection) }
        if let due = manifestStartDue, due <= now {
            manifestStartDue = nil
            startListedProcesses(why: "start")
        }
        if nextHousekeeping <= now {
            housekeeping()
            nextHousekeeping = now + Agent.housekeepingInterval
        }
        answerWaiting(now: now)
        saveChanges()
    }

    public func readable(_ token: EventLoop.Token, now: Instant) {
        while let signal = signals.next() {
            switch signal {
            case .terminate, .interrupt: running = false
            case .child: loop.reapChildren(now: now)
            default: _ = reload(why: "SIGHUP")
            }
        }
    }
}
