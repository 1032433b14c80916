import TinyBase
import TinyWatchdog

/// The verbs of the local control socket (`ControlRequest`), carried out on
/// the agent's thread. The socket has already checked who asks
/// (`ControlGate`); each verb answers at once, or keeps the connection
/// until what it started has happened (`ControlWaiter`), streaming progress.
extension Agent {
    package func answer(_ request: ControlRequest, on connection: ControlConnection) {
        let now = Clock.now()
        if let name = request.name, request.access == .change {
            guard let i = supervisor.index(of: name) else {
                connection.send(.failed(.data, "\(request.verb) \(name): no process named \"\(name)\""))
                return
            }
            if supervisor.holding {
                connection.send(.failed(.unavailable, "\(request.verb) \(name): an update has the processes stopped; try again when it ends"))
                return
            }
            if case .forget = request {
                connection.send(forget(name))
                return
            }
            changeProcess(request, name, pid: supervisor.processes[i].pid, connection: connection, now: now)
            return
        }
        switch request {
        case .status:
            connection.send(.ok("status", data: statusReport().json()))
        case .reload:
            var lines = reload(why: "reload (uid \(connection.peer.uid))")
            let done = lines.removeLast()
            for line in lines { connection.send(.progress(line)) }
            connection.send(.ok(done))
        case .logs(let name):
            switch openLog(name) {
            case .success(let fd):
                connection.send(.ok("logs/\(name).log"), passing: fd)
                fd.close()
            case .failure(let answer):
                connection.send(answer.failure)
            }
        case .update(let request):
            beginLocalUpdate(request, on: connection)
        case .stop, .start, .restart, .forget:
            break  // above
        }
    }

    /// stop, start, restart: asks the supervisor and answers once the
    /// process has got where it was sent (or has not within the deadline).
    private func changeProcess(_ request: ControlRequest, _ name: String, pid before: Int32, connection: ControlConnection, now: Instant) {
        let arrived: (SupervisedProcess) -> ControlAnswer?
        switch request {
        case .stop:
            _ = supervisor.stop(name: name, now: now)
            arrived = { p in
                guard p.state == .stopped else { return nil }
                if let failure = p.failure { return .failed(.unavailable, "\(name): \(failure); it is not watched until started") }
                return .ok("\(name): stopped")
            }
        case .start:
            if case .alreadyUp(let state) = supervisor.start(name: name, now: now) {
                connection.send(.ok("\(name): already \(state.name)"))
                return
            }
            arrived = Agent.startedAgain(name, replacing: 0)
        default:
            _ = supervisor.restart(name: name, now: now)
            arrived = Agent.startedAgain(name, replacing: before)
        }
        connection.send(.progress("\(name): \(request.verb) requested"))
        waiting.append(ControlWaiter(connection: connection, name: name, deadline: now + settings.policy.killGrace + .seconds(5), arrived: arrived))
        answerWaiting(now: now)
    }

    /// Started (a new pid, `starting` or heartbeating), or given up on.
    private static func startedAgain(_ name: String, replacing old: Int32) -> (SupervisedProcess) -> ControlAnswer? {
        { p in
            if (p.state == .starting || p.state == .running) && p.pid != old && p.pid > 0 { return .ok("\(name): started (pid \(p.pid))") }
            if p.state == .failed || p.state == .stopped {
                return .failed(.unavailable, "\(name): not started: \(p.failure ?? p.state.name)")
            }
            return nil
        }
    }

    /// Gives the waiting clients whose process has arrived (or is late)
    /// their final answer. Called after every turn of the loop.
    func answerWaiting(now: Instant) {
        waiting.removeAll { waiter in
            guard waiter.connection.isOpen else { return true }
            guard let i = supervisor.index(of: waiter.name) else {
                waiter.connection.send(.failed(.data, "\(waiter.name): forgotten meanwhile"))
                return true
            }
            if let answer = waiter.arrived(supervisor.processes[i]) {
                waiter.connection.send(answer)
                return true
            }
            guard waiter.deadline <= now else { return false }
            waiter.connection.send(.failed(.unavailable, "\(waiter.name): still \(supervisor.processes[i].state.name); see tinyagent status"))
            return true
        }
    }

    /// `logs/NAME.log`, opened as the rest of logs/ is (no link followed,
    /// a regular file of root's with one name): a link or a second name
    /// planted there would hand a root-only file to the app group.
    private func openLog(_ name: String) -> Result<FileDescriptor, Refusal> {
        let file = "logs/\(name).log"
        guard let logs else { return .failure(Refusal(.failed(.unavailable, "logs: the agent has no usable logs/ folder"))) }
        let fd: FileDescriptor
        do { fd = try logs.openForReading("\(name).log") } catch {
            if error == .system(.noSuchFile) { return .failure(Refusal(.failed(.data, "\(file): no such log (\(name) never started here)"))) }
            return .failure(Refusal(.failed(.permission, "\(file): \(error); not opened")))
        }
        guard let st = try? fd.status(), st.links == 1, st.uid == Processes.effectiveUID else {
            fd.close()
            return .failure(Refusal(.failed(.permission, "\(file): not the agent's own file (owner or a second name); not opened")))
        }
        return .success(fd)
    }

    /// `forget`: only a process the manifest does not list (the next reload
    /// would start it again), and only once it is not running (stopped,
    /// failed or finished).
    private func forget(_ name: String) -> ControlAnswer {
        if UpdateManager.manifest(in: paths.smartMeter, logger: logger)?.manifest.processes.contains(where: { $0.name == name }) == true {
            return .failed(.unavailable, "forget \(name): listed in SmartMeter/tinyagent.json; remove it there and reload, or stop it")
        }
        guard let i = supervisor.index(of: name) else { return .failed(.data, "forget \(name): no process named \"\(name)\"") }
        let state = supervisor.processes[i].state
        guard state == .stopped || state == .failed || state == .finished else {
            return .failed(.unavailable, "forget \(name): it is \(state.name); stop it first")
        }
        _ = supervisor.forget(name: name)
        return .ok("\(name): forgotten")
    }

    /// SIGHUP and `tinyagent reload`: `cfg/agent.json` and the manifest are
    /// read again. The new settings apply from now on, but for those the
    /// agent set itself up with at start (`keepingStartup`); the listed
    /// processes that are not running (nor operator-stopped) are started.
    /// Returns what the operator is told: the settings' problems, what waits
    /// for a restart, and the last line, what was done.
    package func reload(why: String) -> [String] {
        var (fresh, notes) = Agent.readSettings(paths.settingsFile)
        if let port = commandLinePort { fresh.heartbeatPort = port }
        var lines: [String] = []
        for note in notes.errors {
            logger.error("\(why): \(note)")
            lines.append(note)
        }
        for note in notes.warnings {
            logger.warning("\(why): \(note)")
            lines.append(note)
        }
        let (kept, waiting) = Agent.keepingStartup(fresh, from: settings)
        if !waiting.isEmpty {
            let line = "\(paths.settingsFile): \(Agent.list(waiting)) changed: applied at the agent's next start"
            logger.warning("\(why): \(line)")
            lines.append(line)
        }
        settings = kept
        supervisor.settings = kept
        logger.info("\(why): \(paths.settingsFile) and SmartMeter/tinyagent.json re-read")
        let started = startListedProcesses(why: why)
        lines.append("reloaded cfg/agent.json and SmartMeter/tinyagent.json" + (started.isEmpty ? "" : "; started \(Agent.list(started))"))
        return lines
    }

    /// `fresh` with the settings the running agent cannot change (its
    /// sockets, users and own log were set up with them) taken from
    /// `current`, and the keys of those that differ.
    static func keepingStartup(_ fresh: AgentSettings, from current: AgentSettings) -> (AgentSettings, [String]) {
        var kept = fresh
        var differ: [String] = []
        if fresh.heartbeatPort != current.heartbeatPort { differ.append("heartbeat_port") }
        if fresh.runAs != current.runAs { differ.append("run_as") }
        if fresh.helperUser != current.helperUser { differ.append("helper_user") }
        if fresh.logMaximumBytes != current.logMaximumBytes || fresh.logKeep != current.logKeep { differ.append("log_max_bytes/log_keep") }
        if fresh.reconnectSpread != current.reconnectSpread { differ.append("reconnect_spread_ms") }
        if fresh.update != current.update { differ.append("the update settings") }
        (kept.heartbeatPort, kept.runAs, kept.helperUser) = (current.heartbeatPort, current.runAs, current.helperUser)
        (kept.logMaximumBytes, kept.logKeep, kept.reconnectSpread, kept.update) =
            (current.logMaximumBytes, current.logKeep, current.reconnectSpread, current.update)
        return (kept, differ)
    }

    package static func list(_ names: [String]) -> String {
        var text = ""
        for name in names { text += text.isEmpty ? name : ", \(name)" }
        return text
    }
}

/// A final answer that says no, as an error (for `Result`).
package struct Refusal: Error {
    package let failure: ControlAnswer
    package init(_ failure: ControlAnswer) { self.failure = failure }
}

/// A client waiting for a process to get somewhere (`stop`: stopped).
package struct ControlWaiter {
    package let connection: ControlConnection
    package let name: String
    package let deadline: Instant
    /// The final answer once the process has arrived; nil while not yet.
    package let arrived: (SupervisedProcess) -> ControlAnswer?
}
