import TinyBase
import TinyWatchdog

/// The update in progress, as kept in `wdog/update.json` (written
/// atomically before each step), so an agent killed at any point finishes
/// or undoes the update at its next start and answers its origin once.
package struct UpdateRecord: Equatable {
    package enum Step: String {
        /// The worker acquires the archive and its signature into downloads/;
        /// nothing checked or installed yet.
        case acquire
        /// The agent checks the archive's signature (the worker has exited).
        case check
        /// A fresh worker unpacks the checked archive into the staging folder.
        case unpack
        /// A worker checks that the archive's CA (`certs/cacert.pem.next`)
        /// verifies the servers (`CARotation`); nothing installed yet.
        case probe
        /// Stopping the processes and renaming the folders into place.
        case swap
        /// The new folder is in place; waiting for the listed versions.
        case verify
        /// Putting the previous folder back; `cause` is the answer's remark.
        case rollback
    }

    package var origin: UpdateOrigin
    package var source: UpdateSource
    /// The versions each process must heartbeat (the command's, or the new manifest's).
    package var expected: [UpdateCommand.Expected]
    package var step: Step
    /// Seconds the listed processes have to heartbeat their versions.
    package var timeoutSeconds: Int64
    /// Whether a SmartMeter folder existed to be kept as SmartMeter.prev.
    package var hadPrevious = false
    /// The processes before the update, to restart on rollback.
    package var previous: [ProcessSpec] = []
    /// Wall-clock second the new processes were started (step verify).
    package var verifySince: Int64 = 0
    package var cause = ""
    /// Wall-clock second the update began.
    package var startedAt: Int64 = 0
    /// "p1 1.0.0, p2 1.0.0": what ran before, for the last-update status.
    package var before = ""
    /// What the signature check decided, as the status and the log name it
    /// (`SignatureVerdict.summary`).
    package var signature = ""
    /// The key of `certs/update-keys` that verified the archive; nil when none
    /// did (a device without keys) or the check has not run. What decides
    /// whether the agent's own programs may be installed: a journal without
    /// the field (older agents) never counts as signed.
    package var signedBy: String?
    /// The archive carries a CA: probed before the swap, swapped with the
    /// folder, confirmed by the link's login (`CARotation`).
    package var newCA = false
    /// The archive carries a `SmartMeter/` folder: the processes are stopped
    /// for the swap and confirmed by their versions. Without one (an archive
    /// with only a CA) they run on untouched. Records from before archives
    /// without it were accepted have no field: they always had one.
    package var newSmartMeter = true
    /// The archive carries the agent's programs (`SelfUpdate`): swapped
    /// beside the agent, which then restarts into them; confirmed by the new
    /// agent reporting `agentVersion`.
    package var newPrograms = false
    /// The version the new agent must report (the command's, or the trial run's).
    package var agentVersion: Version?

    /// Format 1: agents before the acquire/install split (always the
    /// panel's, over HTTPS; its `fetch` step is `acquire`).
    package static let format = StateFormat(2, readsFrom: 1)

    package func encode() -> String {
        UpdateRecord.format.encode(fields)
    }

    private func fields(_ w: inout JSONWriter) {
        switch origin {
        case .panel(let no): w.key("command_no"); w.integer(no)
        case .local(let id): w.key("local_id"); w.integer(id)
        }
        switch source {
        case .https(let url, let sha, let signatureURL):
            w.key("url"); w.string(url)
            w.key("sha256"); if let sha { w.string(Hex.encode(sha)) } else { w.null() }
            w.key("signature_url"); w.string(signatureURL)
        case .file(let name):
            w.key("file"); w.string(name)
        }
        w.key("processes"); UpdateRecord.write(expected, to: &w)
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
            w.key("verified"); w.bool(p.verified)
            w.endObject()
        }
        w.endArray()
        w.key("verify_since"); w.integer(verifySince)
        w.key("cause"); w.string(cause)
        w.key("started_at"); w.integer(startedAt)
        w.key("before"); w.string(before)
        w.key("signature"); w.string(signature)
        w.key("signed_by"); if let signedBy { w.string(signedBy) } else { w.null() }
        w.key("new_ca"); w.bool(newCA)
        w.key("new_smart_meter"); w.bool(newSmartMeter)
        w.key("new_programs"); w.bool(newPrograms)
        w.key("agent_version"); if let agentVersion { w.string(agentVersion.description) } else { w.null() }
    }

    package static func write(_ expected: [UpdateCommand.Expected], to w: inout JSONWriter) {
        w.beginArray()
        for p in expected {
            w.beginObject()
            w.key("name"); w.string(p.name)
            w.key("version"); w.string(p.version.description)
            w.endObject()
        }
        w.endArray()
    }

    /// A document `format` checked (`StateFormat.decode`).
    package static func decode(_ d: JSONValue, format: Int64) throws(StateFileError) -> UpdateRecord {
        guard let stepName = d["step"]?.stringValue, let step = format == 1 && stepName == "fetch" ? .acquire : Step(rawValue: stepName),
              let timeout = d["timeout_s"]?.integerValue, let hadPrevious = d["had_previous"]?.boolValue,
              let since = d["verify_since"]?.integerValue, let cause = d["cause"]?.stringValue,
              let items = d["processes"]?.arrayValue, let previousItems = d["previous"]?.arrayValue
        else { throw .malformed("a field is missing") }
        var record = UpdateRecord(origin: try origin(d), source: try source(d), expected: try expected(items), step: step,
                                  timeoutSeconds: timeout, hadPrevious: hadPrevious, previous: try previous(previousItems),
                                  verifySince: since, cause: cause)
        record.startedAt = d["started_at"]?.integerValue ?? 0
        record.before = d["before"]?.stringValue ?? ""
        record.signature = d["signature"]?.stringValue ?? ""
        record.signedBy = d["signed_by"]?.stringValue
        record.newCA = d["new_ca"]?.boolValue ?? false
        record.newSmartMeter = d["new_smart_meter"]?.boolValue ?? true
        record.newPrograms = d["new_programs"]?.boolValue ?? false
        record.agentVersion = d["agent_version"]?.stringValue.flatMap(Version.init)
        return record
    }

    private static func origin(_ d: JSONValue) throws(StateFileError) -> UpdateOrigin {
        if let no = d["command_no"]?.integerValue { return .panel(commandNo: no) }
        if let id = d["local_id"]?.integerValue { return .local(id: id) }
        throw .malformed("neither command_no nor local_id")
    }

    private static func source(_ d: JSONValue) throws(StateFileError) -> UpdateSource {
        if let name = d["file"]?.stringValue { return .file(name: name) }
        guard let url = d["url"]?.stringValue else { throw .malformed("neither url nor file") }
        var sha: [UInt8]?
        if let text = d["sha256"]?.stringValue {
            guard let bytes = Hex.decode(Array(text.utf8)[...], count: 32) else { throw .malformed("bad sha256") }
            sha = bytes
        }
        return .https(url: url, sha256: sha, signatureURL: d["signature_url"]?.stringValue ?? url + ".sig")
    }

    private static func expected(_ items: [JSONValue]) throws(StateFileError) -> [UpdateCommand.Expected] {
        var expected: [UpdateCommand.Expected] = []
        for item in items {
            guard let name = item["name"]?.stringValue, let text = item["version"]?.stringValue,
                  let version = Version(text) else { throw .malformed("a process is incomplete") }
            expected.append(UpdateCommand.Expected(name: name, version: version))
        }
        return expected
    }

    private static func previous(_ items: [JSONValue]) throws(StateFileError) -> [ProcessSpec] {
        var previous: [ProcessSpec] = []
        for item in items {
            guard let name = item["name"]?.stringValue, let command = item["run_command"]?.stringValue,
                  let uid = item["uid"]?.integerValue, let gid = item["gid"]?.integerValue,
                  uid >= 0, uid <= Int64(UInt32.max), gid >= 0, gid <= Int64(UInt32.max)
            else { throw .malformed("a previous process is incomplete") }
            // Journals before the field: unverified, so a listed process that never
            // started (uid 0) runs as the app user, never as root (`RunIdentity`).
            let verified = item["verified"]?.boolValue ?? false
            previous.append(ProcessSpec(name: name, runCommand: command, uid: UInt32(uid), gid: UInt32(gid), verified: verified))
        }
        return previous
    }
}

/// The folder renames of an update. Each is safe to repeat after a crash
/// at any point: which folders exist says how far it got, so a second run
/// completes it and never loses the working folder.
package struct FolderSwap {
    package let paths: AgentPaths

    /// Removes the `SmartMeter.prev` an earlier update left, before this one
    /// moves anything: a tree root cannot remove (the app user owns it and
    /// can make it too deep, or the card fails) refuses the update while the
    /// working folder is untouched.
    package func removeOlderPrevious() throws(Errno) {
        try Files.removeTree(paths.previousSmartMeter)
        Files.syncFolder(of: paths.previousSmartMeter)
    }

    /// `staged` (the unpacked `SmartMeter/`) becomes `SmartMeter`; the
    /// current one is kept as `SmartMeter.prev` (replacing an older one).
    package func install(_ staged: String) throws(Errno) {
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
    /// `SmartMeter.failed` for inspection. While `staged` is still there the
    /// new folder never went into place: SmartMeter, when present, is the
    /// working one and stays, and a `SmartMeter.prev` beside it is an older
    /// update's, never put back over it.
    package func restore(_ staged: String, hadPrevious: Bool) throws(Errno) {
        if exists(staged) {
            // Stopped between install's two renames: the working folder is `.prev`.
            if hadPrevious && !exists(paths.smartMeter) && exists(paths.previousSmartMeter) {
                try Files.rename(paths.previousSmartMeter, to: paths.smartMeter)
            }
        } else if hadPrevious {
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
