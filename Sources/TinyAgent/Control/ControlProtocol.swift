import TinyBase

/// What a client asks of the agent over `wdog/agent.sock`: one JSON object on
/// one line (`{"verb":"stop","name":"meter_reader"}`). Both ends use this
/// type: the CLI writes `line`, the agent reads it with `parse`.
public enum ControlRequest: Equatable, Sendable {
    /// The status report.
    case status
    /// Stop a process and keep it stopped until `start` or `restart`.
    case stop(String)
    /// Start a stopped (or failed) process.
    case start(String)
    /// Stop a process now and start it again.
    case restart(String)
    /// Retire a process: it leaves the registry and the status.
    case forget(String)
    /// Re-read the settings and the manifest (as SIGHUP does).
    case reload
    /// The process's output log (`logs/NAME.log`): the answer carries it as
    /// an open descriptor, which the client reads and follows itself.
    case logs(String)
    /// Install an update archive the client opened and passes with the
    /// request (`SCM_RIGHTS`: the archive, then its signature when there is one).
    case update(LocalUpdate)

    /// `update`'s fields; the files themselves travel as descriptors.
    public struct LocalUpdate: Equatable, Sendable {
        /// The archive's path as the client named it, for messages only.
        public var file: String
        /// The signature's path, nil when none is passed.
        public var signature: String?
        /// Keep the connection and stream progress until the update ends.
        public var wait: Bool

        public init(file: String, signature: String?, wait: Bool) {
            self.file = file
            self.signature = signature
            self.wait = wait
        }

        /// Descriptors that come with the request.
        public var descriptorCount: Int { signature == nil ? 1 : 2 }
    }

    /// The longest request line the agent reads; anything longer is refused.
    public static let maximumLength = 4096
    /// The most descriptors a request may carry (`update`: archive and signature).
    public static let maximumDescriptors = 2

    public var verb: String {
        switch self {
        case .status: return "status"
        case .stop: return "stop"
        case .start: return "start"
        case .restart: return "restart"
        case .forget: return "forget"
        case .reload: return "reload"
        case .logs: return "logs"
        case .update: return "update"
        }
    }

    /// Reading is for root and the app group; changing state is root's.
    public var access: ControlAccess {
        switch self {
        case .status, .logs: return .read
        case .stop, .start, .restart, .forget, .reload, .update: return .change
        }
    }

    /// The process the verb is about, if any.
    public var name: String? {
        switch self {
        case .stop(let n), .start(let n), .restart(let n), .forget(let n), .logs(let n): return n
        case .status, .reload, .update: return nil
        }
    }

    /// The request as the client sends it, newline included.
    public var line: String {
        var w = JSONWriter()
        w.beginObject()
        w.key("verb"); w.string(verb)
        if let name { w.key("name"); w.string(name) }
        if case .update(let u) = self {
            w.key("file"); w.string(u.file)
            w.key("signature"); if let sig = u.signature { w.string(sig) } else { w.null() }
            w.key("wait"); w.bool(u.wait)
        }
        w.endObject()
        return w.text + "\n"
    }

    /// Reads one request (the bytes before the newline); what is wrong with
    /// it is what the client is told (`ControlAnswer.failed(.usage, …)`).
    public static func parse(_ bytes: [UInt8]) throws(BadRequest) -> ControlRequest {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw BadRequest("request is not JSON: \(error.reason)") }
        guard let members = value.objectValue else { throw BadRequest("request is not a JSON object") }
        guard let verb = value["verb"]?.stringValue else { throw BadRequest("request has no \"verb\" string") }
        if verb == "update" { return .update(try LocalUpdate.parse(value, members)) }
        let named = ["stop", "start", "restart", "forget", "logs"].contains(verb)
        for (key, _) in members where key != "verb" && !(named && key == "name") {
            throw BadRequest("\(verb): unknown key \"\(key)\"")
        }
        guard named else {
            switch verb {
            case "status": return .status
            case "reload": return .reload
            default: throw BadRequest("unknown verb \"\(verb)\"")
            }
        }
        guard let name = value["name"]?.stringValue else { throw BadRequest("\(verb) needs a \"name\" string") }
        guard UpdateManifest.isProcessName(name) else {
            throw BadRequest("\(verb): not a process name: 1 to 64 of A-Z a-z 0-9 . _ - (not . or ..)")
        }
        switch verb {
        case "stop": return .stop(name)
        case "start": return .start(name)
        case "restart": return .restart(name)
        case "forget": return .forget(name)
        default: return .logs(name)
        }
    }
}

extension ControlRequest.LocalUpdate {
    package static func parse(_ value: JSONValue, _ members: [(String, JSONValue)]) throws(BadRequest) -> Self {
        for (key, _) in members where !["verb", "file", "signature", "wait"].contains(key) {
            throw BadRequest("update: unknown key \"\(key)\"")
        }
        guard let file = value["file"]?.stringValue, !file.isEmpty else { throw BadRequest("update needs a \"file\" string") }
        var signature: String?
        if let field = value["signature"], field != .null {
            guard let text = field.stringValue, !text.isEmpty else { throw BadRequest("update: \"signature\" must be a string or null") }
            signature = text
        }
        guard let wait = value["wait"]?.boolValue else { throw BadRequest("update needs \"wait\": true or false") }
        return Self(file: file, signature: signature, wait: wait)
    }
}

/// Why a request line was refused: the one line the client is told.
public struct BadRequest: Error, Equatable {
    public let reason: String
    package init(_ reason: String) { self.reason = reason }
}

/// One line of the agent's answer, as a JSON object. Any number of
/// `progress` lines (a long verb streams them), then one final line: `ok`
/// (with `data` for a verb that returns some) or `error` with a `code` the
/// CLI turns into its exit status. The agent closes the connection after it.
public enum ControlAnswer: Equatable, Sendable {
    case progress(String)
    /// Done; `data` is JSON text (an object), kept as text so the agent
    /// writes its report straight into the line.
    case ok(String, data: String? = nil)
    case failed(Failure, String)

    /// Why a verb failed, as the `code` on the wire.
    public enum Failure: String, Sendable {
        /// A malformed request or an unknown verb (64).
        case usage
        /// The request names something the agent does not have (65).
        case data
        /// The agent cannot do it now (69).
        case unavailable
        /// The peer may not do it (77).
        case permission
        /// A system call failed (71).
        case system

        public var exitStatus: Int32 {
            switch self {
            case .usage: return ExitStatus.usage
            case .data: return ExitStatus.dataError
            case .unavailable: return ExitStatus.unavailable
            case .permission: return ExitStatus.noPermission
            case .system: return ExitStatus.systemError
            }
        }
    }

    /// Whether more lines follow.
    public var isFinal: Bool {
        if case .progress = self { return false }
        return true
    }

    /// The answer as sent, newline included.
    public var line: String {
        var w = JSONWriter()
        w.beginObject()
        switch self {
        case .progress(let message):
            w.key("progress"); w.string(message)
        case .ok(let message, let data):
            w.key("ok"); w.string(message)
            if let data { w.key("data"); w.raw(data) }
        case .failed(let failure, let message):
            w.key("error"); w.string(message)
            w.key("code"); w.string(failure.rawValue)
        }
        w.endObject()
        return w.text + "\n"
    }

    /// Reads one answer line; nil when it is none of the three shapes.
    public static func parse(_ bytes: [UInt8]) -> ControlAnswer? {
        guard let value = try? JSONValue.parse(bytes) else { return nil }
        if let message = value["progress"]?.stringValue { return .progress(message) }
        if let message = value["ok"]?.stringValue {
            guard let data = value["data"] else { return .ok(message) }
            var w = JSONWriter()
            w.value(data)
            return .ok(message, data: w.text)
        }
        if let message = value["error"]?.stringValue {
            return .failed(value["code"]?.stringValue.flatMap { Failure(rawValue: $0) } ?? .unavailable, message)
        }
        return nil
    }
}
