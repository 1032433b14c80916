/// `SmartMeter/tinyagent.json`: the processes an update starts, which is also
/// the run-command allowlist after the update.
///
///     {"processes": [{"name": "meter_reader", "run_command": "python3 meter_reader.py"}]}
///
/// Strict: unknown members, duplicate names, more than 64 processes, a name
/// outside `[A-Za-z0-9._-]{1,64}` (as in heartbeats; not `.` or `..`), or an
/// empty run command, one with NUL or longer than 1024 bytes are refused.
public struct UpdateManifest: Equatable, Sendable {
    public struct Process: Equatable, Sendable {
        public var name: String
        public var runCommand: String
        public init(name: String, runCommand: String) {
            self.name = name
            self.runCommand = runCommand
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

    public static func parse(_ bytes: [UInt8]) throws(ArchiveError) -> UpdateManifest {
        func refuse(_ reason: String) -> ArchiveError { .manifest(reason: reason) }
        if bytes.count > maximumBytes { throw refuse("larger than " + String(maximumBytes) + " bytes") }
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch {
            let explained = withBytes(of: bytes) { raw in
                "not valid JSON at \(TextPosition(of: error.offset ?? raw.count, in: raw)): \(error.explanation(in: raw))"
            }
            throw refuse(explained)
        }
        guard let members = document.objectValue else { throw refuse("not a JSON object") }
        for (key, _) in members where key != "processes" { throw refuse("unknown member \"" + shown(key) + "\"" + didYouMean(key, ["processes"])) }
        guard let list = document["processes"] else { throw refuse("no \"processes\" list") }
        guard let items = list.arrayValue else { throw refuse("\"processes\" is not a list") }
        if items.count > maximumProcesses { throw refuse(String(items.count) + " processes, more than the " + String(maximumProcesses) + " allowed") }

        var processes: [Process] = []
        for (i, item) in items.enumerated() {
            let which = "process " + String(i + 1)
            guard let fields = item.objectValue else { throw refuse(which + " is not an object") }
            for (key, _) in fields where key != "name" && key != "run_command" {
                throw refuse(which + ": unknown member \"" + shown(key) + "\"" + didYouMean(key, ["name", "run_command"]))
            }
            guard let name = item["name"]?.stringValue else { throw refuse(which + ": no \"name\" string") }
            guard isProcessName(name) else { throw refuse(which + ": invalid name \"" + shown(name) + "\"") }
            let named = "process " + name
            guard let command = item["run_command"]?.stringValue else { throw refuse(named + ": no \"run_command\" string") }
            if command.utf8.isEmpty { throw refuse(named + ": empty run_command") }
            if command.utf8.count > maximumRunCommand {
                throw refuse(named + ": run_command longer than " + String(maximumRunCommand) + " bytes")
            }
            if command.utf8.contains(0) { throw refuse(named + ": NUL in run_command") }
            if processes.contains(where: { $0.name == name }) { throw refuse(named + " is listed twice") }
            processes.append(Process(name: name, runCommand: command))
        }
        return UpdateManifest(processes: processes)
    }

    /// 1–64 of `[A-Za-z0-9._-]`, not `.` or `..`: the heartbeat parser's rule
    /// (a name also names a log file).
    public static func isProcessName(_ name: String) -> Bool {
        Array(name.utf8).withUnsafeBytes { HeartbeatParser.isValidName($0) }
    }

    private static func didYouMean(_ key: String, _ known: [String]) -> String {
        closestMatch(to: key, among: known).map { "; did you mean \"\($0)\"?" } ?? ""
    }

    /// A string from the file as it may appear in a remark.
    private static func shown(_ text: String) -> String { EntryName.printable(Array(text.utf8)) }
}
