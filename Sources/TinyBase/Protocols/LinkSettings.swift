/// What the agent tells the link process when it starts it.
package struct LinkSettings {
    package var jid: String
    package var password: String
    /// Servers to try in turn instead of the JID's domain (and its SRV records).
    package var servers: [ServerEndpoint]
    package var tlsRequired: Bool
    /// The CA file to verify the server against (`certs/cacert.pem`).
    package var caFile: String
    /// The panel, whose presence subscription the link accepts.
    package var panel: String
    /// The window the first retry after a lost session is spread over.
    package var spread: Duration

    package func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        w.key(HelperRole.protocolKey); w.integer(HelperRole.protocolVersion)
        w.key("jid"); w.string(jid)
        w.key("password"); w.string(password)
        w.key("servers"); w.beginArray()
        for server in servers { w.string(server.description) }
        w.endArray()
        w.key("tls_required"); w.bool(tlsRequired)
        w.key("ca_file"); w.string(caFile)
        w.key("panel"); w.string(panel)
        w.key("spread_ms"); w.integer(spread.milliseconds)
        w.endObject()
        return w
    }

    package init(jid: String, password: String, servers: [ServerEndpoint], tlsRequired: Bool, caFile: String, panel: String,
         spread: Duration = ReconnectBackoff.defaultSpread) {
        self.jid = jid
        self.password = password
        self.servers = servers
        self.tlsRequired = tlsRequired
        self.caFile = caFile
        self.panel = panel
        self.spread = spread
    }

    package init?(packet: JSONValue) {
        guard let jid = packet["jid"]?.stringValue, let password = packet["password"]?.stringValue,
              case .array(let list)? = packet["servers"],
              let tls = packet["tls_required"]?.boolValue, let ca = packet["ca_file"]?.stringValue,
              let panel = packet["panel"]?.stringValue, let spread = packet["spread_ms"]?.integerValue else { return nil }
        var servers: [ServerEndpoint] = []
        for item in list {
            guard let text = item.stringValue, let server = ServerEndpoint.parse(text).endpoint else { return nil }
            servers.append(server)
        }
        self.init(jid: jid, password: password, servers: servers, tlsRequired: tls, caFile: ca, panel: panel,
                  spread: .milliseconds(spread))
    }
}
