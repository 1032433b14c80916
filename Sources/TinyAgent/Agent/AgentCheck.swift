import TinyBase
import TinyWatchdog

/// `tinyagent check` (as `monit -t`): everything the agent would read at
/// start, read the same way, without starting anything: the folders' owners
/// and modes (`FolderCheck`), `cfg/agent.json`, `SmartMeter/tinyagent.json`,
/// the config (with the fleet key `cfg/key` when there is one) and the CA
/// file. One line per problem; none means all is well.
public enum AgentCheck {
    /// The problems; and what was checked, for the all-well line.
    public static func run(root: String) -> (problems: [String], checked: [String]) {
        let top: Folder
        do { top = try Folder.open(root) } catch { return (["root folder \(root): \(error)"], []) }
        defer { top.close() }
        var problems = FolderCheck.check(top, agentUID: Processes.effectiveUID).map { $0.message }
        var checked = ["folders"]
        let paths = AgentPaths(root: root)
        var settings = AgentSettings()
        if let file = read(paths.settingsFile, &problems) {
            let reading = AgentSettings.parse(file.bytes, file: paths.settingsFile)
            problems += reading.errors + reading.warnings
            settings = reading.settings
            checked.append("settings")
        }
        let manifest = "\(paths.smartMeter)/tinyagent.json"
        if let file = read(manifest, &problems) {
            // Whom it may name as `user`, as the agent decides it (`ManifestUsers`).
            let owner = (try? top.folder("SmartMeter")).flatMap { folder in
                defer { folder.close() }
                return try? folder.status().uid
            }
            let users = ManifestUsers(appUser: AppUser.resolve(runAs: settings.runAs, smartMeterOwner: owner).identity,
                                      processUsers: settings.processUsers, rootProcesses: settings.rootProcesses,
                                      manifestIsRoots: !file.status.writableByOthers(than: 0))
            do {
                let listed = try UpdateManifest.parse(file.bytes).processes
                for process in listed {
                    do { _ = try ProcessSpec.listed(process, users: users) } catch {
                        problems.append("\(manifest): \(error.reason)")
                    }
                }
                checked.append("manifest (\(listed.count) process\(listed.count == 1 ? "" : "es"))")
            } catch { problems.append("\(manifest): \(error.reason)") }
        }
        if Files.size(DeviceConfig.file(root: root)) != nil {
            do {
                let config = try DeviceConfig.load(root: root)
                checked.append("config")
                if config.tlsRequired, let problem = CAFile.problem(paths.caFile) {
                    problems.append("\(problem): the XMPP server's certificate cannot be verified (TLS is required)")
                } else if config.tlsRequired {
                    checked.append("CA file")
                }
            } catch { problems.append(error.reason) }
        }
        return (problems, checked)
    }

    /// `tinyagent check`: the problems one a line on stdout (or the JSON
    /// object `{"ok", "checked", "problems"}`), a one-line count on stderr;
    /// the exit status: 0 when all is well, else 78.
    public static func report(root: String, json: Bool) -> Int32 {
        let result = run(root: root)
        let status = result.problems.isEmpty ? ExitStatus.ok : ExitStatus.unsafeFolders
        if json {
            var w = JSONWriter()
            w.beginObject()
            w.key("ok"); w.bool(result.problems.isEmpty)
            w.key("checked"); w.beginArray(); for item in result.checked { w.string(item) }; w.endArray()
            w.key("problems"); w.beginArray(); for problem in result.problems { w.string(problem) }; w.endArray()
            w.endObject()
            Console.out(w.text)
            return status
        }
        guard !result.problems.isEmpty else {
            Console.out("ok: " + result.checked.joined(separator: ", "))
            return status
        }
        for problem in result.problems { Console.out(problem) }
        Console.error("\(result.problems.count) problem\(result.problems.count == 1 ? "" : "s") (above)")
        return status
    }

    /// A file's bytes; nil when it is absent (nothing to check) or
    /// unreadable (a problem).
    private static func read(_ path: String, _ problems: inout [String]) -> (bytes: [UInt8], status: FileStatus)? {
        guard Files.size(path) != nil else { return nil }
        do { return try Files.readRegular(path) } catch {
            problems.append("\(path): \(error)")
            return nil
        }
    }
}
