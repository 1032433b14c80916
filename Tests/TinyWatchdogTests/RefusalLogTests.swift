import Testing
@testable import TinyWatchdog
@testable import TinyBase

@Suite struct RefusalLogTests {
    let t0 = Instant(nanoseconds: 5_000_000_000)

    @Test func aNoisySenderDoesNotHideAnotherSendersMistake() {
        var log = RefusalLog()
        #expect(log.admit(sender: 1, problem: 2, now: t0) == 0)
        for i in 1...100 { #expect(log.admit(sender: 1, problem: 2, now: t0 + .milliseconds(Int64(i))) == nil) }
        #expect(log.admit(sender: 2, problem: 2, now: t0 + .milliseconds(200)) == 0)
        #expect(log.admit(sender: 1, problem: 8, now: t0 + .milliseconds(300)) == 0, "nor one mistake another")
        #expect(log.admit(sender: 1, problem: 2, now: t0 + .seconds(11)) == 100, "the repeats are counted in the next line")
    }

    @Test func aFloodFromEverNewSendersIsBoundedOverall() {
        var log = RefusalLog(maximumLinesPerSecond: 20)
        let logged = (0..<1000).filter { log.admit(sender: UInt64($0), problem: 2, now: t0) != nil }.count
        #expect(logged == 20)
        #expect(log.admit(sender: 5000, problem: 2, now: t0 + .seconds(1)) == 0)
    }
}
