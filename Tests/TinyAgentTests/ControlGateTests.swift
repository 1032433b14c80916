import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// Who may do what over the control socket, from the peer's kernel credentials.
@Suite struct ControlGateTests {
    let pi = Identity(uid: 1000, gid: 1000)

    @Test func rootMayReadTheStatusAndChangeState() {
        let gate = ControlGate(appUser: pi)
        let root = PeerCredentials(pid: 10, uid: 0, gid: 0)
        #expect(gate.allows(.read, peer: root) && gate.allows(.change, peer: root))
    }

    @Test func theAppUserAndItsGroupMayReadTheStatusButNotChangeState() {
        let gate = ControlGate(appUser: pi)
        for peer in [PeerCredentials(pid: 10, uid: 1000, gid: 1000), PeerCredentials(pid: 11, uid: 1001, gid: 1000)] {
            #expect(gate.allows(.read, peer: peer))
            #expect(!gate.allows(.change, peer: peer))
        }
    }

    @Test func aSupplementaryMemberOfTheAppGroupMayReadButNotChangeState() {
        let member = PeerCredentials(pid: 10, uid: 1003, gid: 1003)
        #expect(ControlGate(appUser: pi).allows(.read, peer: member, inGroup: { $0 == 1000 }))
        #expect(!ControlGate(appUser: pi).allows(.change, peer: member, inGroup: { $0 == 1000 }))
        #expect(!ControlGate(appUser: pi).allows(.read, peer: member, inGroup: { $0 == 1003 }))
    }

    @Test func anyoneElseMayDoNothing() {
        let stranger = PeerCredentials(pid: 10, uid: 1002, gid: 1002)
        #expect(!ControlGate(appUser: pi).allows(.read, peer: stranger))
        #expect(!ControlGate(appUser: nil).allows(.read, peer: PeerCredentials(pid: 10, uid: 1000, gid: 1000)))
    }

    @Test func theAppUserIsNamedByRunAsElseTheSmartMeterOwnerAndIsNeverRoot() {
        #expect(AppUser.resolve(runAs: "root", smartMeterOwner: 1000).identity == nil)
        #expect(AppUser.resolve(runAs: nil, smartMeterOwner: 0).identity == nil)
        #expect(AppUser.resolve(runAs: nil, smartMeterOwner: nil).identity == nil)
        #expect(AppUser.resolve(runAs: nil, smartMeterOwner: 4242).identity?.uid == 4242)
        #expect(AppUser.resolve(runAs: "nobody", smartMeterOwner: 4242).identity?.uid == 65534)
    }
}
