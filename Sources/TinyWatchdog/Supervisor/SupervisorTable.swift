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
    /// The state's deadline passed: heartbeat due, grace over, restart due,
    /// time to look again at a process that is being stopped.
    case deadline
    /// It is gone: its shell was reaped, or a process the agent did not
    /// start no longer runs (or its start failed).
    case exited
    case restartRequested
    /// Stop it and keep it stopped (a software update, `tinyagent stop`).
    case stopRequested
    /// Read back from the registry at the agent's start (DESIGN.md §4).
    case restored
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
    /// Its shell exited during a stop but the group lives on: watch the
    /// group until it is empty.
    case awaitGroup
    /// The group a stop waited for is empty, or outlived SIGKILL by a
    /// second (zombies no one reaps): forget it; the process has exited.
    case releaseGroup
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
    /// Not in a session the agent started (adopted from its heartbeats or
    /// an earlier run): no SIGCHLD tells its exit, so a stop polls for it.
    public var adopted: Bool
    /// Its shell exited during a stop; the stop waits for the group to empty.
    public var leaderExited: Bool
    /// With `leaderExited`: the group has no members left.
    public var groupEmpty: Bool
    /// On `exited`: the shell is gone but its group still has members.
    public var groupLivesOn: Bool
    /// On `restored`: the same process still runs (same boot, pid and start time).
    public var alive: Bool

    public init(canSignal: Bool, canRestart: Bool, restartLimitReached: Bool, holding: Bool = false,
                restart: RestartMode = .always, exitedCleanly: Bool = false, operatorStopped: Bool = false,
                adopted: Bool = false, leaderExited: Bool = false, groupEmpty: Bool = false,
                groupLivesOn: Bool = false, alive: Bool = false) {
        self.canSignal = canSignal
        self.canRestart = canRestart
        self.restartLimitReached = restartLimitReached
        self.holding = holding
        self.restart = restart
        self.exitedCleanly = exitedCleanly
        self.operatorStopped = operatorStopped
        self.adopted = adopted
        self.leaderExited = leaderExited
        self.groupEmpty = groupEmpty
        self.groupLivesOn = groupLivesOn
        self.alive = alive
    }
}

/// The clock and the policy's durations the table sets timers from.
public struct SupervisorTimes: Equatable, Sendable {
    public var now: Instant
    /// The process's deadline before the event (kept by rows that change nothing).
    public var deadline: Instant?
    public var heartbeatTimeout: Duration
    public var killGrace: Duration
    /// The back-off before its next restart (`RestartPolicy.backoff`).
    public var backoff: Duration
    /// When SIGTERM was sent in the current stop.
    public var stopStartedAt: Instant?

    public init(now: Instant, deadline: Instant?, heartbeatTimeout: Duration, killGrace: Duration, backoff: Duration,
                stopStartedAt: Instant? = nil) {
        self.now = now
        self.deadline = deadline
        self.heartbeatTimeout = heartbeatTimeout
        self.killGrace = killGrace
        self.backoff = backoff
        self.stopStartedAt = stopStartedAt
    }
}

/// One row's answer: the next state, what to do, and when the process is
/// due next (nil: nothing is due).
public struct SupervisorStep: Equatable, Sendable {
    public var state: ProcessState
    public var action: SupervisorAction
    public var deadline: Instant?

    public init(_ state: ProcessState, _ action: SupervisorAction, _ deadline: Instant?) {
        self.state = state
        self.action = action
        self.deadline = deadline
    }
}

/// The supervisor as an explicit state × event table: every behaviour of
/// the watchdog is one row here, each action with its timer (s6's way),
/// and the tests walk the rows. `SupervisedProcess.take` is the only
/// caller: nothing else writes a process's state or deadline.
public enum SupervisorTable {
    /// How often a process being stopped that is not the agent's child (or
    /// whose shell has exited) is checked for having gone: no SIGCHLD
    /// arrives for it.
    public static let exitPollInterval = Duration.milliseconds(100)
    /// How long a process group may outlive SIGKILL before it is taken as gone.
    static let killWait = Duration.seconds(1)

    public static func next(_ state: ProcessState, on event: SupervisorEvent,
                            _ facts: SupervisorFacts, _ times: SupervisorTimes) -> SupervisorStep {
        let row = Row(facts: facts, times: times)
        switch state {
        case .starting, .running: return row.up(state, on: event)
        case .stopping, .killing: return row.beingStopped(state, on: event)
        case .waiting, .failed, .stopped, .finished: return row.down(state, on: event)
        }
    }
}

/// The table's rows, by state; each answer carries its timer.
private struct Row {
    let facts: SupervisorFacts
    let times: SupervisorTimes

    /// Alive and expected to heartbeat.
    func up(_ state: ProcessState, on event: SupervisorEvent) -> SupervisorStep {
        switch event {
        case .heartbeat:
            return step(.running, .none)
        case .deadline, .restartRequested:
            if facts.canSignal { return step(.stopping, .terminate) }
            // A pid the agent may not signal (an unverified sender's claim)
            // is left alone; an allowlisted command still brings the
            // process back, as if it had exited.
            if !facts.canRestart { return step(.failed, .giveUp(.cannotSignal)) }
            return event == .restartRequested ? step(.starting, .spawn) : gone()
        case .exited:
            return gone()
        case .stopRequested:
            return stop()
        case .restored:
            return restored(state)
        }
    }

    /// Being stopped: heartbeats from a dying process change nothing.
    func beingStopped(_ state: ProcessState, on event: SupervisorEvent) -> SupervisorStep {
        switch event {
        case .heartbeat, .restartRequested, .stopRequested:
            return step(state, .none)
        case .deadline:
            return graceOver(state)
        case .exited:
            // `sh -c` is gone but what it ran may not be: until the group is
            // empty the old process can still heartbeat (an update would
            // read its old version) or keep running beside its successor.
            return facts.groupLivesOn ? step(state, .awaitGroup) : gone()
        case .restored:
            return restored(state)
        }
    }

    /// Not running: a restart pending (`waiting`), given up on (`failed`),
    /// stopped (for an update, or by an operator), a finished job. Only its
    /// own heartbeat, an asked-for restart or the end of its back-off brings
    /// it back.
    func down(_ state: ProcessState, on event: SupervisorEvent) -> SupervisorStep {
        switch event {
        case .heartbeat where state == .stopped:
            // While an update holds the processes, a heartbeat is one that
            // was on its way when the process died, or the process is still
            // alive and must be stopped again. One on its way when an
            // operator's stop ended the process, or from a copy started by
            // hand: the agent does not take it back.
            if facts.operatorStopped { return step(.stopped, .none) }
            if facts.holding { return facts.canSignal ? step(.stopping, .terminate) : step(.stopped, .none) }
            return step(.running, .none)
        case .heartbeat:
            return step(.running, .none)
        case .deadline where state == .waiting:
            return step(.starting, .spawn)
        case .restartRequested:
            if state == .waiting || facts.canRestart { return step(.starting, .spawn) }
            return step(state == .stopped ? .stopped : .failed, .giveUp(.noTrustedCommand))
        case .deadline, .exited:
            return step(state, .none)
        case .stopRequested:
            return step(.stopped, .none)
        case .restored:
            return restored(state)
        }
    }

    /// `state` after `action`, due when the action says: a heartbeat within
    /// the timeout of a start or of the last heartbeat, the end of a grace or
    /// a back-off; nothing for a process at rest; otherwise when it was.
    func step(_ state: ProcessState, _ action: SupervisorAction) -> SupervisorStep {
        let now = times.now
        let poll = SupervisorTable.exitPollInterval
        switch action {
        case .terminate:
            return SupervisorStep(state, action, now + (facts.adopted ? min(poll, times.killGrace) : times.killGrace))
        case .kill:
            return SupervisorStep(state, action, now + (facts.adopted || facts.leaderExited ? poll : SupervisorTable.killWait))
        case .spawn:
            return SupervisorStep(state, action, now + times.heartbeatTimeout)
        case .scheduleRestart:
            return SupervisorStep(state, action, now + times.backoff)
        case .awaitGroup:
            return SupervisorStep(state, action, now + poll)
        case .giveUp:
            return SupervisorStep(state, action, nil)
        case .none, .releaseGroup:
            switch state {
            case .running: return SupervisorStep(state, action, now + times.heartbeatTimeout)
            case .stopped, .failed, .finished: return SupervisorStep(state, action, nil)
            case .starting, .stopping, .killing, .waiting: return SupervisorStep(state, action, times.deadline)
            }
        }
    }

    /// The process is gone: restart it after the back-off, unless its
    /// restart mode says not to, it may not be restarted, or it has used up
    /// its restarts.
    func gone() -> SupervisorStep {
        if facts.holding || facts.operatorStopped { return step(.stopped, .none) }
        if facts.exitedCleanly && facts.restart != .always { return step(.finished, .none) }
        if facts.restart == .never { return step(.failed, .giveUp(.restartNever)) }
        if !facts.canRestart { return step(.failed, .giveUp(.noTrustedCommand)) }
        if facts.restartLimitReached { return step(.failed, .giveUp(.restartLimit)) }
        return step(.waiting, .scheduleRestart)
    }

    /// Stop it: one the agent may not signal is left running, and said so.
    func stop() -> SupervisorStep {
        facts.canSignal ? step(.stopping, .terminate) : step(.stopped, .giveUp(.cannotSignal))
    }

    /// A stop's timer passed: SIGKILL, unless a process the agent did not
    /// start is still within its grace (it is polled until it is gone), or
    /// the stop waits for a group whose shell has exited.
    func graceOver(_ state: ProcessState) -> SupervisorStep {
        let now = times.now
        if facts.leaderExited { return groupStop(state) }
        if state == .stopping && facts.adopted, let sent = times.stopStartedAt, now - sent < times.killGrace {
            return SupervisorStep(.stopping, .none, min(now + SupervisorTable.exitPollInterval, sent + times.killGrace))
        }
        return step(.killing, .kill)
    }

    /// A stop whose shell has exited: polls the group until it is empty,
    /// SIGKILLs it after the grace; a group that outlives SIGKILL by a second
    /// (zombies no one reaps) is taken as gone.
    func groupStop(_ state: ProcessState) -> SupervisorStep {
        let now = times.now
        let killAt = (times.stopStartedAt ?? now) + times.killGrace
        if facts.groupEmpty || (state == .killing && now >= killAt + SupervisorTable.killWait) {
            return SupervisorStep(state, .releaseGroup, times.deadline)
        }
        if state == .stopping && now >= killAt { return step(.killing, .kill) }
        let next = state == .stopping ? killAt : now + SupervisorTable.killWait
        return SupervisorStep(state, .none, min(now + SupervisorTable.exitPollInterval, next))
    }

    /// Read back from the registry: one at rest stays so; a live one is
    /// watched anew with a full deadline (and an operator's stop the agent
    /// was carrying out is finished); a dead one has just exited.
    func restored(_ state: ProcessState) -> SupervisorStep {
        switch state {
        case .failed, .stopped, .finished: return step(state, .none)
        case .starting, .running, .stopping, .killing, .waiting:
            if !facts.alive { return gone() }
            return facts.operatorStopped ? stop() : step(.running, .none)
        }
    }
}
