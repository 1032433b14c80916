import Testing
@testable import TinyLink
@testable import TinyBase

/// The link protocol (`LinkEvent`, `LinkRequest`): both ends use the same
/// types, so what one writes the other reads back unchanged, and a packet
/// that is neither is refused with its reason.
@Suite struct LinkMessageTests {
    static let events: [LinkEvent] = [
        .online, .offline(reason: "connection refused by 127.0.0.1:5222"),
        .message(from: "panel@example.com/web", body: "{\"command_no\": 7}"), .sent(id: "answer-7"),
        .log(.warning, "tls: \"quoted\"\nand a second line"),
    ]
    static let requests: [LinkRequest] = [
        .send(to: "panel@example.com", body: "ünïcode ✓", id: "answer-1"), .presence("2 processes running"),
        .presence(""),
    ]

    private func parsed(_ writer: JSONWriter) throws -> JSONValue {
        try JSONValue.parse(Array(writer.text.utf8))
    }

    @Test("every event the link sends is read back as the same event", arguments: events)
    func eventsRoundTrip(_ event: LinkEvent) throws {
        #expect(try LinkEvent(packet: parsed(event.packet())) == event)
    }

    @Test("every request the agent sends is read back as the same request", arguments: requests)
    func requestsRoundTrip(_ request: LinkRequest) throws {
        #expect(try LinkRequest(packet: parsed(request.packet())) == request)
    }

    @Test("an event packet that is not one of the events is refused with its reason", arguments: [
        ("{\"event\": \"reboot\"}", "unknown event \"reboot\""),
        ("{\"reason\": \"x\"}", "no \"event\" string"),
        ("{\"event\": \"offline\"}", "no \"reason\" string"),
        ("{\"event\": \"online\", \"extra\": 1}", "unknown member \"extra\""),
        ("{\"event\": \"message\", \"from\": \"a@b\", \"body\": 3}", "no \"body\" string"),
        ("{\"event\": \"log\", \"level\": 9, \"text\": \"x\"}", "\"level\" is not a log level"),
        ("[\"event\"]", "no \"event\" string"),
    ])
    func badEventsAreRefused(_ text: String, _ reason: String) throws {
        let packet = try JSONValue.parse(Array(text.utf8))
        #expect(throws: PacketError(reason)) { try LinkEvent(packet: packet) }
    }

    @Test("a request packet that is not one of the requests is refused with its reason", arguments: [
        ("{\"shutdown\": true}", "neither \"send\" nor \"presence\""),
        ("{\"send\": {\"to\": \"a@b\", \"body\": \"x\"}}", "no \"id\" string"),
        ("{\"send\": {\"to\": \"a@b\", \"body\": \"x\", \"id\": \"1\", \"cc\": \"c@d\"}}", "unknown member \"cc\""),
        ("{\"presence\": \"x\", \"send\": {}}", "unknown member \"presence\""),
        ("{\"presence\": 1}", "no \"presence\" string"),
    ])
    func badRequestsAreRefused(_ text: String, _ reason: String) throws {
        let packet = try JSONValue.parse(Array(text.utf8))
        #expect(throws: PacketError(reason)) { try LinkRequest(packet: packet) }
    }

    @Test("events cross a real packet channel one per packet, in order")
    func eventsCrossTheChannel() throws {
        let (agent, linkEnd) = try PacketChannel.pair()
        defer { agent.fd.close(); linkEnd.close() }
        let link = PacketChannel(fd: linkEnd)
        for event in Self.events { #expect(link.send(event.packet())) }
        for event in Self.events {
            guard case .packet(let packet) = agent.receive() else {
                Issue.record("no packet for \(event)")
                return
            }
            #expect(try LinkEvent(packet: packet) == event)
        }
        guard case .empty = agent.receive() else {
            Issue.record("a packet more than was sent")
            return
        }
    }
}
