/// The verbs of the local control socket (`ControlRequest`), carried out on
/// the agent's thread. The socket has already checked who asks
/// (`ControlGate`); each verb answers at once, or keeps the connection
/// until what it started has happened (`ControlWaiter`), streaming progress.
extension Agent {
    func answer(_ request: ControlRequest, on connection: ControlConnection) {
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
            reload(why: "reload (uid \(connection.peer.uid))")
            connection.send(.ok("reloaded SmartMeter/tinyagent.json"))
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

    /// SIGHUP and `tinyagent reload`: the manifest is read again and the
    /// processes it lists that are not running are started.
    func reload(why: String) {
        logger.info("\(why): SmartMeter/tinyagent.json re-read (settings are read at start)")
        startListedProcesses(why: why)
    }
}

/// A client waiting for a process to get somewhere (`stop`: stopped).
struct ControlWaiter {
    let connection: ControlConnection
    let name: String
    let deadline: Instant
    /// The final answer once the process has arrived; nil while not yet.
    let arrived: (SupervisedProcess) -> ControlAnswer?
}
