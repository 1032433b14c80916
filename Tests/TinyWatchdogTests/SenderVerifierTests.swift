import Foundation
import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// Who a heartbeat speaks for: the /proc tables read as text, then real
/// sockets, processes and users (the tests run as root).
@Suite(.serialized) final class SenderVerifierTests {
    let folder: String
    let t0 = Instant(nanoseconds: 1_000_000_000_000)
    let localhost = UInt32(0x7F00_0001)
    let localhost2 = UInt32(0x7F00_0002)

    init() throws {
        folder = NSTemporaryDirectory() + "tinyagent-verifier-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    static let table = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
         1234: 0100007F:1357 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 55123 2 0000000000000000 0
         1235: 0200007F:1357 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 66001 2 0000000000000000 0
         1236: 00000000:E2A4 00000000:0000 07 00000000:00000000 00:00000000 00000000  1001        0 66002 2 0000000000000000 0
         garbage line
        """
    static let table6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
          1: 0000000000000000FFFF00000100007F:ABCD 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1002        0 77001 2 0000000000000000 0
          2: 00000000000000000000000000000000:ABCD 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1003        0 77002 2 0000000000000000 0
          3: 00000000000000000000000001000000:ABCD 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1004        0 77003 2 0000000000000000 0
        """

    func candidates(_ address: UInt32, _ port: UInt16, in table: String) -> [UDPSocketEntry] {
        var found: [UDPSocketEntry] = []
        ProcNetUDP.candidates(for: UDPSource(address: address, port: port), in: Array(table.utf8), into: &found)
        return found
    }

    @Test func aDatagramMatchesTheSocketOfItsSourceAddressAndPortNotEveryOneOnThatPort() {
        #expect(candidates(localhost2, 0x1357, in: Self.table) == [UDPSocketEntry(inode: 66001, uid: 1000)])
        #expect(candidates(localhost, 0x1357, in: Self.table) == [UDPSocketEntry(inode: 55123, uid: 0)])
        #expect(candidates(localhost, 0xE2A4, in: Self.table) == [UDPSocketEntry(inode: 66002, uid: 1001)], "the wildcard sends from any address")
        #expect(candidates(localhost, 1, in: Self.table).isEmpty)
    }

    @Test func inUDP6AMappedOrWildcardAddressMatchesButLoopback6DoesNot() {
        #expect(candidates(localhost, 0xABCD, in: Self.table6) == [UDPSocketEntry(inode: 77001, uid: 1002), UDPSocketEntry(inode: 77002, uid: 1003)])
        #expect(candidates(localhost2, 0xABCD, in: Self.table6) == [UDPSocketEntry(inode: 77002, uid: 1003)])
    }

    // MARK: Real sockets

    /// A UDP socket bound to `address`:`port` (0: any free port), and its port.
    func bind(_ address: UInt32, port: UInt16 = 0) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = address.bigEndian
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0, "bind: errno \(errno)")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// A child (`sleep`) that holds `fd` as its stdout, run as `identity`.
    func holder(of fd: Int32, as identity: Identity? = nil) throws -> Int32 {
        try Processes.spawn(command: "exec sleep 30", in: try Folder.open(folder), output: FileDescriptor(fd), as: identity)
    }

    func end(_ pid: Int32) {
        kill(pid, SIGKILL)
        _ = waitpid(pid, nil, 0)
    }

    @Test func anotherSocketOnTheAgentsPortDoesNotSpeakForTheAgentsPid() throws {
        // The issue-10 attack: the "agent" (a child holding 127.0.0.1:P) and
        // a sender on 127.0.0.2:P naming the agent's pid.
        let agentSocket = try bind(localhost)
        let agent = try holder(of: agentSocket.fd)
        defer { end(agent) }
        close(agentSocket.fd)
        let attacker = try bind(localhost2, port: agentSocket.port)
        defer { close(attacker.fd) }
        let verifier = SenderVerifier(agentPID: 1)
        #expect(verifier.verify(.udp(UDPSource(address: localhost2, port: agentSocket.port)), pid: agent, now: t0) == .unverified)
        // The legitimate path: the holder of the source socket is verified.
        #expect(verifier.verify(.udp(UDPSource(address: localhost, port: agentSocket.port)), pid: agent, now: t0)
                == SenderVerdict(verified: true, uid: 0))
        #expect(verifier.verify(.udp(UDPSource(address: localhost2, port: agentSocket.port)), pid: getpid(), now: t0)
                == SenderVerdict(verified: true, uid: 0))
    }

    @Test func twoSocketsThatCouldHaveSentADatagramLeaveItUnverified() throws {
        let sender = try bind(localhost)
        defer { close(sender.fd) }
        let digits = String(sender.port, radix: 16, uppercase: true)
        let hex = "0100007F:" + String(repeating: "0", count: 4 - digits.count) + digits
        // Read as the verifier reads it (Foundation's reader can stop at a page of /proc).
        let real = String(decoding: try Files.read("/proc/net/udp", limit: 8 << 20), as: UTF8.self).split(separator: "\n")
        let line = try #require(real.first { $0.contains(hex) })
        let header = String(real[0])
        let alone = folder + "/alone", twice = folder + "/twice"
        try (header + "\n" + line + "\n").write(toFile: alone, atomically: true, encoding: .utf8)
        let wildcard = line.replacingOccurrences(of: "0100007F:", with: "00000000:")
        try (header + "\n" + line + "\n" + wildcard + "\n").write(toFile: twice, atomically: true, encoding: .utf8)
        let source = HeartbeatSender.udp(UDPSource(address: localhost, port: sender.port))
        #expect(SenderVerifier(tables: [alone], agentPID: 1).verify(source, pid: getpid(), now: t0).verified)
        #expect(!SenderVerifier(tables: [twice], agentPID: 1).verify(source, pid: getpid(), now: t0).verified)
    }

    @Test func aProcessNotRunningWhollyAsTheSocketsOwnerIsNotVerified() throws {
        let sender = try bind(localhost)  // root's socket
        let child = try holder(of: sender.fd, as: Identity(uid: 65534, gid: 65534))
        defer { end(child) }
        close(sender.fd)
        usleep(50_000)  // set its ids and exec'd
        let source = HeartbeatSender.udp(UDPSource(address: localhost, port: sender.port))
        #expect(SenderVerifier(agentPID: 1).verify(source, pid: child, now: t0) == .unverified)
    }

    @Test func aShellScriptsParentRunningAsTheSendersUidIsVerified() throws {
        // `tinyagent heartbeat` in a script: the socket's holder names its parent.
        let sender = try bind(localhost)
        let child = try holder(of: sender.fd)
        defer { end(child) }
        close(sender.fd)
        let source = HeartbeatSender.udp(UDPSource(address: localhost, port: sender.port))
        #expect(SenderVerifier(agentPID: 1).verify(source, pid: getpid(), now: t0) == SenderVerdict(verified: true, uid: 0))
    }

    @Test func aKernelAttestedSenderSpeaksForItselfAndForAParentOnlyOfItsOwnUid() throws {
        let verifier = SenderVerifier(agentPID: 1)
        let me = getpid()
        #expect(verifier.verify(.kernel(PeerCredentials(pid: me, uid: 0, gid: 0)), pid: me, now: t0) == SenderVerdict(verified: true, uid: 0))
        #expect(verifier.verify(.kernel(nil), pid: me, now: t0) == .unverified)
        let rootChild = try holder(of: 2)
        defer { end(rootChild) }
        #expect(verifier.verify(.kernel(PeerCredentials(pid: rootChild, uid: 0, gid: 0)), pid: me, now: t0).verified, "its parent, root as it is")
        // nobody's process naming its root parent (a su or cron above it).
        let nobodyChild = try holder(of: 2, as: Identity(uid: 65534, gid: 65534))
        defer { end(nobodyChild) }
        #expect(verifier.verify(.kernel(PeerCredentials(pid: nobodyChild, uid: 65534, gid: 65534)), pid: me, now: t0) == .unverified)
        #expect(verifier.verify(.kernel(PeerCredentials(pid: rootChild, uid: 0, gid: 0)), pid: nobodyChild, now: t0) == .unverified,
                "not a parent")
    }

    @Test func slowLookUpsSpendAtMostTheirTimeBudgetInASecond() throws {
        // A sender can make a look-up slow (a pid with many descriptors or children):
        // the budget is time measured as they go, not a count by the wake-up's clock.
        let rootChild = try holder(of: 2)
        defer { end(rootChild) }
        var ticks: Int64 = 0
        // Each reading of the clock is 60 ms after the last: every look-up takes 60 ms.
        let verifier = SenderVerifier(revalidateAfter: Duration(nanoseconds: 0), lookupTimePerSecond: .milliseconds(100),
                                      clock: { ticks += 1; return Instant(nanoseconds: ticks * 60_000_000) }, agentPID: 1)
        let sender = HeartbeatSender.kernel(PeerCredentials(pid: rootChild, uid: 0, gid: 0))
        #expect(verifier.verify(sender, pid: getpid(), now: t0).verified)
        #expect(verifier.verify(sender, pid: getpid(), now: t0).verified)
        #expect(!verifier.verify(sender, pid: getpid(), now: t0).verified, "120 ms spent: not looked up")
        ticks += 20
        #expect(verifier.verify(sender, pid: getpid(), now: t0).verified, "the next second has its budget again")
    }

    @Test func theAgentsOwnPidIsNeverVerified() {
        let verifier = SenderVerifier(agentPID: getpid())
        #expect(verifier.verify(.kernel(PeerCredentials(pid: getpid(), uid: 0, gid: 0)), pid: getpid(), now: t0) == .unverified)
    }

    @Test func theUnixSocketNamesTheSenderAsTheKernelSaysWhateverTheDatagramClaims() throws {
        let path = folder + "/hb.sock"
        let dir = try Folder.open(folder)
        defer { dir.close() }
        let receiver = try UnixDatagramSocket.attested(try dir.bindUnixSocket("hb.sock", mode: 0o620, gid: 65534, datagram: true))
        defer { receiver.close() }
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o620 && st.st_gid == 65534 && st.st_uid == 0)
        let sender = try UnixDatagramSocket.sender()
        defer { sender.close() }
        let text = Array(HeartbeatDatagram.text(name: "x", pid: 4242, runCommand: nil, version: Version(major: 1, minor: 0, patch: 0)).utf8)
        try text.withUnsafeBytes { raw in try sender.send(raw, to: path) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        let got = try #require(try receiver.receive(into: buffer))
        #expect(got.length == text.count)
        #expect(got.sender == PeerCredentials(pid: getpid(), uid: 0, gid: getgid()))
    }
}

/// Whom a command runs as (DESIGN.md §3): pure rules, and the app user from disk.
struct RunIdentityTests {
    let pi = Identity(uid: 1000, gid: 1000)

    func decide(_ name: String = "ocr", verified: Bool, uid: UInt32, app: Identity?, root: [String] = []) -> RunIdentity {
        RunIdentity.decide(name: name, verified: verified, uid: uid, gid: uid, appUser: { app }, rootProcesses: root)
    }

    @Test func aVerifiedSenderRunsAsItselfUnlessItIsRoot() {
        #expect(decide(verified: true, uid: 1000, app: nil) == .user(pi))
        #expect(decide(verified: true, uid: 65534, app: pi) == .user(Identity(uid: 65534, gid: 65534)))
    }

    @Test func aVerifiedRootSenderRunsAsRootOnlyWhenRootProcessesListsItsName() {
        #expect(decide(verified: true, uid: 0, app: pi, root: ["ocr"]) == .user(Identity(uid: 0, gid: 0)))
        #expect(decide(verified: true, uid: 0, app: pi, root: ["other"]) == .user(pi), "else as the app user")
        #expect(decide(verified: true, uid: 0, app: nil).user == nil, "and with no app user: refused")
    }

    @Test func allowlistedAndManifestCommandsRunAsTheAppUserAndNeverAsRoot() {
        #expect(decide(verified: false, uid: 0, app: pi, root: ["ocr"]) == .user(pi))
        guard case .refused(let why) = decide(verified: false, uid: 0, app: nil, root: ["ocr"]) else {
            Issue.record("ran without an app user")
            return
        }
        #expect(why.contains("never run as root"))
    }

    @Test func aManifestUserIsWhomAListedCommandRunsAsButRootOnlyWhenRootProcessesListsIt() {
        let bob = Identity(uid: 1001, gid: 1001), root = Identity(uid: 0, gid: 0)
        func listed(_ user: Identity, root names: [String] = []) -> RunIdentity {
            RunIdentity.decide(name: "ocr", verified: false, uid: 0, gid: 0, listedUser: user, appUser: { self.pi }, rootProcesses: names)
        }
        #expect(listed(bob) == .user(bob))
        #expect(listed(root, root: ["ocr"]) == .user(root))
        guard case .refused(let why) = listed(root, root: ["other"]) else { Issue.record("ran as root"); return }
        #expect(why.contains("root_processes") && why.contains("never run as root"))
        // A verified sender's command is its own: the manifest's user does not apply.
        #expect(RunIdentity.decide(name: "ocr", verified: true, uid: 1000, gid: 1000, listedUser: bob, appUser: { nil }, rootProcesses: []) == .user(pi))
    }

    @Test func aListedProcessWhoseUserIsMissingOrRootWithoutLeaveIsRefusedWithAClearLine() throws {
        let users = ["pi": pi, "root": Identity(uid: 0, gid: 0), "toor": Identity(uid: 0, gid: 0)]
        func spec(_ user: String?, root: [String] = [], rootsManifest: Bool = true) throws(ManifestError) -> ProcessSpec {
            try ProcessSpec.listed(UpdateManifest.Process(name: "ocr", runCommand: "x", restart: .never, user: user, environment: ["A=1"], cwd: "bin"),
                                   users: ManifestUsers(appUser: pi, processUsers: [], rootProcesses: root, manifestIsRoots: rootsManifest),
                                   lookUp: { $0 == "slow" ? .noAnswer : users[$0].map(UserLookup.found) ?? .missing })
        }
        #expect(try spec("pi").launch == LaunchOptions(restart: .never, user: pi, environment: ["A=1"], cwd: "bin"))
        #expect(try spec(nil).launch.user == nil, "the app user, decided when it starts")
        #expect(try spec("root", root: ["ocr"]).launch.user == Identity(uid: 0, gid: 0))
        #expect(throws: ManifestError("process ocr: user \"ghost\" does not exist on this machine; not started")) { try spec("ghost") }
        #expect(throws: ManifestError("process ocr: user \"slow\" could not be looked up (the user database gave no answer within 5 s); not started")) {
            try spec("slow")
        }
        for name in ["root", "toor"] {
            #expect(throws: ManifestError("process ocr: user \"\(name)\" is root, and root's settings do not list ocr in root_processes; not started")) {
                try spec(name, root: ["other"])
            }
        }
    }

    @Test func aManifestTheAppUserCouldWriteNamesNoOtherAccountWithoutRootsLeave() throws {
        let alice = Identity(uid: 1001, gid: 1001)
        let users = ["pi": pi, "alice": alice, "meter": Identity(uid: 998, gid: 20), "root": Identity(uid: 0, gid: 0)]
        func spec(_ user: String, processUsers: [String] = [], root: [String] = [], rootsManifest: Bool) throws(ManifestError) -> ProcessSpec {
            try ProcessSpec.listed(UpdateManifest.Process(name: "ocr", runCommand: "x", user: user),
                                   users: ManifestUsers(appUser: pi, processUsers: processUsers, rootProcesses: root, manifestIsRoots: rootsManifest),
                                   lookUp: { users[$0].map(UserLookup.found) ?? .missing })
        }
        // Another account: only the ones root's settings list.
        #expect(throws: ManifestError("process ocr: user \"alice\" is not the app user, and root's settings do not list it in process_users; not started")) {
            try spec("alice", rootsManifest: false)
        }
        #expect(throws: ManifestError("process ocr: user \"alice\" is not the app user, and root's settings do not list it in process_users; not started")) {
            try spec("alice", processUsers: ["meter"], rootsManifest: true)
        }
        #expect(try spec("meter", processUsers: ["meter"], rootsManifest: false).launch.user == Identity(uid: 998, gid: 20))
        #expect(try spec("pi", rootsManifest: false).launch.user == pi)
        // Root: named in root_processes is not enough when the app user could
        // have written the manifest (and so the command root would run).
        #expect(throws: ManifestError("process ocr: user \"root\" is root, and the manifest is not root's (owned by root, not group- or other-writable): the app user could have written it; not started")) {
            try spec("root", root: ["ocr"], rootsManifest: false)
        }
        #expect(try spec("root", root: ["ocr"], rootsManifest: true).launch.user == Identity(uid: 0, gid: 0))
    }

    @Test func theTrustSettingsAreReadAndBadValuesKeepTheDefaults() {
        let good = AgentSettings.parse(Array(#"{"root_processes": ["ocr"], "max_names_per_uid": 4, "name_expiry_days": 2}"#.utf8))
        #expect(good.warnings.isEmpty && good.errors.isEmpty)
        #expect(good.settings.rootProcesses == ["ocr"] && good.settings.maximumNamesPerUID == 4)
        #expect(good.settings.nameExpiry == .seconds(2 * 86_400))
        let bad = AgentSettings.parse(Array(#"{"root_processes": "ocr", "max_names_per_uid": 0, "name_expiry_days": 0}"#.utf8))
        #expect(bad.warnings.count == 3)
        #expect(bad.settings.rootProcesses == [] && bad.settings.maximumNamesPerUID == 16)
        #expect(bad.settings.nameExpiry == .seconds(7 * 86_400))
    }
}
