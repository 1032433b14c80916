import Foundation
import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// The supervisor driven with a fake clock: instants are made up, the
/// processes and signals are real. Serialized: it reaps children.
@Suite(.serialized) final class SupervisorTests {
    let folder: String
    let logger = Logger(file: nil, journal: false)
    let t0 = Instant(nanoseconds: 1_000_000_000_000)

    init() throws {
        folder = NSTemporaryDirectory() + "tinyagent-supervisor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        logger.minimumLevel = .error
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func supervisor(_ configure: (inout AgentSettings) -> Void = { _ in }) -> Supervisor {
        var settings = AgentSettings()
        // The tests run as root and heartbeat as root: their names are
        // root processes, so restarts run as root as the tests expect.
        settings.rootProcesses = ["hung", "crasher", "p", "live"]
        configure(&settings)
        return Supervisor(settings: settings, logger: logger, workingFolder: folder, logs: ProcessLogs(folder: try! Folder.open(folder), group: 0))
    }

    /// Feeds a heartbeat as the receiver would, with a given verdict.
    func beat(_ s: Supervisor, name: String, pid: Int32, command: String, verified: Bool = true, uid: UInt32 = Processes.effectiveUID,
              version: Version = Version(major: 1, minor: 0, patch: 0), at now: Instant, wallClock: Int64 = 0) {
        let text = HeartbeatDatagram.text(name: name, pid: pid, runCommand: command, version: version)
        Array(text.utf8).withUnsafeBytes { raw in
            let parsed = try! HeartbeatParser.parse(raw)
            s.heartbeat(parsed, in: raw, verdict: SenderVerdict(verified: verified, uid: uid), now: now, wallClock: wallClock)
        }
    }

    /// Polls `condition` every 10 ms, for up to 5 s of real time.
    func waitUntil(_ what: String, _ condition: () -> Bool) {
        for _ in 0..<500 {
            if condition() { return }
            usleep(10_000)
        }
        Issue.record("timed out waiting until \(what)")
    }

    /// The command line of `pid`, its arguments joined by spaces ("" when gone).
    func commandLine(_ pid: Int32) -> String {
        let raw = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return raw.split(separator: "\0").joined(separator: " ")
    }

    /// Whether a member of process group `group` runs `command`.
    func group(_ group: Int32, runs command: String) -> Bool {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        return pids.contains { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[2]) == group && commandLine(pid) == command
        }
    }

    /// Waits (really) for the child `pid` to exit and reports it at `now`.
    func reapExit(of pid: Int32, _ s: Supervisor, at now: Instant) throws {
        for _ in 0..<500 {
            if let exit = Processes.reap() {
                if exit.pid == pid {
                    s.childExited(pid: exit.pid, exitCode: exit.exitCode, signal: exit.signal, now: now)
                    return
                }
            } else {
                usleep(10_000)
            }
        }
        Issue.record("pid \(pid) did not exit")
    }

    @Test func aSilentProcessIsTerminatedAndRestartedWithItsCommand() throws {
        let s = supervisor { $0.policy.heartbeatTimeout = .seconds(30) }
        let hung = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        beat(s, name: "hung", pid: hung, command: "exec sleep 61", at: t0)
        #expect(s.processes[0].state == .running)
        #expect(s.nextDeadline == t0 + .seconds(30))

        s.handleDeadlines(now: t0 + .seconds(29))
        #expect(s.processes[0].state == .running)
        // Adopted (not spawned through the supervisor): no SIGCHLD reaches
        // it, so the supervisor polls; reap the test's child for it.
        s.handleDeadlines(now: t0 + .seconds(30))
        #expect(s.processes[0].state == .stopping)
        _ = waitpid(hung, nil, 0)
        s.handleDeadlines(now: t0 + .seconds(30) + .milliseconds(100))
        #expect(s.processes[0].state == .starting)
        let restarted = s.processes[0].pid
        #expect(restarted != hung && s.processes[0].group == restarted)
        // Just forked, the child may not have exec'd yet: its cmdline is still ours for a moment.
        waitUntil("the restarted child runs its command") { commandLine(restarted) == "sleep 61" }

        // Its first heartbeat is due within one deadline of its start.
        s.handleDeadlines(now: t0 + .seconds(61))
        #expect(s.processes[0].state == .stopping)
        try reapExit(of: restarted, s, at: t0 + .seconds(61) + .milliseconds(5))
        #expect(s.processes[0].state == .waiting)
    }

    @Test func aSecondInstanceOfANameIsIgnoredAndCannotHideTheTrackedOnesSilence() throws {
        let s = supervisor { $0.policy.heartbeatTimeout = .seconds(30) }
        let tracked = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        let other = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer {
            for pid in [tracked, other] { kill(pid, SIGKILL); _ = waitpid(pid, nil, 0) }
        }
        beat(s, name: "hung", pid: tracked, command: "exec sleep 61", at: t0)
        for second in 1...29 { beat(s, name: "hung", pid: other, command: "exec sleep 61", at: t0 + .seconds(Int64(second))) }
        #expect(s.processes[0].pid == tracked, "the tracked instance is kept")
        #expect(s.processes[0].duplicatePid == other)
        s.handleDeadlines(now: t0 + .seconds(30))
        #expect(s.processes[0].state == .stopping, "the tracked one's silence counts: it is stopped")
    }

    @Test func aNewPidAfterTheTrackedOneIsGoneIsTheProcessNotADuplicate() throws {
        let s = supervisor()
        let first = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        let second = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(second, SIGKILL); _ = waitpid(second, nil, 0) }
        beat(s, name: "live", pid: first, command: "exec sleep 61", at: t0)
        kill(first, SIGKILL)
        _ = waitpid(first, nil, 0)
        beat(s, name: "live", pid: second, command: "exec sleep 61", at: t0 + .seconds(1))
        #expect(s.processes[0].pid == second && s.processes[0].duplicatePid == nil)
    }

    @Test func aListedProcessKeepsTheManifestsCommandWhateverItsHeartbeatsReportButOnlyForTheUidTheManifestRunsItAs() {
        let s = supervisor()
        let me = Processes.ownIdentity
        var spec = ProcessSpec(name: "p", runCommand: "echo listed", uid: 0, gid: 0, verified: false)
        spec.launch.user = me
        var other = ProcessSpec(name: "q", runCommand: "echo chosen by the app user", uid: 0, gid: 0, verified: false)
        other.launch.user = Identity(uid: 4242, gid: 4242)
        s.list([spec, other])
        beat(s, name: "p", pid: 2_000_001, command: "python3 p.py", at: t0)
        beat(s, name: "q", pid: 2_000_002, command: "python3 q.py", at: t0)
        #expect(s.processes[0].runCommand == "echo listed")
        #expect(s.processes[1].runCommand == "python3 q.py", "another uid's sender: its own command, not the manifest's")
        beat(s, name: "p", pid: 2_000_001, command: "python3 p.py --changed", at: t0 + .seconds(1))
        #expect(s.processes[0].runCommand == "echo listed")
        spec.runCommand = "echo reloaded"
        s.list([spec, other])
        #expect(s.processes[0].runCommand == "echo reloaded", "a reload gives the new command")
    }

    @Test func crashesAreRestartedWithBackoffUntilTheCapThenFailed() throws {
        let s = supervisor {
            $0.policy.restartLimit = 3
            $0.policy.initialBackoff = .seconds(1)
        }
        let first = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        beat(s, name: "crasher", pid: first, command: "exit 3", at: t0)
        kill(first, SIGKILL)
        _ = waitpid(first, nil, 0)
        s.handleDeadlines(now: t0 + .seconds(30))  // missed; found dead while stopping
        s.handleDeadlines(now: t0 + .seconds(30) + .milliseconds(100))
        #expect(s.processes[0].state == .starting, "first restart is immediate")
        #expect(s.processes[0].restarts == 1)

        var now = t0 + .seconds(31)
        var delays: [Int64] = []
        while s.processes[0].state == .starting {
            try reapExit(of: s.processes[0].pid, s, at: now)
            guard s.processes[0].state == .waiting, let due = s.processes[0].deadline else { break }
            delays.append((due - now).milliseconds)
            s.handleDeadlines(now: due - .milliseconds(1))
            #expect(s.processes[0].state == .waiting, "not restarted before its back-off")
            now = due
            s.handleDeadlines(now: now)
        }
        #expect(delays == [1000, 2000])
        #expect(s.processes[0].state == .failed)
        #expect(s.processes[0].restarts == 3)
        #expect(s.processes[0].failure == "restarted 3 times within 300 s")
        #expect(s.nextDeadline == nil)

        // A heartbeat, or a restart request, brings it back.
        #expect(s.restart(name: "crasher", now: now + .seconds(1)))
        #expect(s.processes[0].state == .starting)
        try reapExit(of: s.processes[0].pid, s, at: now + .seconds(2))
        #expect(!s.restart(name: "nobody", now: now))
    }

    @Test func anUnverifiedHeartbeatForAnUnknownProcessIsIgnoredUnlessAllowlisted() {
        let s = supervisor {
            $0.allowlist = ["exec sleep 1"]
            $0.runAs = "nobody"
        }
        beat(s, name: "spoof", pid: 4242, command: "touch /tmp/never", verified: false, at: t0)
        #expect(s.processes.isEmpty)
        beat(s, name: "allowed", pid: 4243, command: "exec sleep 1", verified: false, at: t0)
        #expect(s.processes.count == 1 && s.processes[0].verified == false)
    }

    @Test func anUnverifiedHeartbeatCannotMoveAKnownProcessToAnotherPid() throws {
        let s = supervisor()
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0)
        beat(s, name: "p", pid: 77777, command: "touch /tmp/never", verified: false, at: t0 + .seconds(1))
        #expect(s.processes[0].pid == real)
        #expect(s.processes[0].runCommand == "exec sleep 60")
        #expect(s.processes[0].lastHeartbeat == t0)
    }

    @Test func anUnverifiedHeartbeatCannotChangeTheVersionAVerifiedSenderReported() throws {
        let s = supervisor()
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0)
        // Same pid, so it may refresh; but an update is verified against the version.
        beat(s, name: "p", pid: real, command: "exec sleep 60", verified: false, version: Version(major: 9, minor: 9, patch: 9),
             at: t0 + .seconds(1))
        #expect(s.processes[0].version == Version(major: 1, minor: 0, patch: 0))
        #expect(s.processes[0].lastHeartbeat == t0)
        beat(s, name: "p", pid: real, command: "exec sleep 60", verified: false, at: t0 + .seconds(2))
        #expect(s.processes[0].lastHeartbeat == t0 + .seconds(2), "the same version refreshes it")
        beat(s, name: "p", pid: real, command: "exec sleep 60", version: Version(major: 1, minor: 0, patch: 1), at: t0 + .seconds(3))
        #expect(s.processes[0].version == Version(major: 1, minor: 0, patch: 1), "the verified sender itself may")
    }

    @Test func aLateHeartbeatFromAProcessStoppedForAnUpdateDoesNotBringItBack() throws {
        let s = supervisor()
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0)
        s.stopAll(now: t0 + .seconds(1))
        #expect(s.processes[0].state == .stopping)
        _ = waitpid(real, nil, 0)  // SIGTERM: gone (it is not the supervisor's child: polled)
        s.handleDeadlines(now: t0 + .seconds(2))
        #expect(s.processes[0].state == .stopped && s.allStopped)
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0 + .seconds(2))
        #expect(s.processes[0].state == .stopped && s.allStopped, "the swap goes on")
    }

    @Test func aProcessAnOperatorStoppedStaysStoppedThroughHeartbeatsTheManifestAndAnAgentRestart() throws {
        let s = supervisor()
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0)
        #expect(s.stop(name: "p", now: t0 + .seconds(1)) && s.processes[0].state == .stopping)
        _ = waitpid(real, nil, 0)
        s.handleDeadlines(now: t0 + .seconds(2))
        #expect(s.processes[0].state == .stopped && s.processes[0].operatorStopped)
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0 + .seconds(2))
        s.handleDeadlines(now: t0 + .seconds(60))
        #expect(s.processes[0].state == .stopped, "neither a late heartbeat nor time brings it back")
        #expect(s.startMissing([ProcessSpec(name: "p", runCommand: "exec sleep 60", uid: 0, gid: 0, verified: false)], now: t0 + .seconds(61)).isEmpty)

        let saved = try Registry.format.decode(Array(Registry.encode(s.processes, bootID: "b").utf8), Registry.decode)
        #expect(saved.processes[0].operatorStopped, "kept in the registry")
        let next = supervisor()
        next.restore(saved.processes, sameBoot: true, now: t0)
        #expect(next.processes[0].state == .stopped && next.processes[0].operatorStopped)
        #expect(next.start(name: "p", now: t0 + .seconds(1)) == .started)
        #expect(next.processes[0].state == .starting && !next.processes[0].operatorStopped)
        let started = next.processes[0].pid
        defer { kill(-started, SIGKILL); _ = waitpid(started, nil, 0) }
        #expect(next.start(name: "p", now: t0 + .seconds(2)) == .alreadyUp(.starting))
    }

    @Test func anUpdateKeepsAnOperatorStoppedProcessStoppedWithTheNewVersionsCommand() throws {
        let s = supervisor()
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "p", pid: real, command: "exec sleep 60", at: t0)
        s.stop(name: "p", now: t0)
        _ = waitpid(real, nil, 0)
        s.handleDeadlines(now: t0 + .seconds(1))
        #expect(s.processes[0].state == .stopped)
        s.stopAll(now: t0 + .seconds(1))
        s.start([ProcessSpec(name: "p", runCommand: "exec sleep 61", uid: 0, gid: 0, verified: false)], now: t0 + .seconds(2))
        #expect(s.processes.count == 1 && s.processes[0].state == .stopped && s.processes[0].operatorStopped, "not started by the update")
        #expect(s.processes[0].runCommand == "exec sleep 61" && !s.processes[0].verified)
    }

    @Test func aForgottenProcessLeavesTheTable() {
        let s = supervisor()
        beat(s, name: "p", pid: Processes.currentPID, command: "exec sleep 60", at: t0)
        #expect(s.forget(name: "p") && s.processes.isEmpty && s.registryChanged)
        #expect(!s.forget(name: "p"))
    }

    @Test func aHeartbeatAfterStableAfterResetsTheBackOff() throws {
        let s = supervisor {
            $0.policy.initialBackoff = .seconds(1)
            $0.policy.stableAfter = .seconds(10)
            $0.policy.restartLimit = 10
        }
        let me = Processes.ownIdentity
        s.start([ProcessSpec(name: "p", runCommand: "exec sleep 60", uid: me.uid, gid: me.gid, verified: true)], now: t0)
        /// Kills the running instance at `time`; restarts it when due and
        /// returns the back-off it waited.
        func crash(at time: Instant) throws -> Int64 {
            let pid = s.processes[0].pid
            kill(pid, SIGKILL)
            try reapExit(of: pid, s, at: time)
            let due = try #require(s.processes[0].deadline)
            s.handleDeadlines(now: due)
            #expect(s.processes[0].state == .starting && s.processes[0].pid != pid)
            return (due - time).milliseconds
        }
        func beat(at time: Instant) {
            self.beat(s, name: "p", pid: s.processes[0].pid, command: "exec sleep 60", at: time)
        }
        var delays = [try crash(at: t0 + .seconds(1))]  // restarted at 2 s
        delays.append(try crash(at: t0 + .seconds(3)))  // restarted at 5 s
        beat(at: t0 + .seconds(14))  // up 9 s: not yet stable
        delays.append(try crash(at: t0 + .seconds(15)))  // restarted at 19 s
        beat(at: t0 + .seconds(30))  // up 11 s: stable, the failures are forgotten
        delays.append(try crash(at: t0 + .seconds(31)))
        #expect(delays == [1000, 2000, 4000, 0])
        kill(s.processes[0].pid, SIGKILL)
        try reapExit(of: s.processes[0].pid, s, at: t0 + .seconds(32))
    }

    @Test func aStopWaitsUntilWhatTheShellRanIsGoneNotJustTheShell() throws {
        let s = supervisor()  // kill grace 5 s
        let me = Processes.ownIdentity
        // The shell execs the first sleep (it dies of SIGTERM); the second ignores SIGTERM.
        s.start([ProcessSpec(name: "p", runCommand: "(trap '' TERM; exec sleep 62) & exec sleep 61", uid: me.uid, gid: me.gid, verified: true)],
                now: t0)
        let group = try #require(s.processes[0].group)
        // The subshell has set its trap once it has exec'd the sleep after it.
        waitUntil("the subshell ignores SIGTERM") { self.group(group, runs: "sleep 62") }
        s.stopAll(now: t0 + .seconds(1))
        try reapExit(of: group, s, at: t0 + .seconds(1) + .milliseconds(10))
        #expect(Processes.groupExists(group))
        #expect(s.processes[0].state == .stopping && !s.allStopped, "the group still has a member")
        s.handleDeadlines(now: t0 + .seconds(3))
        #expect(s.processes[0].state == .stopping)
        s.handleDeadlines(now: t0 + .seconds(6))  // the grace is over: SIGKILL to the group
        #expect(s.processes[0].state == .killing)
        for step in 1...40 where !s.allStopped {
            usleep(50_000)
            s.handleDeadlines(now: t0 + .seconds(6) + .milliseconds(Int64(step) * 10))
        }
        #expect(s.allStopped && !Processes.groupExists(group))
    }

    @Test func theRegistryOfAnEarlierRunIsReadopted() throws {
        let alive = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(alive, SIGKILL); _ = waitpid(alive, nil, 0) }
        var live = SupervisedProcess(name: "live", pid: alive, uid: Processes.effectiveUID, gid: 0, runCommand: "exec sleep 60",
                                     verified: true, version: Version(major: 1, minor: 0, patch: 0), state: .running)
        live.startTime = Processes.startTime(of: alive)
        var reused = live
        reused.name = "reused"
        reused.startTime = (live.startTime ?? 0) + 1  // same pid, another process
        reused.runCommand = nil
        let s = supervisor()
        s.restore([live, reused], sameBoot: true, now: t0)
        #expect(s.processes[0].state == .running && s.processes[0].deadline == t0 + .seconds(30))
        #expect(s.processes[1].state == .failed, "a pid now naming another process is not adopted, nor signalled")
        #expect(Processes.isAlive(alive))
    }

    // MARK: Identity rules (DESIGN.md §3)

    func uidOf(_ pid: Int32) -> UInt32? {
        for _ in 0..<100 {
            // Just forked, the child may not have set its ids yet.
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
               let uid = UInt32(line.split(separator: "\t")[1]), uid != 0 { return uid }
            usleep(10_000)
        }
        return 0
    }

    @Test func aVerifiedRootProcessNotInRootProcessesIsRestartedAsTheAppUser() throws {
        let s = supervisor {
            $0.rootProcesses = []
            $0.runAs = "nobody"
        }
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "rooted", pid: real, command: "exec sleep 63", uid: 0, at: t0)
        #expect(s.processes[0].uid == 0 && s.processes[0].verified)
        #expect(s.restart(name: "rooted", now: t0 + .seconds(1)))
        _ = waitpid(real, nil, 0)
        s.handleDeadlines(now: t0 + .seconds(1) + .milliseconds(100))
        let restarted = try #require(s.processes[0].group)
        #expect(uidOf(restarted) == 65534)
        #expect(s.processes[0].uid == 65534, "its heartbeats now come from the app user")
        kill(restarted, SIGKILL)
        try reapExit(of: restarted, s, at: t0 + .seconds(2))
    }

    @Test func withNoAppUserARootSendersCommandIsRefusedNotRunAsRoot() throws {
        let s = supervisor { $0.rootProcesses = [] }  // the folder is root's: no app user
        let real = try Processes.spawn(command: "exec sleep 60", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        defer { kill(real, SIGKILL); _ = waitpid(real, nil, 0) }
        beat(s, name: "rooted", pid: real, command: "exec sleep 63", uid: 0, at: t0)
        #expect(s.restart(name: "rooted", now: t0 + .seconds(1)))
        _ = waitpid(real, nil, 0)
        s.handleDeadlines(now: t0 + .seconds(1) + .milliseconds(100))
        #expect(s.processes[0].state == .failed && s.processes[0].group == nil)
        #expect(s.processes[0].failure?.contains("never run as root") == true)
    }

    @Test func anAllowlistedEntryTakenOverByAVerifiedSenderRunsAsThatSenderNotTheAppUser() {
        let s = supervisor {
            $0.allowlist = ["exec sleep 1"]
            $0.runAs = "nobody"
        }
        beat(s, name: "allowed", pid: 4243, command: "exec sleep 1", verified: false, at: t0)
        #expect(s.processes[0].uid == 65534 && !s.processes[0].verified)
        beat(s, name: "allowed", pid: 4244, command: "touch /tmp/mine", uid: 4321, at: t0 + .seconds(1))
        #expect(s.processes[0].verified && s.processes[0].uid == 4321 && s.processes[0].runCommand == "touch /tmp/mine")
    }

    @Test func oneUidHoldsAtMostMaxNamesPerUidNames() {
        let s = supervisor { $0.maximumNamesPerUID = 2 }
        for name in ["a", "b", "c"] { beat(s, name: name, pid: 5000, command: "", uid: 4321, at: t0) }
        #expect(s.processes.map(\.name) == ["a", "b"])
        beat(s, name: "c", pid: 5001, command: "", uid: 4322, at: t0)
        #expect(s.processes.map(\.name) == ["a", "b", "c"], "another uid still may")
    }

    @Test func aFailedNameNotHeardFromForTheExpiryIsForgottenAndFreed() throws {
        let s = supervisor { $0.nameExpiry = .seconds(86_400) }
        let day: Int64 = 86_400, start: Int64 = 1_790_000_000
        // Pids of processes already gone: nothing real is signalled.
        let gone = try Processes.spawn(command: "exit 0", in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        _ = waitpid(gone, nil, 0)
        beat(s, name: "squat", pid: gone, command: "", uid: 4321, at: t0, wallClock: start)
        beat(s, name: "alive", pid: gone, command: "", uid: 4321, at: t0, wallClock: start)
        s.handleDeadlines(now: t0 + .seconds(31))  // gone, and no command → failed
        #expect(s.processes.allSatisfy { $0.state == .failed })
        beat(s, name: "alive", pid: gone, command: "", uid: 4321, at: t0 + .seconds(40), wallClock: start + day)
        s.expireSilentNames(wallClock: start + day)
        #expect(s.processes.count == 2, "not a day yet")
        s.expireSilentNames(wallClock: start + day + 1)
        #expect(s.processes.map(\.name) == ["alive"])
        beat(s, name: "squat", pid: gone, command: "", uid: 4322, at: t0 + .seconds(50))
        #expect(s.processes.map(\.uid) == [4321, 4322], "the name is free for another uid")
    }
}
