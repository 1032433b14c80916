/// The link protocol after its first packet (`LinkSettings`): what the agent
/// and the link process say to each other over their packet channel, one
/// JSON object per packet. Both ends encode and decode with these types, so
/// the keys are spelled once; a packet that is not one of them is refused
/// with the reason, never taken for something else.

/// Link → agent.
package enum LinkEvent: Equatable, Sendable {
    /// Logged in.
    case online
    case offline(reason: String)
    /// A chat message's body, from a full JID.
    case message(from: String, body: String)
    /// A message the agent handed over (`LinkRequest.send`) went out.
    case sent(id: String)
    /// A line for the agent's log (the link cannot write it).
    case log(LogLevel, String)

    package func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        switch self {
        case .online:
            w.key("event"); w.string("online")
        case .offline(let reason):
            w.key("event"); w.string("offline")
            w.key("reason"); w.string(reason)
        case .message(let from, let body):
            w.key("event"); w.string("message")
            w.key("from"); w.string(from)
            w.key("body"); w.string(body)
        case .sent(let id):
            w.key("event"); w.string("sent")
            w.key("id"); w.string(id)
        case .log(let level, let text):
            w.key("event"); w.string("log")
            w.key("level"); w.integer(level.rawValue)
            w.key("text"); w.string(text)
        }
        w.endObject()
        return w
    }

    package init(packet p: JSONValue) throws(PacketError) {
        guard let event = p["event"]?.stringValue else { throw PacketError("no \"event\" string") }
        switch event {
        case "online":
            try p.onlyKeys(["event"])
            self = .online
        case "offline":
            try p.onlyKeys(["event", "reason"])
            self = .offline(reason: try p.string("reason"))
        case "message":
            try p.onlyKeys(["event", "from", "body"])
            self = .message(from: try p.string("from"), body: try p.string("body"))
        case "sent":
            try p.onlyKeys(["event", "id"])
            self = .sent(id: try p.string("id"))
        case "log":
            try p.onlyKeys(["event", "level", "text"])
            guard let n = p["level"]?.integerValue, let level = LogLevel(rawValue: Int32(truncatingIfNeeded: n)) else {
                throw PacketError("\"level\" is not a log level")
            }
            self = .log(level, try p.string("text"))
        default:
            throw PacketError("unknown event \"\(event)\"")
        }
    }
}

/// Agent → link.
package enum LinkRequest: Equatable, Sendable {
    case send(to: String, body: String, id: String)
    /// The presence status text, sent now and after every reconnection.
    case presence(String)

    package func packet() -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        switch self {
        case .send(let to, let body, let id):
            w.key("send"); w.beginObject()
            w.key("to"); w.string(to)
            w.key("body"); w.string(body)
            w.key("id"); w.string(id)
            w.endObject()
        case .presence(let text):
            w.key("presence"); w.string(text)
        }
        w.endObject()
        return w
    }

    package init(packet p: JSONValue) throws(PacketError) {
        if let send = p["send"] {
            try p.onlyKeys(["send"])
            try send.onlyKeys(["to", "body", "id"])
            self = .send(to: try send.string("to"), body: try send.string("body"), id: try send.string("id"))
        } else if p["presence"] != nil {
            try p.onlyKeys(["presence"])
            self = .presence(try p.string("presence"))
        } else {
            throw PacketError("neither \"send\" nor \"presence\"")
        }
    }
}
