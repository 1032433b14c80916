import TinyBase

/// Where a supervised process stands.
public enum ProcessState: Equatable, Sendable, CaseIterable {
    /// Started by the agent; its first heartbeat is due within the deadline.
    case starting
    /// Heartbeating within its deadline.
    case running
    /// Missed its deadline (or a restart was asked for): SIGTERM sent.
    case stopping
    /// Did not exit within the grace period: SIGKILL sent.
    case killing
    /// Gone; a restart is due at the deadline (back-off).
    case waiting
    /// Not restarted again until it heartbeats or a restart is asked for.
    case failed
    /// Stopped on purpose (a software update swaps its folder, or
    /// `tinyagent stop`): not restarted until the update or an operator
    /// starts it, or a restart is asked for.
    case stopped
    /// Exited with status 0 under restart `on-failure` or `never`: a
    /// finished job, not started again until a restart is asked for.
    case finished

    public var name: String {
        switch self {
        case .starting: return "starting"
        case .running: return "running"
        case .stopping: return "stopping"
        case .killing: return "killing"
        case .waiting: return "waiting"
        case .failed: return "failed"
        case .stopped: return "stopped"
        case .finished: return "finished"
        }
    }

    public init?(name: String) {
        switch name {
        case "starting": self = .starting
        case "running": self = .running
        case "stopping": self = .stopping
        case "killing": self = .killing
        case "waiting": self = .waiting
        case "failed": self = .failed
        case "stopped": self = .stopped
        case "finished": self = .finished
        default: return nil
        }
    }
}

/// What happened to a supervised process.
public enum SupervisorEvent: Equatable, Sendable, CaseIterable {
    case heartbeat
    /// The state's deadline passed: heartbeat due, grace over, restart due.
    case deadline
    case exited
    case restartRequested
    /// Stop it and keep it stopped (a software update, `tinyagent stop`).
    case stopRequested
}

/// What the supervisor must do on a transition.
public enum SupervisorAction: Equatable, Sendable {
    case none
    case terminate
    case kill
    case spawn
    /// Gone, and a restart is allowed: wait out the back-off.
    case scheduleRestart
    case giveUp(GiveUpReason)
}

public enum GiveUpReason: Equatable, Sendable {
    /// No run_command the agent may run (unverified sender, not allowlisted).
    case noTrustedCommand
    /// More restarts in the window than the policy allows.
    case restartLimit
    /// Silent, but its pid is not one the agent may signal.
    case cannotSignal
    /// It ended, and its restart mode is `never`.
    case restartNever
}

/// Facts about the process the table needs besides its state.
public struct SupervisorFacts: Equatable, Sendable {
    /// Its pid is one the agent may signal (verified sender, or its own child).
    public var canSignal: Bool
    /// The agent holds a run_command it may run for it.
    public var canRestart: Bool
    /// Restarts in the current window have reached the cap.
    public var restartLimitReached: Bool
    /// The supervisor is stopping everything for an update: a process that
    /// goes away stays stopped.
    public var holding: Bool
    /// Its restart mode (the manifest's `restart`).
    public var restart: RestartMode
    /// It exited by itself with status 0 (not stopped by the agent, not
    /// killed by a signal): under `on-failure`, a finished job.
    public var exitedCleanly: Bool
    /// An operator stopped it (`tinyagent stop`): it stays stopped — not
    /// restarted when it exits, not revived by a late heartbeat — until
    /// started or restarted.
    public var operatorStopped: Bool

    public init(canSignal: Bool, canRestart: Bool, restartLimitReached: Bool, holding: Bool = false,
                restart: RestartMode = .always, exitedCleanly: Bool = false, operatorStopped: Bool = false) {
        self.canSignal = canSignal
        self.canRestart = canRestart
        self.restartLimitReached = restartLimitReached
        self.holding = holding
        self.restart = restart
        self.exitedCleanly = exitedCleanly
        self.operatorStopped = operatorStopped
    }
}

/// The supervisor as an explicit state × event table: every behaviour of
/// the watchdog is one row here, and the tests walk the rows.
public enum SupervisorTable {
    public static func next(_ state: ProcessState, on event: SupervisorEvent,
                            _ facts: SupervisorFacts) -> (ProcessState, SupervisorAction) {
        switch (state, event) {
        // Alive and expected to heartbeat.
        case (.starting, .heartbeat), (.running, .heartbeat):
            return (.running, .none)
        case (.starting, .deadline), (.running, .deadline), (.starting, .restartRequested), (.running, .restartRequested):
            if facts.canSignal { return (.stopping, .terminate) }
            // A pid the agent may not signal (an unverified sender's claim)
            // is left alone; an allowlisted command still brings the
            // process back, as if it had exited.
            if !facts.canRestart { return (.failed, .giveUp(.cannotSignal)) }
            return event == .restartRequested ? (.starting, .spawn) : gone(facts)
        case (.starting, .exited), (.running, .exited):
            return gone(facts)
        case (.starting, .stopRequested), (.running, .stopRequested):
            // One the agent may not signal is left running, and said so.
            return facts.canSignal ? (.stopping, .terminate) : (.stopped, .giveUp(.cannotSignal))

        // Being stopped: heartbeats from a dying process change nothing.
        case (.stopping, .heartbeat), (.killing, .heartbeat),
             (.stopping, .restartRequested), (.killing, .restartRequested),
             (.stopping, .stopRequested), (.killing, .stopRequested):
            return (state, .none)
        case (.stopping, .deadline), (.killing, .deadline):
            return (.killing, .kill)
        case (.stopping, .exited), (.killing, .exited):
            return gone(facts)

        // Gone, restart pending.
        case (.waiting, .heartbeat):
            return (.running, .none)
        case (.waiting, .deadline), (.waiting, .restartRequested):
            return (.starting, .spawn)
        case (.waiting, .exited):
            return (.waiting, .none)
        case (.waiting, .stopRequested), (.failed, .stopRequested):
            return (.stopped, .none)

        // Given up on.
        case (.failed, .heartbeat):
            return (.running, .none)
        case (.failed, .restartRequested):
            return facts.canRestart ? (.starting, .spawn) : (.failed, .giveUp(.noTrustedCommand))
        case (.failed, .deadline), (.failed, .exited):
            return (.failed, .none)

        // Stopped for an update. While the update holds the processes, a
        // heartbeat is one that was on its way when the process died, or
        // the process is still alive and must be stopped again.
        case (.stopped, .heartbeat):
            // One on its way when an operator's stop ended the process, or
            // from a copy started by hand: the agent does not take it back.
            if facts.operatorStopped { return (.stopped, .none) }
            if facts.holding { return facts.canSignal ? (.stopping, .terminate) : (.stopped, .none) }
            return (.running, .none)
        case (.stopped, .restartRequested):
            return facts.canRestart ? (.starting, .spawn) : (.stopped, .giveUp(.noTrustedCommand))
        case (.stopped, .deadline), (.stopped, .exited), (.stopped, .stopRequested):
            return (.stopped, .none)

        // A finished job: only asked-for restarts (or its own heartbeat) bring it back.
        case (.finished, .heartbeat):
            return (.running, .none)
        case (.finished, .restartRequested):
            return facts.canRestart ? (.starting, .spawn) : (.failed, .giveUp(.noTrustedCommand))
        case (.finished, .deadline), (.finished, .exited):
            return (.finished, .none)
        case (.finished, .stopRequested):
            return (.stopped, .none)
        }
    }

    /// The process is gone: restart it after the back-off, unless its
    /// restart mode says not to, it may not be restarted, or it has used up
    /// its restarts.
    private static func gone(_ facts: SupervisorFacts) -> (ProcessState, SupervisorAction) {
        if facts.holding || facts.operatorStopped { return (.stopped, .none) }
        if facts.exitedCleanly && facts.restart != .always { return (.finished, .none) }
        if facts.restart == .never { return (.failed, .giveUp(.restartNever)) }
        if !facts.canRestart { return (.failed, .giveUp(.noTrustedCommand)) }
        if facts.restartLimitReached { return (.failed, .giveUp(.restartLimit)) }
        return (.waiting, .scheduleRestart)
    }
}
