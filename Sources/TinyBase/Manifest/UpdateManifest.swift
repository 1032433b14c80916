
/// `SmartMeter/tinyagent.json`: the processes that should run. The agent
/// starts them at start, on SIGHUP and after an update; their run commands
/// are also allowlisted.
///
///     {"processes": [{"name": "meter_reader", "run_command": "python3 meter_reader.py",
///                     "restart": "on-failure", "user": "pi", "env": {"MODE": "fast"},
///                     "cwd": "bin", "version": "1.2.0"}]}
///
/// Strict: unknown members (with a "did you mean"), duplicate names or keys,
/// more than 64 processes, a name outside `[A-Za-z0-9._-]{1,64}` (as in
/// heartbeats; not `.` or `..`), an empty run command, one with NUL or longer
/// than 1024 bytes, and any bad optional member are refused, with the line
/// and column of the key. Whether `user` exists and may be used is decided
/// when the processes are started (`ProcessSpec.listed`): that depends on the
/// machine and root's settings, not on the file.
public struct UpdateManifest: Equatable, Sendable {
    public struct Process: Equatable, Sendable {
        public var name: String
        public var runCommand: String
        public var restart: RestartMode
        /// The account it runs as; nil: the app user.
        public var user: String?
        /// `NAME=value` each, added to (or replacing) the agent's environment.
        public var environment: [String]
        /// Its working folder, relative to SmartMeter/ (checked: no `..`, no
        /// `.`, no empty component, not absolute); nil: SmartMeter/ itself.
        public var cwd: String?
        /// The version it should report once an update has installed it.
        public var version: Version?

        public init(name: String, runCommand: String, restart: RestartMode = .always, user: String? = nil,
                    environment: [String] = [], cwd: String? = nil, version: Version? = nil) {
            self.name = name
            self.runCommand = runCommand
            self.restart = restart
            self.user = user
            self.environment = environment
            self.cwd = cwd
            self.version = version
        }
    }

    public var processes: [Process]

    public init(processes: [Process]) { self.processes = processes }

    /// The manifest's place in the archive.
    public static let path = "SmartMeter/tinyagent.json"
    public static let maximumBytes = 64 * 1024
    public static let maximumProcesses = 64
    /// Same cap as a heartbeat's run_command.
    public static let maximumRunCommand = 1024
    /// Caps on `env`: what the agent copies into every start of the process.
    public static let maximumVariables = 64
    public static let maximumVariableName = 128
    public static let maximumVariableValue = 4096
    public static let maximumEnvironmentBytes = 16 * 1024
    static let processKeys = ["name", "run_command", "restart", "user", "env", "cwd", "version"]

    public static func parse(_ bytes: [UInt8]) throws(ManifestError) -> UpdateManifest {
        if bytes.count > maximumBytes { throw ManifestError("larger than " + String(maximumBytes) + " bytes") }
        return try withBytes(of: bytes) { (raw) throws(ManifestError) -> UpdateManifest in
            let reader = ManifestReader(raw)
            let items = try reader.processItems()
            if items.count > maximumProcesses {
                throw ManifestError(String(items.count) + " processes, more than the " + String(maximumProcesses) + " allowed")
            }
            var processes: [Process] = []
            for (i, item) in items.enumerated() {
                let process = try reader.process(item, number: i + 1)
                if processes.contains(where: { $0.name == process.name }) {
                    throw ManifestError("process " + process.name + " at " + reader.at(item.offset) + " is listed twice")
                }
                processes.append(process)
            }
            return UpdateManifest(processes: processes)
        }
    }

    /// The process named `name`, if listed.
    public func process(named name: String) -> Process? { processes.first { $0.name == name } }

    /// 1–64 of `[A-Za-z0-9._-]`, not `.` or `..`: the heartbeat parser's rule
    /// (a name also names a log file).
    public static func isProcessName(_ name: String) -> Bool {
        Array(name.utf8).withUnsafeBytes { ProcessName.isValid($0) }
    }

    /// An account name as `useradd` takes it: 1–32 of `[A-Za-z0-9._-]`, not
    /// starting with `-`.
    static func isUserName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 32, bytes[0] != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }

    static func didYouMean(_ word: String, _ known: [String]) -> String {
        closestMatch(to: word, among: known).map { "; did you mean \"\($0)\"?" } ?? ""
    }

    /// A string from the file as it may appear in a remark.
    package static func shown(_ text: String) -> String { EntryName.printable(Array(text.utf8)) }
}

/// Why a manifest was refused: one line, with the line:column of the key
/// when there is one. The caller puts the file's path in front.
public struct ManifestError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Reads the manifest's text keeping where each key is, for its messages.
private struct ManifestReader {
    struct Item {
        /// The process object's members; nil when the item is not an object.
        package var members: [JSONMember]?
        package var offset: Int
    }

    let raw: UnsafeRawBufferPointer

    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    func at(_ offset: Int) -> String { TextPosition(of: offset, in: raw).description }

    /// The items of the top-level object's "processes" list.
    func processItems() throws(ManifestError) -> [Item] {
        var s = JSONScanner(raw)
        let outcome: Result<[Item], ManifestError>
        do { outcome = try document(&s) } catch {
            throw ManifestError("not valid JSON at " + at(error.offset ?? raw.count) + ": " + error.explanation(in: raw))
        }
        return try outcome.get()
    }

    /// The document's shape; a syntax error is thrown, a wrong shape returned.
    private func document(_ s: inout JSONScanner) throws(JSONError) -> Result<[Item], ManifestError> {
        guard try s.peek() == UInt8(ascii: "{") else { return .failure(ManifestError("not a JSON object")) }
        s.offset += 1
        var items: [Item]?
        if !(try s.consume(UInt8(ascii: "}"))) {
            repeat {
                _ = try s.peek()
                let keyOffset = s.offset
                let key = s.decode(try s.string())
                if items != nil && key == "processes" { throw .unexpectedByte(offset: keyOffset) }
                try s.expect(UInt8(ascii: ":"))
                if key != "processes" {
                    return .failure(ManifestError("unknown member \"" + UpdateManifest.shown(key) + "\" at " + at(keyOffset)
                                                  + UpdateManifest.didYouMean(key, ["processes"])))
                }
                guard try s.peek() == UInt8(ascii: "[") else {
                    return .failure(ManifestError("\"processes\" at " + at(keyOffset) + " is not a list"))
                }
                items = try list(&s)
            } while try s.consume(UInt8(ascii: ","))
            try s.expect(UInt8(ascii: "}"))
        }
        try s.expectEnd()
        guard let items else { return .failure(ManifestError("no \"processes\" list")) }
        return .success(items)
    }

    private func list(_ s: inout JSONScanner) throws(JSONError) -> [Item] {
        try s.expect(UInt8(ascii: "["))
        var items: [Item] = []
        if try s.consume(UInt8(ascii: "]")) { return items }
        repeat {
            let first = try s.peek()
            let offset = s.offset
            if first == UInt8(ascii: "{") {
                items.append(Item(members: try JSONValue.parseMembers(&s, depth: 2), offset: offset))
            } else {
                _ = try JSONValue.parseValue(&s, depth: 2)
                items.append(Item(members: nil, offset: offset))
            }
        } while try s.consume(UInt8(ascii: ","))
        try s.expect(UInt8(ascii: "]"))
        return items
    }

    /// Item number `number` (1-based) as a process, every member checked.
    func process(_ item: Item, number: Int) throws(ManifestError) -> UpdateManifest.Process {
        let which = "process " + String(number) + " at " + at(item.offset)
        guard let members = item.members else { throw ManifestError(which + " is not an object") }
        for m in members where !UpdateManifest.processKeys.contains(m.key) {
            throw ManifestError(which + ": unknown member \"" + UpdateManifest.shown(m.key) + "\" at " + at(m.offset)
                                + UpdateManifest.didYouMean(m.key, UpdateManifest.processKeys))
        }
        guard let nameMember = members.first(where: { $0.key == "name" }), let name = nameMember.value.stringValue else {
            throw ManifestError(which + ": no \"name\" string")
        }
        guard UpdateManifest.isProcessName(name) else {
            throw ManifestError(which + ": invalid name \"" + UpdateManifest.shown(name) + "\" at " + at(nameMember.offset))
        }
        guard let command = members.first(where: { $0.key == "run_command" }) else {
            throw ManifestError("process " + name + ": no \"run_command\" string")
        }
        var process = UpdateManifest.Process(name: name, runCommand: try runCommand(command, of: name))
        for m in members {
            switch m.key {
            case "restart": process.restart = try restart(m, of: name)
            case "user": process.user = try user(m, of: name)
            case "env": process.environment = try environment(m, of: name)
            case "cwd": process.cwd = try cwd(m, of: name)
            case "version": process.version = try version(m, of: name)
            default: break
            }
        }
        return process
    }

    private func refuse(_ m: JSONMember, of name: String, _ what: String) -> ManifestError {
        ManifestError("process " + name + ", \"" + m.key + "\" at " + at(m.offset) + ": " + what)
    }

    private func string(_ m: JSONMember, of name: String) throws(ManifestError) -> String {
        guard let text = m.value.stringValue else { throw refuse(m, of: name, "not a string") }
        if text.utf8.contains(0) { throw refuse(m, of: name, "holds a NUL") }
        return text
    }

    private func runCommand(_ m: JSONMember, of name: String) throws(ManifestError) -> String {
        let command = try string(m, of: name)
        if command.utf8.isEmpty { throw refuse(m, of: name, "empty") }
        if command.utf8.count > UpdateManifest.maximumRunCommand {
            throw refuse(m, of: name, "longer than " + String(UpdateManifest.maximumRunCommand) + " bytes")
        }
        return command
    }

    private func restart(_ m: JSONMember, of name: String) throws(ManifestError) -> RestartMode {
        let word = try string(m, of: name)
        guard let mode = RestartMode(name: word) else {
            let names = RestartMode.allCases.map { $0.name }
            throw refuse(m, of: name, "\"" + UpdateManifest.shown(word) + "\" is not always, on-failure or never"
                         + UpdateManifest.didYouMean(word, names))
        }
        return mode
    }

    private func user(_ m: JSONMember, of name: String) throws(ManifestError) -> String {
        let user = try string(m, of: name)
        guard UpdateManifest.isUserName(user) else {
            throw refuse(m, of: name, "\"" + UpdateManifest.shown(user) + "\" is not a user name (1-32 of A-Z a-z 0-9 . _ -)")
        }
        return user
    }

    private func environment(_ m: JSONMember, of name: String) throws(ManifestError) -> [String] {
        guard let variables = m.value.objectValue else { throw refuse(m, of: name, "not an object of strings") }
        if variables.count > UpdateManifest.maximumVariables {
            throw refuse(m, of: name, String(variables.count) + " variables, more than the " + String(UpdateManifest.maximumVariables) + " allowed")
        }
        var entries: [String] = []
        var total = 0
        for (key, value) in variables {
            let shownKey = "\"" + UpdateManifest.shown(key) + "\""
            if key.utf8.isEmpty || key.utf8.count > UpdateManifest.maximumVariableName || key.utf8.contains(UInt8(ascii: "=")) || key.utf8.contains(0) {
                throw refuse(m, of: name, "variable " + shownKey + ": a name is 1-" + String(UpdateManifest.maximumVariableName) + " bytes, without \"=\" or NUL")
            }
            guard let text = value.stringValue else { throw refuse(m, of: name, "variable " + shownKey + " is not a string") }
            if text.utf8.count > UpdateManifest.maximumVariableValue || text.utf8.contains(0) {
                throw refuse(m, of: name, "variable " + shownKey + ": a value is at most " + String(UpdateManifest.maximumVariableValue) + " bytes, without NUL")
            }
            total += key.utf8.count + text.utf8.count + 2
            entries.append(key + "=" + text)
        }
        if total > UpdateManifest.maximumEnvironmentBytes {
            throw refuse(m, of: name, "more than " + String(UpdateManifest.maximumEnvironmentBytes) + " bytes of variables")
        }
        return entries
    }

    private func cwd(_ m: JSONMember, of name: String) throws(ManifestError) -> String {
        let path = try string(m, of: name)
        let checked: EntryName
        do { checked = try EntryName.check(Array(path.utf8)) } catch {
            throw refuse(m, of: name, "\"" + UpdateManifest.shown(path) + "\" is not a folder inside SmartMeter/ "
                         + "(a relative path without \"..\", \".\" or empty parts)")
        }
        return checked.path
    }

    private func version(_ m: JSONMember, of name: String) throws(ManifestError) -> Version {
        let text = try string(m, of: name)
        guard let version = Version(text) else { throw refuse(m, of: name, "\"" + UpdateManifest.shown(text) + "\" is not X.Y.Z (each 0-65535)") }
        return version
    }
}
