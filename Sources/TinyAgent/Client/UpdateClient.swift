import TinyBase

/// `tinyagent update --file X.zip [--sig X.zip.sig] [--wait]`: the local
/// source (a technician's USB stick). The CLI opens the files — as the user
/// who runs it, so the agent reads nothing by a path someone else chose — and
/// passes them with the request; the agent installs them as it installs the
/// panel's (`UpdateManager`), and the gate lets only root ask.
public enum UpdateClient {
    /// Progress on stderr; with `wait`, exit 0 only once the new versions are
    /// confirmed, else the reason and its status (65 refused or rolled back)
    /// — also across the agent's restart into new programs of its own.
    public static func run(file: String, signature: String?, wait: Bool, root: String) -> Int32 {
        let signaturePath = signature ?? (Files.size(file + ".sig") != nil ? file + ".sig" : nil)
        var files: [FileDescriptor] = []
        defer { for fd in files { fd.close() } }
        for path in [file] + (signaturePath.map { [$0] } ?? []) {
            do { files.append(try Folder.openRegularFile(path)) } catch {
                Console.error("\(path): \(error)")
                return ExitStatus.noInput
            }
        }
        let request = ControlRequest.LocalUpdate(file: file, signature: signaturePath, wait: wait)
        let started = Clock.wallSeconds()
        var restarting = false
        do throws(ControlClient.Failure) {
            let reply = try ControlClient.ask(.update(request), root: root, passing: files) { line in
                Console.error(line)
                if saysRestarting(line) { restarting = true }
            }
            Console.out(reply.message)
            return ExitStatus.ok
        } catch {
            // The agent exited into its new programs: the answer comes from whichever agent runs next.
            if wait, restarting, case .badReply = error { return awaitOutcome(root: root, since: started) }
            Console.error(error.reason)
            return error.exitStatus
        }
    }

    /// Whether a progress line ("local update: restarting into tinyagent
    /// 1.2.0") is the agent's last before it exits into new programs.
    static func saysRestarting(_ line: String) -> Bool {
        guard let colon = line.firstIndex(of: ":") else { return false }
        return line[line.index(after: colon)...].hasPrefix(" " + SelfUpdate.restarting)
    }

    /// How long a restarted agent may take to come back and end the update:
    /// the update's own deadline runs inside it, plus up to three starts.
    static let restartPatience = Duration.seconds(600)

    /// Polls `status` until no update is in progress and the last one is
    /// this local one (ended at or after `since`); prints its outcome.
    static func awaitOutcome(root: String, since: Int64) -> Int32 {
        Console.error("the agent restarts into its new programs; waiting for the outcome")
        let deadline = Clock.now() + restartPatience
        while Clock.now() < deadline {
            Clock.sleep(.milliseconds(500))
            guard let report = try? StatusClient.fetch(root: root).report,
                  report["update"]?.stringValue == "no update in progress",
                  let last = report["last_update"].flatMap(LastUpdate.decode), last.origin == "local", last.endedAt >= since
            else { continue }
            if last.success {
                Console.out("installed and confirmed: \(last.after)")
                return ExitStatus.ok
            }
            Console.error(last.remark)
            return ExitStatus.dataError
        }
        Console.error("the agent did not end the update within \(restartPatience.seconds) s of its restart; see tinyagent status")
        return ExitStatus.unavailable
    }
}
