import Testing
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyLink

@Suite struct SupervisorTableTests {
    let trusted = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false)

    @Test func aSilentProcessIsTerminatedThenKilledThenRestarted() {
        var (state, action) = SupervisorTable.next(.running, on: .deadline, trusted)
        #expect(state == .stopping && action == .terminate)
        (state, action) = SupervisorTable.next(state, on: .deadline, trusted)
        #expect(state == .killing && action == .kill)
        (state, action) = SupervisorTable.next(state, on: .exited, trusted)
        #expect(state == .waiting && action == .scheduleRestart)
        (state, action) = SupervisorTable.next(state, on: .deadline, trusted)
        #expect(state == .starting && action == .spawn)
        (state, action) = SupervisorTable.next(state, on: .heartbeat, trusted)
        #expect(state == .running && action == .none)
    }

    @Test func anUpdateStopsProcessesAndKeepsThemStopped() {
        let holding = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, holding: true)
        var (state, action) = SupervisorTable.next(.running, on: .stopRequested, holding)
        #expect(state == .stopping && action == .terminate)
        (state, action) = SupervisorTable.next(state, on: .deadline, holding)
        #expect(state == .killing && action == .kill)
        (state, action) = SupervisorTable.next(state, on: .exited, holding)
        #expect(state == .stopped && action == .none, "not restarted while the update holds it")
        #expect(SupervisorTable.next(.stopped, on: .deadline, holding) == (.stopped, .none))
        #expect(SupervisorTable.next(.waiting, on: .stopRequested, holding) == (.stopped, .none))
        #expect(SupervisorTable.next(.failed, on: .stopRequested, holding) == (.stopped, .none))
        #expect(SupervisorTable.next(.running, on: .exited, holding) == (.stopped, .none), "a crash while held")
        // A heartbeat while held: one that was on its way when the process
        // died changes nothing; a process still alive is stopped again.
        let gone = SupervisorFacts(canSignal: false, canRestart: true, restartLimitReached: false, holding: true)
        #expect(SupervisorTable.next(.stopped, on: .heartbeat, gone) == (.stopped, .none))
        #expect(SupervisorTable.next(.stopped, on: .heartbeat, holding) == (.stopping, .terminate))
        // Started again by the update (a restart request) or seen alive once the update is over.
        #expect(SupervisorTable.next(.stopped, on: .restartRequested, trusted) == (.starting, .spawn))
        #expect(SupervisorTable.next(.stopped, on: .heartbeat, trusted) == (.running, .none))
        // One the agent may not signal is left running, and said so.
        let foreign = SupervisorFacts(canSignal: false, canRestart: false, restartLimitReached: false, holding: true)
        #expect(SupervisorTable.next(.running, on: .stopRequested, foreign) == (.stopped, .giveUp(.cannotSignal)))
    }

    @Test func anOperatorsStopKeepsTheProcessStoppedUntilItIsStarted() {
        let stopped = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, operatorStopped: true)
        var (state, action) = SupervisorTable.next(.running, on: .stopRequested, stopped)
        #expect(state == .stopping && action == .terminate)
        (state, action) = SupervisorTable.next(state, on: .exited, stopped)
        #expect(state == .stopped && action == .none, "its exit is not a crash to restart")
        #expect(SupervisorTable.next(.running, on: .exited, stopped) == (.stopped, .none))
        #expect(SupervisorTable.next(.stopped, on: .deadline, stopped) == (.stopped, .none))
        #expect(SupervisorTable.next(.stopped, on: .heartbeat, stopped) == (.stopped, .none), "a late heartbeat does not revive it")
        #expect(SupervisorTable.next(.stopped, on: .restartRequested, stopped) == (.starting, .spawn), "start and restart do")
    }

    @Test func aCrashedProcessWaitsForItsRestart() {
        #expect(SupervisorTable.next(.running, on: .exited, trusted) == (.waiting, .scheduleRestart))
        #expect(SupervisorTable.next(.starting, on: .exited, trusted) == (.waiting, .scheduleRestart))
    }

    @Test func aProcessThatNeverHeartbeatsAfterStartIsStoppedToo() {
        #expect(SupervisorTable.next(.starting, on: .deadline, trusted) == (.stopping, .terminate))
    }

    @Test func overTheRestartCapAProcessIsFailedNotRestarted() {
        let capped = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: true)
        #expect(SupervisorTable.next(.running, on: .exited, capped) == (.failed, .giveUp(.restartLimit)))
        #expect(SupervisorTable.next(.killing, on: .exited, capped) == (.failed, .giveUp(.restartLimit)))
        #expect(SupervisorTable.next(.failed, on: .deadline, capped) == (.failed, .none))
    }

    @Test func aFailedProcessComesBackOnAHeartbeatOrARestartRequest() {
        #expect(SupervisorTable.next(.failed, on: .heartbeat, trusted) == (.running, .none))
        #expect(SupervisorTable.next(.failed, on: .restartRequested, trusted) == (.starting, .spawn))
    }

    @Test func withoutATrustedCommandNothingIsRun() {
        let untrusted = SupervisorFacts(canSignal: false, canRestart: false, restartLimitReached: false)
        #expect(SupervisorTable.next(.running, on: .deadline, untrusted) == (.failed, .giveUp(.cannotSignal)))
        #expect(SupervisorTable.next(.running, on: .exited, untrusted) == (.failed, .giveUp(.noTrustedCommand)))
        #expect(SupervisorTable.next(.failed, on: .restartRequested, untrusted) == (.failed, .giveUp(.noTrustedCommand)))
    }

    @Test func aPidTheAgentMayNotSignalIsNeverSignalled() {
        let allowlisted = SupervisorFacts(canSignal: false, canRestart: true, restartLimitReached: false)
        #expect(SupervisorTable.next(.running, on: .deadline, allowlisted) == (.waiting, .scheduleRestart))
        #expect(SupervisorTable.next(.running, on: .restartRequested, allowlisted) == (.starting, .spawn))
    }

    @Test func heartbeatsFromAProcessBeingStoppedChangeNothing() {
        #expect(SupervisorTable.next(.stopping, on: .heartbeat, trusted) == (.stopping, .none))
        #expect(SupervisorTable.next(.killing, on: .heartbeat, trusted) == (.killing, .none))
    }

    @Test func underOnFailureAnExitWithStatusZeroIsAFinishedJobAndAnyOtherEndIsRestarted() {
        let onFailure = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, restart: .onFailure)
        var clean = onFailure
        clean.exitedCleanly = true
        #expect(SupervisorTable.next(.running, on: .exited, clean) == (.finished, .none))
        #expect(SupervisorTable.next(.starting, on: .exited, clean) == (.finished, .none))
        #expect(SupervisorTable.next(.running, on: .exited, onFailure) == (.waiting, .scheduleRestart), "a crash")
        #expect(SupervisorTable.next(.killing, on: .exited, onFailure) == (.waiting, .scheduleRestart), "stopped for silence")
        #expect(SupervisorTable.next(.running, on: .deadline, onFailure) == (.stopping, .terminate), "silence is a failure")
        var always = clean
        always.restart = .always
        #expect(SupervisorTable.next(.running, on: .exited, always) == (.waiting, .scheduleRestart), "always: even exit 0")
    }

    @Test func underNeverNoEndIsRestartedButARestartRequestStartsItAgain() {
        let never = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, restart: .never)
        var clean = never
        clean.exitedCleanly = true
        #expect(SupervisorTable.next(.running, on: .exited, clean) == (.finished, .none))
        #expect(SupervisorTable.next(.running, on: .exited, never) == (.failed, .giveUp(.restartNever)))
        #expect(SupervisorTable.next(.killing, on: .exited, never) == (.failed, .giveUp(.restartNever)), "a hang is still stopped")
        #expect(SupervisorTable.next(.finished, on: .restartRequested, never) == (.starting, .spawn))
        #expect(SupervisorTable.next(.failed, on: .restartRequested, never) == (.starting, .spawn))
        var held = never
        held.holding = true
        #expect(SupervisorTable.next(.running, on: .exited, held) == (.stopped, .none), "an update's stop is not an end")
    }

    @Test func everyStateHandlesEveryEventAsTheTableSays() {
        // The whole table for a trusted process outside an update, row by
        // row; a state or event added later has no row here and fails.
        let rows: [(ProcessState, SupervisorEvent, ProcessState, SupervisorAction)] = [
            (.starting, .heartbeat, .running, .none), (.starting, .deadline, .stopping, .terminate),
            (.starting, .exited, .waiting, .scheduleRestart), (.starting, .restartRequested, .stopping, .terminate),
            (.starting, .stopRequested, .stopping, .terminate),
            (.running, .heartbeat, .running, .none), (.running, .deadline, .stopping, .terminate),
            (.running, .exited, .waiting, .scheduleRestart), (.running, .restartRequested, .stopping, .terminate),
            (.running, .stopRequested, .stopping, .terminate),
            (.stopping, .heartbeat, .stopping, .none), (.stopping, .deadline, .killing, .kill),
            (.stopping, .exited, .waiting, .scheduleRestart), (.stopping, .restartRequested, .stopping, .none),
            (.stopping, .stopRequested, .stopping, .none),
            (.killing, .heartbeat, .killing, .none), (.killing, .deadline, .killing, .kill),
            (.killing, .exited, .waiting, .scheduleRestart), (.killing, .restartRequested, .killing, .none),
            (.killing, .stopRequested, .killing, .none),
            (.waiting, .heartbeat, .running, .none), (.waiting, .deadline, .starting, .spawn),
            (.waiting, .exited, .waiting, .none), (.waiting, .restartRequested, .starting, .spawn),
            (.waiting, .stopRequested, .stopped, .none),
            (.failed, .heartbeat, .running, .none), (.failed, .deadline, .failed, .none),
            (.failed, .exited, .failed, .none), (.failed, .restartRequested, .starting, .spawn),
            (.failed, .stopRequested, .stopped, .none),
            (.stopped, .heartbeat, .running, .none), (.stopped, .deadline, .stopped, .none),
            (.stopped, .exited, .stopped, .none), (.stopped, .restartRequested, .starting, .spawn),
            (.stopped, .stopRequested, .stopped, .none),
            (.finished, .heartbeat, .running, .none), (.finished, .deadline, .finished, .none),
            (.finished, .exited, .finished, .none), (.finished, .restartRequested, .starting, .spawn),
            (.finished, .stopRequested, .stopped, .none),
        ]
        #expect(rows.count == ProcessState.allCases.count * SupervisorEvent.allCases.count)
        for state in ProcessState.allCases {
            #expect(ProcessState(name: state.name) == state)
            for event in SupervisorEvent.allCases {
                let row = rows.first { $0.0 == state && $0.1 == event }
                #expect(row != nil, "no row for \(state.name) on \(event)")
                guard let row else { continue }
                #expect(SupervisorTable.next(state, on: event, trusted) == (row.2, row.3), "\(state.name) on \(event)")
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
