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
