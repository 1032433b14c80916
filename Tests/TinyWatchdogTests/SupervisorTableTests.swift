import Testing
@testable import TinyWatchdog
@testable import TinyBase

@Suite struct SupervisorTableTests {
    let trusted = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false)
    let t0 = Instant(nanoseconds: 1_000_000_000_000)
    /// The timer set before the event: kept by rows that change nothing.
    var earlier: Instant { t0 + .seconds(7) }

    /// At t0: heartbeat timeout 30 s, grace 5 s, back-off 2 s, SIGTERM sent
    /// `sent` ago.
    func times(sent: Duration = .seconds(1)) -> SupervisorTimes {
        SupervisorTimes(now: t0, deadline: earlier, heartbeatTimeout: .seconds(30), killGrace: .seconds(5),
                        backoff: .seconds(2), stopStartedAt: t0 - sent)
    }

    /// The row's state and action (its timer is checked by the tests that name it).
    func next(_ state: ProcessState, on event: SupervisorEvent, _ facts: SupervisorFacts) -> (ProcessState, SupervisorAction) {
        let step = SupervisorTable.next(state, on: event, facts, times())
        return (step.state, step.action)
    }

    @Test func aSilentProcessIsTerminatedThenKilledThenRestarted() {
        var (state, action) = next(.running, on: .deadline, trusted)
        #expect(state == .stopping && action == .terminate)
        (state, action) = next(state, on: .deadline, trusted)
        #expect(state == .killing && action == .kill)
        (state, action) = next(state, on: .exited, trusted)
        #expect(state == .waiting && action == .scheduleRestart)
        (state, action) = next(state, on: .deadline, trusted)
        #expect(state == .starting && action == .spawn)
        (state, action) = next(state, on: .heartbeat, trusted)
        #expect(state == .running && action == .none)
    }

    @Test func anUpdateStopsProcessesAndKeepsThemStopped() {
        let holding = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, holding: true)
        var (state, action) = next(.running, on: .stopRequested, holding)
        #expect(state == .stopping && action == .terminate)
        (state, action) = next(state, on: .deadline, holding)
        #expect(state == .killing && action == .kill)
        (state, action) = next(state, on: .exited, holding)
        #expect(state == .stopped && action == .none, "not restarted while the update holds it")
        #expect(next(.stopped, on: .deadline, holding) == (.stopped, .none))
        #expect(next(.waiting, on: .stopRequested, holding) == (.stopped, .none))
        #expect(next(.failed, on: .stopRequested, holding) == (.stopped, .none))
        #expect(next(.running, on: .exited, holding) == (.stopped, .none), "a crash while held")
        // A heartbeat while held: one that was on its way when the process
        // died changes nothing; a process still alive is stopped again.
        let gone = SupervisorFacts(canSignal: false, canRestart: true, restartLimitReached: false, holding: true)
        #expect(next(.stopped, on: .heartbeat, gone) == (.stopped, .none))
        #expect(next(.stopped, on: .heartbeat, holding) == (.stopping, .terminate))
        // Started again by the update (a restart request) or seen alive once the update is over.
        #expect(next(.stopped, on: .restartRequested, trusted) == (.starting, .spawn))
        #expect(next(.stopped, on: .heartbeat, trusted) == (.running, .none))
        // One the agent may not signal is left running, and said so.
        let foreign = SupervisorFacts(canSignal: false, canRestart: false, restartLimitReached: false, holding: true)
        #expect(next(.running, on: .stopRequested, foreign) == (.stopped, .giveUp(.cannotSignal)))
    }

    @Test func anOperatorsStopKeepsTheProcessStoppedUntilItIsStarted() {
        let stopped = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, operatorStopped: true)
        var (state, action) = next(.running, on: .stopRequested, stopped)
        #expect(state == .stopping && action == .terminate)
        (state, action) = next(state, on: .exited, stopped)
        #expect(state == .stopped && action == .none, "its exit is not a crash to restart")
        #expect(next(.running, on: .exited, stopped) == (.stopped, .none))
        #expect(next(.stopped, on: .deadline, stopped) == (.stopped, .none))
        #expect(next(.stopped, on: .heartbeat, stopped) == (.stopped, .none), "a late heartbeat does not revive it")
        #expect(next(.stopped, on: .restartRequested, stopped) == (.starting, .spawn), "start and restart do")
    }

    @Test func aCrashedProcessWaitsForItsRestart() {
        #expect(next(.running, on: .exited, trusted) == (.waiting, .scheduleRestart))
        #expect(next(.starting, on: .exited, trusted) == (.waiting, .scheduleRestart))
    }

    @Test func aProcessThatNeverHeartbeatsAfterStartIsStoppedToo() {
        #expect(next(.starting, on: .deadline, trusted) == (.stopping, .terminate))
    }

    @Test func overTheRestartCapAProcessIsFailedNotRestarted() {
        let capped = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: true)
        #expect(next(.running, on: .exited, capped) == (.failed, .giveUp(.restartLimit)))
        #expect(next(.killing, on: .exited, capped) == (.failed, .giveUp(.restartLimit)))
        #expect(next(.failed, on: .deadline, capped) == (.failed, .none))
    }

    @Test func aFailedProcessComesBackOnAHeartbeatOrARestartRequest() {
        #expect(next(.failed, on: .heartbeat, trusted) == (.running, .none))
        #expect(next(.failed, on: .restartRequested, trusted) == (.starting, .spawn))
    }

    @Test func withoutATrustedCommandNothingIsRun() {
        let untrusted = SupervisorFacts(canSignal: false, canRestart: false, restartLimitReached: false)
        #expect(next(.running, on: .deadline, untrusted) == (.failed, .giveUp(.cannotSignal)))
        #expect(next(.running, on: .exited, untrusted) == (.failed, .giveUp(.noTrustedCommand)))
        #expect(next(.failed, on: .restartRequested, untrusted) == (.failed, .giveUp(.noTrustedCommand)))
    }

    @Test func aPidTheAgentMayNotSignalIsNeverSignalled() {
        let allowlisted = SupervisorFacts(canSignal: false, canRestart: true, restartLimitReached: false)
        #expect(next(.running, on: .deadline, allowlisted) == (.waiting, .scheduleRestart))
        #expect(next(.running, on: .restartRequested, allowlisted) == (.starting, .spawn))
    }

    @Test func heartbeatsFromAProcessBeingStoppedChangeNothing() {
        #expect(next(.stopping, on: .heartbeat, trusted) == (.stopping, .none))
        #expect(next(.killing, on: .heartbeat, trusted) == (.killing, .none))
    }

    @Test func underOnFailureAnExitWithStatusZeroIsAFinishedJobAndAnyOtherEndIsRestarted() {
        let onFailure = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, restart: .onFailure)
        var clean = onFailure
        clean.exitedCleanly = true
        #expect(next(.running, on: .exited, clean) == (.finished, .none))
        #expect(next(.starting, on: .exited, clean) == (.finished, .none))
        #expect(next(.running, on: .exited, onFailure) == (.waiting, .scheduleRestart), "a crash")
        #expect(next(.killing, on: .exited, onFailure) == (.waiting, .scheduleRestart), "stopped for silence")
        #expect(next(.running, on: .deadline, onFailure) == (.stopping, .terminate), "silence is a failure")
        var always = clean
        always.restart = .always
        #expect(next(.running, on: .exited, always) == (.waiting, .scheduleRestart), "always: even exit 0")
    }

    @Test func underNeverNoEndIsRestartedButARestartRequestStartsItAgain() {
        let never = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, restart: .never)
        var clean = never
        clean.exitedCleanly = true
        #expect(next(.running, on: .exited, clean) == (.finished, .none))
        #expect(next(.running, on: .exited, never) == (.failed, .giveUp(.restartNever)))
        #expect(next(.killing, on: .exited, never) == (.failed, .giveUp(.restartNever)), "a hang is still stopped")
        #expect(next(.finished, on: .restartRequested, never) == (.starting, .spawn))
        #expect(next(.failed, on: .restartRequested, never) == (.starting, .spawn))
        var held = never
        held.holding = true
        #expect(next(.running, on: .exited, held) == (.stopped, .none), "an update's stop is not an end")
    }

    /// When a row leaves the process due: nothing, the timer it had, or after a delay from now.
    enum Due: Equatable {
        case never, kept
        case after(Duration)
    }

    func instant(_ due: Due) -> Instant? {
        switch due {
        case .never: return nil
        case .kept: return earlier
        case .after(let delay): return t0 + delay
        }
    }

    @Test func everyStateHandlesEveryEventAsTheTableSaysWithItsTimer() {
        // The whole table for a trusted process the agent started, outside
        // an update, row by row; a state or event added later has no row
        // here and fails. Timers: heartbeat 30 s, grace 5 s, back-off 2 s,
        // a group outliving SIGKILL 1 s.
        let heartbeat = Due.after(.seconds(30)), grace = Due.after(.seconds(5)), backoff = Due.after(.seconds(2))
        let rows: [(ProcessState, SupervisorEvent, ProcessState, SupervisorAction, Due)] = [
            (.starting, .heartbeat, .running, .none, heartbeat), (.starting, .deadline, .stopping, .terminate, grace),
            (.starting, .exited, .waiting, .scheduleRestart, backoff), (.starting, .restartRequested, .stopping, .terminate, grace),
            (.starting, .stopRequested, .stopping, .terminate, grace), (.starting, .restored, .waiting, .scheduleRestart, backoff),
            (.running, .heartbeat, .running, .none, heartbeat), (.running, .deadline, .stopping, .terminate, grace),
            (.running, .exited, .waiting, .scheduleRestart, backoff), (.running, .restartRequested, .stopping, .terminate, grace),
            (.running, .stopRequested, .stopping, .terminate, grace), (.running, .restored, .waiting, .scheduleRestart, backoff),
            (.stopping, .heartbeat, .stopping, .none, .kept), (.stopping, .deadline, .killing, .kill, .after(.seconds(1))),
            (.stopping, .exited, .waiting, .scheduleRestart, backoff), (.stopping, .restartRequested, .stopping, .none, .kept),
            (.stopping, .stopRequested, .stopping, .none, .kept), (.stopping, .restored, .waiting, .scheduleRestart, backoff),
            (.killing, .heartbeat, .killing, .none, .kept), (.killing, .deadline, .killing, .kill, .after(.seconds(1))),
            (.killing, .exited, .waiting, .scheduleRestart, backoff), (.killing, .restartRequested, .killing, .none, .kept),
            (.killing, .stopRequested, .killing, .none, .kept), (.killing, .restored, .waiting, .scheduleRestart, backoff),
            (.waiting, .heartbeat, .running, .none, heartbeat), (.waiting, .deadline, .starting, .spawn, heartbeat),
            (.waiting, .exited, .waiting, .none, .kept), (.waiting, .restartRequested, .starting, .spawn, heartbeat),
            (.waiting, .stopRequested, .stopped, .none, .never), (.waiting, .restored, .waiting, .scheduleRestart, backoff),
            (.failed, .heartbeat, .running, .none, heartbeat), (.failed, .deadline, .failed, .none, .never),
            (.failed, .exited, .failed, .none, .never), (.failed, .restartRequested, .starting, .spawn, heartbeat),
            (.failed, .stopRequested, .stopped, .none, .never), (.failed, .restored, .failed, .none, .never),
            (.stopped, .heartbeat, .running, .none, heartbeat), (.stopped, .deadline, .stopped, .none, .never),
            (.stopped, .exited, .stopped, .none, .never), (.stopped, .restartRequested, .starting, .spawn, heartbeat),
            (.stopped, .stopRequested, .stopped, .none, .never), (.stopped, .restored, .stopped, .none, .never),
            (.finished, .heartbeat, .running, .none, heartbeat), (.finished, .deadline, .finished, .none, .never),
            (.finished, .exited, .finished, .none, .never), (.finished, .restartRequested, .starting, .spawn, heartbeat),
            (.finished, .stopRequested, .stopped, .none, .never), (.finished, .restored, .finished, .none, .never),
        ]
        #expect(rows.count == ProcessState.allCases.count * SupervisorEvent.allCases.count)
        for state in ProcessState.allCases {
            #expect(ProcessState(name: state.name) == state)
            for event in SupervisorEvent.allCases {
                let row = rows.first { $0.0 == state && $0.1 == event }
                #expect(row != nil, "no row for \(state.name) on \(event)")
                guard let row else { continue }
                let step = SupervisorTable.next(state, on: event, trusted, times())
                #expect(step == SupervisorStep(row.2, row.3, instant(row.4)), "\(state.name) on \(event)")
            }
        }
    }

    @Test func aProcessStillAliveAtTheAgentsStartIsWatchedAnewWithAFullDeadline() {
        var alive = trusted
        alive.alive = true
        for state in [ProcessState.starting, .running, .stopping, .killing, .waiting] {
            #expect(SupervisorTable.next(state, on: .restored, alive, times()) == SupervisorStep(.running, .none, t0 + .seconds(30)))
        }
        for state in [ProcessState.failed, .stopped, .finished] {
            #expect(SupervisorTable.next(state, on: .restored, alive, times()) == SupervisorStep(state, .none, nil), "at rest stays at rest")
        }
    }

    @Test func anOperatorsStopTheAgentWasCarryingOutWhenItStoppedIsFinishedAtItsStart() {
        var alive = trusted
        (alive.alive, alive.operatorStopped, alive.adopted) = (true, true, true)
        // Not its child any more: SIGTERM, then polled.
        #expect(SupervisorTable.next(.stopping, on: .restored, alive, times()) == SupervisorStep(.stopping, .terminate, t0 + .milliseconds(100)))
        var foreign = alive
        foreign.canSignal = false
        #expect(SupervisorTable.next(.running, on: .restored, foreign, times()) == SupervisorStep(.stopped, .giveUp(.cannotSignal), nil))
        var gone = alive
        gone.alive = false
        #expect(SupervisorTable.next(.stopping, on: .restored, gone, times()) == SupervisorStep(.stopped, .none, nil))
    }

    @Test func aProcessGoneSinceTheAgentsLastRunIsHandledAsIfItHadJustExited() {
        let capped = SupervisorFacts(canSignal: false, canRestart: true, restartLimitReached: true, adopted: true)
        #expect(SupervisorTable.next(.running, on: .restored, capped, times()) == SupervisorStep(.failed, .giveUp(.restartLimit), nil))
        var never = trusted
        never.restart = .never
        #expect(SupervisorTable.next(.waiting, on: .restored, never, times()) == SupervisorStep(.failed, .giveUp(.restartNever), nil))
    }

    @Test func aProcessTheAgentDidNotStartIsPolledDuringItsGraceThenKilledAndPolledAgain() {
        var adopted = trusted
        adopted.adopted = true
        #expect(SupervisorTable.next(.running, on: .deadline, adopted, times()) == SupervisorStep(.stopping, .terminate, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.stopping, on: .deadline, adopted, times(sent: .seconds(1)))
                == SupervisorStep(.stopping, .none, t0 + .milliseconds(100)), "within its grace: looked at again")
        #expect(SupervisorTable.next(.stopping, on: .deadline, adopted, times(sent: .milliseconds(4_950)))
                == SupervisorStep(.stopping, .none, t0 + .milliseconds(50)), "not past the grace's end")
        #expect(SupervisorTable.next(.stopping, on: .deadline, adopted, times(sent: .seconds(5))) == SupervisorStep(.killing, .kill, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.killing, on: .deadline, adopted, times(sent: .seconds(6))) == SupervisorStep(.killing, .kill, t0 + .milliseconds(100)))
        var tinyGrace = times()
        tinyGrace.killGrace = .milliseconds(20)
        #expect(SupervisorTable.next(.running, on: .stopRequested, adopted, tinyGrace) == SupervisorStep(.stopping, .terminate, t0 + .milliseconds(20)))
    }

    @Test func aStopWhoseShellExitedWaitsForTheGroupKillsItAfterTheGraceAndLetsItGoASecondLater() {
        var lives = trusted
        lives.groupLivesOn = true
        #expect(SupervisorTable.next(.stopping, on: .exited, lives, times()) == SupervisorStep(.stopping, .awaitGroup, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.killing, on: .exited, lives, times()) == SupervisorStep(.killing, .awaitGroup, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.running, on: .exited, lives, times()) == SupervisorStep(.waiting, .scheduleRestart, t0 + .seconds(2)),
                "outside a stop the shell's exit is the process's")
        var waiting = trusted
        waiting.leaderExited = true
        #expect(SupervisorTable.next(.stopping, on: .deadline, waiting, times(sent: .seconds(1))) == SupervisorStep(.stopping, .none, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.stopping, on: .deadline, waiting, times(sent: .milliseconds(4_950))) == SupervisorStep(.stopping, .none, t0 + .milliseconds(50)))
        #expect(SupervisorTable.next(.stopping, on: .deadline, waiting, times(sent: .seconds(5))) == SupervisorStep(.killing, .kill, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.killing, on: .deadline, waiting, times(sent: .milliseconds(5_500))) == SupervisorStep(.killing, .none, t0 + .milliseconds(100)))
        #expect(SupervisorTable.next(.killing, on: .deadline, waiting, times(sent: .seconds(6))) == SupervisorStep(.killing, .releaseGroup, earlier),
                "a second after SIGKILL the group is taken as gone")
        var empty = waiting
        empty.groupEmpty = true
        #expect(SupervisorTable.next(.stopping, on: .deadline, empty, times()) == SupervisorStep(.stopping, .releaseGroup, earlier))
    }

    @Test func aPassedDeadlineNeverLeavesTheProcessDueAgainAtOnce() {
        // Otherwise the supervisor would take the same deadline again and
        // again: every `deadline` row moves the timer past now or clears it
        // (a released group is followed by its exit, which does).
        var passed = times()
        passed.deadline = t0
        var dueAgain: [String] = []
        for state in ProcessState.allCases {
            for bits in 0..<256 {
                let on = { (bit: Int) in bits & (1 << bit) != 0 }
                let facts = SupervisorFacts(canSignal: on(0), canRestart: on(1), restartLimitReached: on(2), holding: on(3),
                                            operatorStopped: on(4), adopted: on(5), leaderExited: on(6), groupEmpty: on(7))
                let step = SupervisorTable.next(state, on: .deadline, facts, passed)
                if step.deadline.map({ $0 <= t0 }) == true && step.action != .releaseGroup { dueAgain.append("\(state.name) facts \(bits)") }
            }
        }
        #expect(dueAgain.isEmpty, "due again at once: \(dueAgain.prefix(5))")
    }

    @Test func aProcessAtRestHasNothingDue() {
        for state in ProcessState.allCases {
            for event in SupervisorEvent.allCases {
                let step = SupervisorTable.next(state, on: event, trusted, times())
                if [.failed, .stopped, .finished].contains(step.state) { #expect(step.deadline == nil, "\(state.name) on \(event)") }
            }
        }
    }

    @Test func backoffDoublesFromTheSecondRestartAndIsCapped() {
        var policy = RestartPolicy()
        policy.initialBackoff = .seconds(1)
        policy.maximumBackoff = .seconds(10)
        let delays = (0..<7).map { policy.backoff(consecutive: $0).milliseconds }
        #expect(delays == [0, 1000, 2000, 4000, 8000, 10000, 10000])
    }
}
