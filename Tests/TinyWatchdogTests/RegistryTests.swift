import Testing
@testable import TinyWatchdog
@testable import TinyBase

/// Registry/Registry.swift: wdog/registry.json, what the next agent re-adopts.
@Suite struct RegistryTests {
    @Test func theRegistryRoundTrips() throws {
        var p = SupervisedProcess(name: "ocr", pid: 4321, uid: 1000, gid: 1000, runCommand: "python3 \"ocr.py\"",
                                  verified: true, version: Version(major: 1, minor: 0, patch: 2), state: .failed)
        p.startTime = 987_654
        p.restarts = 3
        p.failure = "restarted 5 times within 300 s"
        p.lastHeartbeatWall = 1_790_000_000
        p.knownSince = 1_789_000_000
        p.lastStartWall = 1_789_500_000
        p.lastStartReason = "no heartbeat for 1500 ms"
        let q = SupervisedProcess(name: "other", pid: 99, uid: 0, gid: 0, runCommand: nil, verified: false,
                                  version: Version(major: 0, minor: 0, patch: 0), state: .running)
        // Listed, but its start failed: no pid, and not a damaged registry.
        var never = SupervisedProcess(name: "linked", pid: 0, uid: 1000, gid: 1000, runCommand: "x", verified: false,
                                      version: Version(major: 0, minor: 0, patch: 0), state: .failed)
        never.ended = true
        let text = Registry.encode([p, q, never], bootID: "boot-1")
        let (decoded, bootID) = try Registry.format.decode(Array(text.utf8), Registry.decode)
        #expect(bootID == "boot-1")
        #expect(decoded == [p, q, never])
    }

    @Test func aDamagedRegistryIsRefusedNotGuessed() {
        #expect(throws: StateFileError.self) { try Registry.format.decode(Array("{\"format\":1,\"boot_id\":\"x\",\"processes\":[{\"name\":\"a\"}]}".utf8), Registry.decode) }
        #expect(throws: StateFileError.self) { try Registry.format.decode(Array("{\"format\":1,\"boot_id\":\"x\",\"proc".utf8), Registry.decode) }
        #expect(throws: StateFileError.self) { try Registry.format.decode(Array("{\"format\":2,\"boot_id\":\"x\",\"processes\":[]}".utf8), Registry.decode) }
    }
}
