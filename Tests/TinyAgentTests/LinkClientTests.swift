import Foundation
import Testing
@testable import TinyAgent
@testable import TinyBase
import TestSupport

/// The agent's side of the link (Link/LinkClient.swift) against a stand-in
/// link program, a real process on a real packet channel: it records what the
/// agent sends and answers as a link that logs in does.
@Suite final class LinkClientTests {
    let folder = NSTemporaryDirectory() + "tinyagent-linkclient-\(UUID().uuidString)"
    var received: String { (try? String(contentsOfFile: "\(folder)/received", encoding: .utf8)) ?? "" }

    /// A C program (the agent starts helpers through a descriptor, which a
    /// script's interpreter could not open again): it writes every packet it
    /// gets to `received`, and after the first says online, logs a line and
    /// sends one packet that is no event.
    static let standIn = #"""
        #include <stdio.h>
        #include <string.h>
        #include <sys/socket.h>
        static void say(const char *p) { send(3, p, strlen(p), 0); }
        int main(void) {
            char buf[65536];
            FILE *out = fopen("RECEIVED", "a");
            ssize_t n;
            int first = 1;
            while ((n = recv(3, buf, sizeof buf - 1, 0)) > 0) {
                buf[n] = 0;
                fprintf(out, "%s\n", buf);
                fflush(out);
                if (first) {
                    first = 0;
                    say("{\"event\": \"online\"}");
                    say("{\"event\": \"log\", \"level\": 6, \"text\": \"logged in\"}");
                    say("{\"event\": \"teleported\"}");
                }
            }
            return 0;
        }
        """#

    init() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder)
        try LinkClientTests.standIn.replacingOccurrences(of: "RECEIVED", with: "\(folder)/received")
            .write(toFile: "\(folder)/link.c", atomically: true, encoding: .utf8)
        try runTool("cc", ["-o", "\(folder)/tinyagent-link", "\(folder)/link.c"])
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func client() throws -> LinkClient {
        let program = try HelperProgram.open("tinyagent-link", in: folder)
        let settings = LinkSettings(jid: "device@localhost", password: "secret", servers: [], tlsRequired: true,
                                    caFile: "\(folder)/missing-ca.pem", panel: "panel@localhost")
        return LinkClient(launch: .success(HelperLaunch(role: .link, program: program, user: nil)), settings: settings)
    }

    /// Drains until `done` holds or 5 s pass; the events seen.
    func drain(_ link: LinkClient, until done: ([LinkEvent]) -> Bool) -> [LinkEvent] {
        var events: [LinkEvent] = []
        let end = Date().addingTimeInterval(5)
        while !done(events) && Date() < end {
            link.drain { events.append($0) }
            usleep(10_000)
        }
        return events
    }

    /// No helper user or no usable `tinyagent-link` (refused and logged at
    /// start): the channel stays, offline, so an answer owed then (an update
    /// resumed at start) is journaled for the panel, not lost.
    @Test func aLinkThatCannotRunStaysOfflineAndTheAnswersOwedAreJournaled() throws {
        let logger = Logger(file: nil, journal: false)
        let journal = CommandJournal(path: "\(folder)/commands.json")
        let processor = CommandProcessor(panelJID: "panel@localhost", deviceID: "d1", journal: journal, logger: logger,
                                         status: {
            StatusReport(pid: 99, uptimeSeconds: 5, heartbeatPort: 4951, heartbeatsAccepted: 0, heartbeatsDropped: 0,
                         processes: [], wallClock: 0, xmpp: "offline", freeBytes: nil, update: "no update in progress")
        }, restart: { _ in nil },
                                         update: { _ in .refused("no updates here") })
        let refusal = HelperUnavailable(reason: "helper user \"tinyagent\" does not exist and there is no \"nobody\"")
        let link = LinkClient(launch: .failure(refusal), settings: LinkSettings(
            jid: "device@localhost", password: "secret", servers: [], tlsRequired: true, caFile: "\(folder)/ca.pem", panel: "panel@localhost"))
        let channel = ControlChannel(link: link, processor: processor, loop: try EventLoop(logger: logger), logger: logger)
        channel.start()
        #expect(link.pid == nil && link.stateName == "offline")
        #expect(channel.nextDeadline == nil, "no restart loop for a link that cannot run")
        channel.answerLater(7, success: false, remarks: "the update worker cannot start")
        #expect(journal.undelivered.map { $0.commandNo } == [7])
        #expect(journal.answer(for: 7)?.contains("the update worker cannot start") == true)
    }

    @Test func theLinkGetsItsSettingsWithTheProtocolVersionThenThePresenceSetBeforeItStarted() throws {
        let link = try client()
        link.setPresence("2 processes running")
        try link.start()
        defer { link.close() }
        _ = drain(link) { _ in received.split(separator: "\n").count >= 2 }
        let packets = received.split(separator: "\n").map { try? JSONValue.parse(String($0)) }
        #expect(packets.count == 2)
        #expect(packets.first??["protocol"]?.integerValue == Int64(HelperRole.protocolVersion))
        #expect(packets.first??["jid"]?.stringValue == "device@localhost")
        #expect(packets.last??["presence"]?.stringValue == "2 processes running")
    }

    @Test func eventsComeOutOnlineLogLinesPrefixedAndAStrangePacketAsAWarningNotAnEvent() throws {
        let link = try client()
        #expect(link.stateName == "offline")
        #expect(!link.send(to: "panel@localhost", body: "early", id: "a-1"), "nothing is handed over before the link is online")
        try link.start()
        defer { link.close() }
        #expect(link.stateName == "connecting")
        let events = drain(link) { $0.count >= 3 }
        #expect(events.count == 3)
        #expect(events.first == .online)
        #expect(events.contains(.log(.info, "xmpp: logged in")))
        #expect(events.contains(.log(.warning, "xmpp link: packet ignored: unknown event \"teleported\"")), "\(events)")
        #expect(link.stateName == "online")
        #expect(link.send(to: "panel@localhost", body: "{}", id: "answer-7"))
        _ = drain(link) { _ in received.contains("answer-7") }
        #expect(received.contains(#""id":"answer-7""#), "\(received)")
    }

    @Test func aLinkThatDiesIsStartedAgainAfterABackOffThatDoublesAndResetsOnceOnline() throws {
        let link = try client()
        try link.start()
        let t0 = Clock.now()
        let first = try #require(link.pid)
        #expect(!link.processExited(first + 100_000, now: t0), "another child is not the link")
        #expect(link.processExited(first, now: t0))
        #expect(link.restartAt == t0 + .seconds(1) && link.stateName == "offline" && link.channel == nil)
        try link.start()
        #expect(link.processExited(try #require(link.pid), now: t0))
        #expect(link.restartAt == t0 + .seconds(2))
        try link.start()
        _ = drain(link) { $0.contains(.online) }
        #expect(link.processExited(try #require(link.pid), now: t0))
        #expect(link.restartAt == t0 + .seconds(1), "online resets the back-off")
    }
}
