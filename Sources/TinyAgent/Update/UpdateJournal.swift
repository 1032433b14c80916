/// The update in progress, as kept in `wdog/update.json` (written
/// atomically before each step), so an agent killed at any point finishes
/// or undoes the update at its next start and answers the command once.
struct UpdateRecord: Equatable {
    enum Step: String {
        /// Downloading and unpacking into `downloads/`; nothing installed yet.
        case fetch
        /// Stopping the processes and renaming the folders into place.
        case swap
        /// The new folder is in place; waiting for the listed versions.
        case verify
        /// Putting the previous folder back; `cause` is the answer's remark.
        case rollback
    }

    var command: UpdateCommand
    var step: Step
    /// Seconds the listed processes have to heartbeat their versions.
    var timeoutSeconds: Int64
    /// Whether a SmartMeter folder existed to be kept as SmartMeter.prev.
    var hadPrevious = false
    /// The processes before the update, to restart on rollback.
    var previous: [ProcessSpec] = []
    /// Wall-clock second the new processes were started (step verify).
    var verifySince: Int64 = 0
    var cause = ""

    static let format: Int64 = 1

    func encode() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("format"); w.integer(UpdateRecord.format)
        w.key("command_no"); w.integer(command.commandNo)
        w.key("url"); w.string(command.url)
        w.key("sha256"); if let sha = command.sha256 { w.string(Hex.encode(sha)) } else { w.null() }
        w.key("processes"); w.beginArray()
        for p in command.processes {
            w.beginObject()
            w.key("name"); w.string(p.name)
            w.key("version"); w.string(p.version.description)
            w.endObject()
        }
        w.endArray()
        w.key("step"); w.string(step.rawValue)
        w.key("timeout_s"); w.integer(timeoutSeconds)
        w.key("had_previous"); w.bool(hadPrevious)
        w.key("previous"); w.beginArray()
        for p in previous {
            w.beginObject()
            w.key("name"); w.string(p.name)
            w.key("run_command"); w.string(p.runCommand)
            w.key("uid"); w.integer(p.uid)
            w.key("gid"); w.integer(p.gid)
            w.endObject()
        }
        w.endArray()
        w.key("verify_since"); w.integer(verifySince)
        w.key("cause"); w.string(cause)
        w.endObject()
        return w.text + "\n"
    }

    static func decode(_ bytes: [UInt8]) throws(RegistryError) -> UpdateRecord {
        let d: JSONValue
        do { d = try JSONValue.parse(bytes) } catch { throw .malformed(error.reason) }
        guard d["format"]?.integerValue == format else { throw .malformed("unknown format") }
        guard let no = d["command_no"]?.integerValue, let url = d["url"]?.stringValue,
              let stepName = d["step"]?.stringValue, let step = Step(rawValue: stepName),
              let timeout = d["timeout_s"]?.integerValue, let hadPrevious = d["had_previous"]?.boolValue,
              let since = d["verify_since"]?.integerValue, let cause = d["cause"]?.stringValue,
              let items = d["processes"]?.arrayValue, let previousItems = d["previous"]?.arrayValue
        else { throw .malformed("a field is missing") }
        var sha: [UInt8]?
        if let text = d["sha256"]?.stringValue {
            guard let bytes = Hex.decode(Array(text.utf8)[...], count: 32) else { throw .malformed("bad sha256") }
            sha = bytes
        }
        var expected: [UpdateCommand.Expected] = []
        for item in items {
            guard let name = item["name"]?.stringValue, let text = item["version"]?.stringValue,
                  let version = Version(text) else { throw .malformed("a process is incomplete") }
            expected.append(UpdateCommand.Expected(name: name, version: version))
        }
        var previous: [ProcessSpec] = []
        for item in previousItems {
            guard let name = item["name"]?.stringValue, let command = item["run_command"]?.stringValue,
                  let uid = item["uid"]?.integerValue, let gid = item["gid"]?.integerValue,
                  uid >= 0, uid <= Int64(UInt32.max), gid >= 0, gid <= Int64(UInt32.max)
            else { throw .malformed("a previous process is incomplete") }
            previous.append(ProcessSpec(name: name, runCommand: command, uid: UInt32(uid), gid: UInt32(gid)))
        }
        let command = UpdateCommand(commandNo: no, url: url, sha256: sha, processes: expected, timeout: .seconds(timeout))
        return UpdateRecord(command: command, step: step, timeoutSeconds: timeout, hadPrevious: hadPrevious,
                            previous: previous, verifySince: since, cause: cause)
    }
}

/// The folder renames of an update. Each is safe to repeat after a crash
/// at any point: which folders exist says how far it got, so a second run
/// completes it and never loses the working folder.
struct FolderSwap {
    let paths: AgentPaths

    /// `staged` (the unpacked `SmartMeter/`) becomes `SmartMeter`; the
    /// current one is kept as `SmartMeter.prev` (replacing an older one).
    func install(_ staged: String) throws(Errno) {
        if exists(staged) {
            // Not moved yet, so SmartMeter (when present) is still the old one.
            if exists(paths.smartMeter) {
                try Files.removeTree(paths.previousSmartMeter)
                try Files.rename(paths.smartMeter, to: paths.previousSmartMeter)
            }
            try Files.rename(staged, to: paths.smartMeter)
        }
        Files.syncFolder(of: paths.smartMeter)
    }

    /// Puts the previous folder back; the failed one is kept as
    /// `SmartMeter.failed` for inspection.
    func restore(hadPrevious: Bool) throws(Errno) {
        if hadPrevious {
            if exists(paths.previousSmartMeter) {
                // Not moved back yet: SmartMeter, when present, is the failed one.
                if exists(paths.smartMeter) {
                    try Files.removeTree(paths.failedSmartMeter)
                    try Files.rename(paths.smartMeter, to: paths.failedSmartMeter)
                }
                try Files.rename(paths.previousSmartMeter, to: paths.smartMeter)
            }
        } else if exists(paths.smartMeter) {
            // The device had no SmartMeter before this update.
            try Files.removeTree(paths.failedSmartMeter)
            try Files.rename(paths.smartMeter, to: paths.failedSmartMeter)
        }
        Files.syncFolder(of: paths.smartMeter)
    }

    private func exists(_ path: String) -> Bool { Files.size(path) != nil }
}
