import Testing
@testable import TinyAgent

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
        // Started again by the update (a restart request) or seen alive.
        #expect(SupervisorTable.next(.stopped, on: .restartRequested, trusted) == (.starting, .spawn))
        #expect(SupervisorTable.next(.stopped, on: .heartbeat, trusted) == (.running, .none))
        // While held, a late heartbeat (queued before it died) does not bring it back.
        #expect(SupervisorTable.next(.stopped, on: .heartbeat, holding) == (.stopped, .none))
        // One the agent may not signal is left running, and said so.
        let foreign = SupervisorFacts(canSignal: false, canRestart: false, restartLimitReached: false, holding: true)
        #expect(SupervisorTable.next(.running, on: .stopRequested, foreign) == (.stopped, .giveUp(.cannotSignal)))
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

    @Test func everyStateHandlesEveryEvent() {
        // The table is total: no (state, event) pair traps or is left out.
        let states: [ProcessState] = [.starting, .running, .stopping, .killing, .waiting, .failed]
        let events: [SupervisorEvent] = [.heartbeat, .deadline, .exited, .restartRequested]
        for state in states {
            #expect(ProcessState(name: state.name) == state)
            for event in events { _ = SupervisorTable.next(state, on: event, trusted) }
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
