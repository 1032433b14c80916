import Foundation
import Testing
@testable import TinyBase

/// The event loop with real pipes and real children: which participant it
/// wakes for, hands input to, and gives a child's exit. The clock is the
/// real one; the waits are tens of milliseconds.
@Suite final class EventLoopTests {
    let folder: String
    let loop: EventLoop
    var descriptors: [FileDescriptor] = []

    init() throws {
        folder = NSTemporaryDirectory() + "tinyagent-eventloop-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        loop = try EventLoop(logger: Logger(file: RotatingLog(folder: try Folder.open(folder), name: "agent.log", maximumBytes: 1 << 20,
                                                               keep: 1, group: 0), journal: false))
    }

    deinit {
        loop.unregisterAll()
        for fd in descriptors { fd.close() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A pipe whose ends are closed with the test: (read, write).
    func pipe() -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [0, 0]
        #expect(Foundation.pipe(&fds) == 0)
        descriptors += [FileDescriptor(fds[0]), FileDescriptor(fds[1])]
        return (FileDescriptor(fds[0]), FileDescriptor(fds[1]))
    }

    /// Runs `/bin/sh -c command` through the agent's spawn and waits for
    /// that one child (not any: other suites have children too).
    func exitOf(_ command: String) throws -> ChildExit {
        let pid = try Processes.spawn(command: command, in: try Folder.open(folder), output: FileDescriptor(2), as: nil)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid, "the child was reaped by someone else")
        let signal = status & 0x7f
        return ChildExit(pid: pid, exitCode: signal == 0 ? (status >> 8) & 0xff : 0, signal: signal)
    }

    var logText: String { (try? String(contentsOfFile: folder + "/agent.log", encoding: .utf8)) ?? "" }

    @Test func theLoopWakesAtTheEarliestDeadlineOfAnyParticipant() {
        let start = Clock.now()
        let late = Recorder(deadline: start + .seconds(2)), early = Recorder(deadline: start + .milliseconds(50))
        let idle = Recorder(deadline: nil), latest = Recorder(deadline: start + .seconds(3))
        for p in [late, early, idle, latest] { loop.register(p) }
        loop.runOnce()
        let woke = Clock.now()
        #expect(woke - start >= .milliseconds(50))
        #expect(woke - start < .seconds(1), "woke for a later deadline, not the earliest")
        for p in [late, early, idle, latest] { #expect(p.ticks.count == 1, "each participant is ticked once a turn") }
        #expect(early.ticks.allSatisfy { $0 >= start + .milliseconds(50) })
    }

    @Test func aParticipantWithoutADeadlineNeitherWakesNorHoldsTheLoop() {
        let start = Clock.now()
        let idle = Recorder(deadline: nil), timed = Recorder(deadline: start + .milliseconds(150))
        loop.register(idle)
        loop.register(timed)
        var turns = 0
        while Clock.now() < start + .milliseconds(150) && turns < 1000 {
            loop.runOnce()
            turns += 1
        }
        #expect(turns <= 2, "\(turns) turns in 150 ms: the loop spins")
        #expect(Clock.now() - start < .seconds(1))
    }

    @Test func inputOnAPipeGoesOnlyToTheParticipantWatchingIt() throws {
        let (firstRead, _) = pipe(), (secondRead, secondWrite) = pipe()
        let first = Recorder(deadline: nil), second = Recorder(deadline: nil)
        let guardDeadline = Recorder(deadline: Clock.now() + .seconds(2))
        let firstToken = try loop.register(first, watching: firstRead)
        let secondToken = try loop.register(second, watching: secondRead)
        loop.register(guardDeadline)
        try secondWrite.writeAll("x")
        loop.runOnce()
        #expect(second.tokens == [secondToken])
        #expect(first.tokens.isEmpty)
        #expect(firstToken != secondToken)
        #expect(guardDeadline.tokens.isEmpty)
    }

    @Test func aChildsExitGoesToTheFirstParticipantThatClaimsIt() throws {
        let exit = try exitOf("exit 3")
        let bystander = Recorder(deadline: nil), owner = Recorder(deadline: nil, claims: [exit.pid])
        let after = Recorder(deadline: nil, claims: [exit.pid])
        for p in [bystander, owner, after] { loop.register(p) }
        loop.route(exit, now: Clock.now())
        #expect(owner.children == [ChildExit(pid: exit.pid, exitCode: 3, signal: 0)])
        #expect(bystander.children.isEmpty && after.children.isEmpty)
        #expect(!logText.contains("reaped child \(exit.pid)"), "a claimed child is not reported as a stray")
    }

    @Test func aChildNobodyClaimsIsLogged() throws {
        let exit = try exitOf("exec /bin/true")
        let bystander = Recorder(deadline: nil)
        loop.register(bystander)
        loop.route(exit, now: Clock.now())
        #expect(bystander.children.isEmpty)
        #expect(logText.contains("reaped child \(exit.pid), which exited with status 0"))
    }

    @Test func anUnregisteredParticipantGetsNoInputTicksOrChildren() throws {
        let (read, write) = pipe()
        let exit = try exitOf("exit 3")
        let start = Clock.now()
        let gone = Recorder(deadline: start + .milliseconds(20), claims: [exit.pid])
        let staying = Recorder(deadline: start + .milliseconds(200))
        try loop.register(gone, watching: read)
        loop.register(staying)
        loop.unregister(gone)
        try write.writeAll("x")
        loop.runOnce()
        loop.route(exit, now: Clock.now())
        #expect(gone.tokens.isEmpty && gone.ticks.isEmpty && gone.children.isEmpty)
        #expect(Clock.now() - start >= .milliseconds(200), "woke for the unregistered participant's deadline")
        #expect(staying.ticks.count == 1)
        #expect(logText.contains("reaped child \(exit.pid)"))
    }
}

/// A participant that records what the loop gave it.
final class Recorder: EventParticipant {
    let nextDeadline: Instant?
    let claims: Set<Int32>
    private(set) var ticks: [Instant] = []
    private(set) var tokens: [EventLoop.Token] = []
    private(set) var children: [ChildExit] = []

    init(deadline: Instant?, claims: Set<Int32> = []) {
        nextDeadline = deadline
        self.claims = claims
    }

    func tick(now: Instant) { ticks.append(now) }
    func readable(_ token: EventLoop.Token, now: Instant) { tokens.append(token) }

    func childExited(_ child: ChildExit, now: Instant) -> Bool {
        guard claims.contains(child.pid) else { return false }
        children.append(child)
        return true
    }
}
