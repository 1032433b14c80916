import Testing
@testable import TinyAgent
@testable import TinyBase

@Suite struct ServerListTests {
    func parse(_ servers: String) throws(ConfigError) -> DeviceConfig {
        try DeviceConfig.parse(Array(("{\"xmpp_client\": {\"client_jid\": \"d@example.com\", \"client_password\": \"p\", "
            + "\"cpanel_jid\": \"panel@example.com\", \"rpi_unique_id\": \"x\", " + servers + "}}").utf8))
    }

    @Test func serversListHostsAndPortsIncludingBracketedIPv6() throws {
        let c = try parse(#""servers": ["xmpp1.example.com:5222", "10.0.0.6", "[2001:db8::5]:5223"]"#)
        #expect(c.endpoints == [ServerEndpoint(host: "xmpp1.example.com", port: 5222), ServerEndpoint(host: "10.0.0.6", port: 0),
                                ServerEndpoint(host: "2001:db8::5", port: 5223)])
        #expect(c.endpoints.map(\.description) == ["xmpp1.example.com:5222", "10.0.0.6", "[2001:db8::5]:5223"])
    }

    @Test func hostAndPortAreAListOfOneAndNoHostMeansSRV() throws {
        #expect(try parse(#""host": "127.0.0.1", "port": 5299"#).endpoints == [ServerEndpoint(host: "127.0.0.1", port: 5299)])
        #expect(try parse(#""port": 5299"#).endpoints == [])
    }

    @Test func badServerListsAreRefusedWithTheirPosition() {
        let cases: [(String, ConfigError)] = [
            (#""servers": []"#, .badValue("xmpp_client.servers", why: "must list 1...16 servers")),
            (#""servers": "a:1""#, .wrongType("xmpp_client.servers", expected: "a list of strings HOST:PORT")),
            (#""servers": ["a:1", 5]"#, .wrongType("xmpp_client.servers[1]", expected: "a string HOST:PORT")),
            (#""servers": ["a:0"]"#, .badValue("xmpp_client.servers[0]", why: "port must be 1...65535")),
            (#""servers": ["a:70000"]"#, .badValue("xmpp_client.servers[0]", why: "port must be 1...65535")),
            (#""servers": ["a:"]"#, .badValue("xmpp_client.servers[0]", why: "port must be 1...65535")),
            (#""servers": ["2001:db8::5"]"#, .badValue("xmpp_client.servers[0]", why: "an IPv6 address needs brackets: [ADDRESS]:PORT")),
            (#""servers": ["bad host:1"]"#, .badValue("xmpp_client.servers[0]", why: "contains a space or control character")),
            (#""servers": ["a:1"], "host": "b""#, .badValue("xmpp_client.servers", why: "give either servers or host and port, not both")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text)") { try parse(text) }
        }
    }

    @Test func theLinkPacketCarriesTheServersAndTheSpread() throws {
        let settings = LinkSettings(jid: "d@example.com", password: "p", servers: [ServerEndpoint(host: "a", port: 1),
                                    ServerEndpoint(host: "::1", port: 5222)], tlsRequired: true, caFile: "/ca.pem",
                                    panel: "panel@example.com", spread: .seconds(20))
        let back = try #require(LinkSettings(packet: try JSONValue.parse(Array(settings.packet().text.utf8))))
        #expect(back.servers == settings.servers && back.spread == .seconds(20))
    }
}
