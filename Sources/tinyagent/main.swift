// The front door: parses the command line and calls into TinyAgent.
import TinyAgent
import TinyBase

let usage = """
    usage: tinyagent <command> [options]

    commands:
      run [--root DIR] [--heartbeat-port N]
          Run the agent: watch the SmartMeter processes' heartbeats and restart
          silent or crashed ones. Root default: \(AgentPaths.defaultRoot).
      heartbeat --name NAME --version X.Y.Z [--pid PID] [--run-command CMD] [--socket PATH] [--port N]
          Send one heartbeat (pid defaults to the calling process, so a shell
          script can use it). It goes to the agent's Unix socket, where the
          kernel names the sender: PATH, else $TINYAGENT_HEARTBEAT_SOCKET, else
          (no port named) \(HeartbeatClient.defaultSocket) if it exists; over UDP
          when there is none or it cannot be reached, to the port: N, else
          $TINYAGENT_HEARTBEAT_PORT, else 4951.
      status [--root DIR] [--json]
          Show the running agent's processes.
      stop NAME [--root DIR]
          Stop the process NAME (SIGTERM to its group, SIGKILL after the
          grace) and keep it stopped: not restarted by silence, the manifest,
          reload or an agent restart until start or restart. Root only.
      start NAME [--root DIR]
          Start a stopped or failed process again. Root only.
      restart NAME [--root DIR]
          Stop the process NAME and start it again. Root only.
      forget NAME [--root DIR]
          Remove a stopped or failed process from the registry and the status
          (one the manifest lists is refused: remove it there and reload).
          Root only.
      reload [--root DIR]
          Re-read cfg/agent.json and SmartMeter/tinyagent.json (as SIGHUP
          does): the new settings apply from now on (heartbeat_port, run_as,
          helper_user, the agent's own log and update settings at the next
          start: it says which), the listed processes not running are
          started. Root only.
      check [--root DIR] [--json]
          Check what the agent reads at start, as it reads it: the folders'
          owners and modes, cfg/agent.json, SmartMeter/tinyagent.json, the
          config (with the fleet key cfg/key when present) and the CA file.
          One line per problem on stdout (--json: {"ok", "checked",
          "problems"}); exit 0 only when all is well, else 78. Needs no
          running agent.
      logs NAME [--root DIR] [-n N] [-f]
          Print the last N lines (default 10) of the process's output log,
          logs/NAME.log; -f (--follow) goes on printing what it writes, across
          its restarts. Root and the app user's group.
      update --file X.zip [--sig X.zip.sig] [--wait] [--root DIR]
          Install an update archive from a local file (a USB stick), as the
          panel's are installed: signature checked (SIG, default X.zip.sig
          when it exists), unpacked, swapped, confirmed by the versions its
          SmartMeter/tinyagent.json names, rolled back otherwise. Progress
          on stderr. With --wait, exit 0 only on a confirmed install, else
          the reason (65). Root only.
      config encrypt --in PLAIN.json --out config_file.bin [--key-file F]
          Validate a plain JSON config and write it encrypted (mode 0600).
      config decrypt --in config_file.bin [--show-secrets] [--key-file F]
          Print the decrypted config; the password is masked unless asked.
      config check [--root DIR] [--key-file F]
          Decrypt and validate ROOT/cfg/config_file.bin; one line either way.
          Key file: lines key=<64 hex digits> and iv=<32 hex digits>, as for
          openssl enc -aes-256-cbc -K KEY -iv IV. check (and run) use
          ROOT/cfg/key when no --key-file is given and it exists (it must be
          root's, mode 0600), else the seed's key, as encrypt and decrypt do.
      panelmap --url URL --panel-id ID [--cacert FILE]
          POST {"panel_id": ID} to URL/api/panelmap (URL: the backend, http or
          https; a URL ending in /api/panelmap is used as it is) and print the
          response body. HTTPS trusts only FILE (default:
          \(AgentPaths(root: AgentPaths.defaultRoot).caFile)). A non-2xx status exits 69.
      verify X.zip [--sig X.zip.sig] [--root DIR]
          Check an update archive's signature against ROOT/certs/update-keys/
          as the agent does before unpacking; installs nothing. Exit 65 when
          the agent would refuse it.
      version
          Print the agent's version.

    Every command takes --help.

    exit status: 0 ok, 64 usage error, 65 bad data (stop, start, restart,
    forget, logs: no such process or log), 66 input file missing or
    unreadable, 69 agent or service unavailable (run: another agent serves the
    root; a verb: the agent is not running, or will not do it now), 71 system
    error (run: the root folder is missing), 77 permission denied (status,
    logs: not root or the app user's group; stop, start, restart, forget,
    reload: not root), 78 run: the agent's folders are unsafe (owned by or
    writable for another user; the log says what, one line per problem);
    check: a problem found.
    """

/// Options after the command: `--flag value` pairs and bare `--switch`es.
struct Options {
    var values: [String: String] = [:]
    var switches: [String] = []

    init(_ args: ArraySlice<String>, takingValues valued: [String], switches allowed: [String]) throws(UsageError) {
        var i = args.startIndex
        while i < args.endIndex {
            let arg = args[i]
            if arg == "--help" || arg == "-h" { throw UsageError.help }
            if valued.contains(arg) {
                guard i + 1 < args.endIndex else { throw UsageError("\(arg) needs a value") }
                guard values[arg] == nil else { throw UsageError("\(arg) given twice") }
                values[arg] = args[i + 1]
                i += 2
            } else if allowed.contains(arg) {
                switches.append(arg)
                i += 1
            } else {
                throw UsageError("unknown option \(arg)")
            }
        }
    }

    func port(_ flag: String) throws(UsageError) -> UInt16? {
        guard let text = values[flag] else { return nil }
        guard let n = Int(text), n > 0, n <= 65535 else { throw UsageError("\(flag): not a port number: \(text)") }
        return UInt16(n)
    }
}

struct UsageError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }

    /// `--help` (or `-h`) after a command: its part of the usage, exit 0.
    static let help = UsageError("--help")
    var isHelp: Bool { reason == "--help" }
}

/// The usage's entries for `command` (every `config` entry for "config"),
/// then the exit statuses.
func help(for command: String) -> String {
    var out: [Substring] = []
    var inEntry = false
    var statuses = false
    for line in usage.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("exit status:") {
            statuses = true
            out.append("")
        }
        if statuses {
            out.append(line)
            continue
        }
        if line.hasPrefix("  ") && !line.hasPrefix("   ") {
            let name = line.dropFirst(2).prefix { $0 != " " }
            inEntry = name == command
        } else if !line.hasPrefix("   ") {
            inEntry = false
        }
        if inEntry { out.append(line) }
    }
    guard out.contains(where: { $0.hasPrefix("  ") }) else { return usage }
    var text = "usage:"
    for line in out { text += line.hasPrefix("  ") && !line.hasPrefix("   ") ? "\n  tinyagent " + line.dropFirst(2) : "\n" + line }
    return text
}

/// `$TINYAGENT_HEARTBEAT_PORT`, which the Python helper reads too.
func environmentPort() throws(UsageError) -> UInt16? {
    guard let text = environment("TINYAGENT_HEARTBEAT_PORT") else { return nil }
    guard let n = Int(text), n > 0, n <= 65535 else { throw UsageError("TINYAGENT_HEARTBEAT_PORT: not a port number: \(text)") }
    return UInt16(n)
}

/// A verb about one process: `VERB NAME [--root DIR] [more options]`; the
/// name, the root and the options.
func namedVerb(_ verb: String, _ args: ArraySlice<String>, takingValues valued: [String] = [],
               switches: [String] = []) throws(UsageError) -> (name: String, root: String, options: Options) {
    guard let name = args.first, !name.hasPrefix("-") else {
        if args.first == "--help" || args.first == "-h" { throw UsageError.help }
        throw UsageError("\(verb) needs a process name")
    }
    guard HeartbeatClient.acceptsName(name) else {
        throw UsageError("\(verb): not a process name: \"\(name)\" (1 to 64 of A-Z a-z 0-9 . _ - , not . or ..)")
    }
    let o = try Options(args.dropFirst(), takingValues: ["--root"] + valued, switches: switches)
    return (name, o.values["--root"] ?? AgentPaths.defaultRoot, o)
}

/// `tinyagent config encrypt|decrypt|check`.
func config(_ args: ArraySlice<String>) throws(UsageError) -> Int32 {
    guard let action = args.first else { throw UsageError("config needs encrypt, decrypt or check") }
    if action == "--help" || action == "-h" { throw UsageError.help }
    let rest = args.dropFirst()
    switch action {
    case "encrypt":
        let o = try Options(rest, takingValues: ["--in", "--out", "--key-file"], switches: [])
        guard let input = o.values["--in"] else { throw UsageError("config encrypt needs --in") }
        guard let output = o.values["--out"] else { throw UsageError("config encrypt needs --out") }
        return configOutcome { () throws(ConfigError) in
            try ConfigTool.encrypt(input: input, output: output, keyFile: o.values["--key-file"])
            return nil
        }
    case "decrypt":
        let o = try Options(rest, takingValues: ["--in", "--key-file"], switches: ["--show-secrets"])
        guard let input = o.values["--in"] else { throw UsageError("config decrypt needs --in") }
        return configOutcome { () throws(ConfigError) in
            try ConfigTool.decrypt(input: input, keyFile: o.values["--key-file"], showSecrets: o.switches.contains("--show-secrets"))
        }
    case "check":
        let o = try Options(rest, takingValues: ["--root", "--key-file"], switches: [])
        return configOutcome { () throws(ConfigError) in
            try ConfigTool.check(root: o.values["--root"] ?? AgentPaths.defaultRoot, keyFile: o.values["--key-file"])
        }
    default:
        throw UsageError("unknown config command \(action)")
    }
}

/// Prints what a config command returns, or its error as one line, and gives the exit status.
func configOutcome(_ body: () throws(ConfigError) -> String?) -> Int32 {
    do {
        if let text = try body() { Console.out(text) }
        return ExitStatus.ok
    } catch {
        Console.error(error.reason)
        return error.exitStatus
    }
}

/// The verbs of the running agent's control socket, and `check`; nil for
/// another command.
func localControl(_ command: String, _ rest: ArraySlice<String>) throws(UsageError) -> Int32? {
    switch command {
    case "status":
        let o = try Options(rest, takingValues: ["--root"], switches: ["--json"])
        do {
            let status = try StatusClient.fetch(root: o.values["--root"] ?? AgentPaths.defaultRoot)
            Console.out(o.switches.contains("--json") ? status.text : StatusClient.table(status.report))
            return ExitStatus.ok
        } catch {
            Console.error(error.reason)
            return error.exitStatus
        }
    case "stop", "start", "restart", "forget":
        let (name, root, _) = try namedVerb(command, rest)
        let requests: [String: ControlRequest] = ["stop": .stop(name), "start": .start(name), "restart": .restart(name), "forget": .forget(name)]
        return ControlClient.run(requests[command]!, root: root)
    case "logs":
        let (name, root, o) = try namedVerb(command, rest, takingValues: ["-n"], switches: ["-f", "--follow"])
        var lines = LogsClient.defaultLines
        if let text = o.values["-n"] {
            guard let n = Int(text), n >= 0 else { throw UsageError("-n: not a number of lines: \(text)") }
            lines = n
        }
        return LogsClient.run(name: name, root: root, lines: lines, follow: !o.switches.isEmpty)
    case "check":
        let o = try Options(rest, takingValues: ["--root"], switches: ["--json"])
        return AgentCheck.report(root: o.values["--root"] ?? AgentPaths.defaultRoot, json: o.switches.contains("--json"))
    case "reload":
        let o = try Options(rest, takingValues: ["--root"], switches: [])
        return ControlClient.run(.reload, root: o.values["--root"] ?? AgentPaths.defaultRoot)
    default:
        return nil
    }
}

/// `tinyagent heartbeat`: one datagram, to the Unix socket or over UDP.
func heartbeat(_ rest: ArraySlice<String>) throws(UsageError) -> Int32 {
    let o = try Options(rest, takingValues: ["--name", "--version", "--pid", "--run-command", "--socket", "--port"], switches: [])
    guard let name = o.values["--name"] else { throw UsageError("heartbeat needs --name") }
    guard HeartbeatClient.acceptsName(name) else {
        throw UsageError("--name: the agent refuses \"\(name)\": 1 to 64 of A-Z a-z 0-9 . _ - (not . or ..)")
    }
    guard let versionText = o.values["--version"] else { throw UsageError("heartbeat needs --version") }
    guard let version = Version(versionText) else { throw UsageError("--version: not X.Y.Z: \(versionText)") }
    var pid = Processes.parentPID
    if let text = o.values["--pid"] {
        guard let n = Int32(text), n > 1 else { throw UsageError("--pid: not a pid: \(text)") }
        pid = n
    }
    var port = try o.port("--port")
    if port == nil { port = try environmentPort() }
    let socket = HeartbeatClient.socketPath(named: o.values["--socket"], environment: environment("TINYAGENT_HEARTBEAT_SOCKET"),
                                            portNamed: port != nil)
    let datagram = HeartbeatDatagram.text(name: name, pid: pid, runCommand: o.values["--run-command"], version: version)
    do { try HeartbeatClient.send(datagram, claiming: pid, socket: socket, port: port ?? 4951) } catch {
        Console.error("cannot send the heartbeat to 127.0.0.1:\(port ?? 4951): \(error)")
        return ExitStatus.systemError
    }
    return ExitStatus.ok
}

/// Runs a command that lives in a helper program (ARCHITECTURE.md): execs it,
/// and returns only when that fails.
func helperCommand(_ role: HelperRole, _ arguments: [String]) -> Int32 {
    do {
        let program = try HelperProgram.open(role.program)
        Console.error("\(role.program): \(program.exec(arguments))")
    } catch {
        Console.error(error.reason)
    }
    return ExitStatus.systemError
}

func main(_ args: [String]) throws(UsageError) -> Int32 {
    guard let command = args.first else { throw UsageError("no command given") }
    let rest = args.dropFirst()
    switch command {
    case "run":
        let o = try Options(rest, takingValues: ["--root", "--heartbeat-port"], switches: [])
        let port = try o.port("--heartbeat-port")
        do {
            return try Agent(root: o.values["--root"] ?? AgentPaths.defaultRoot, heartbeatPort: port).run()
        } catch {
            Console.error(error.reason)
            return error.exitStatus
        }
    case "heartbeat":
        return try heartbeat(rest)
    case "update":
        let o = try Options(rest, takingValues: ["--file", "--sig", "--root"], switches: ["--wait"])
        guard let file = o.values["--file"] else { throw UsageError("update needs --file") }
        return UpdateClient.run(file: file, signature: o.values["--sig"], wait: o.switches.contains("--wait"),
                                root: o.values["--root"] ?? AgentPaths.defaultRoot)
    case "config":
        return try config(rest)
    case "panelmap":
        let o = try Options(rest, takingValues: ["--url", "--panel-id", "--cacert"], switches: [])
        guard let url = o.values["--url"] else { throw UsageError("panelmap needs --url") }
        guard let panelID = o.values["--panel-id"] else { throw UsageError("panelmap needs --panel-id") }
        // HTTPS lives in tinyagent-fetch, the one program that links TLS.
        return helperCommand(.fetch, ["panelmap", url, panelID, o.values["--cacert"] ?? AgentPaths(root: AgentPaths.defaultRoot).caFile])
    case "verify":
        guard let archive = rest.first, !archive.hasPrefix("-") else {
            _ = try Options(rest.prefix(1), takingValues: [], switches: [])  // --help
            throw UsageError("verify needs an archive")
        }
        let o = try Options(rest.dropFirst(), takingValues: ["--sig", "--root"], switches: [])
        return VerifyCommand.run(archive: archive, signature: o.values["--sig"], root: o.values["--root"] ?? AgentPaths.defaultRoot)
    case "version":
        _ = try Options(rest, takingValues: [], switches: [])
        Console.out("tinyagent \(agentVersion)")
        return ExitStatus.ok
    case "help", "--help", "-h":
        Console.out(usage)
        return ExitStatus.ok
    default:
        guard let status = try localControl(command, rest) else { throw UsageError("unknown command \(command)") }
        return status
    }
}

do {
    Processes.exit(try main(Processes.arguments()))
} catch {
    if error.isHelp {
        Console.out(help(for: Processes.arguments().first ?? ""))
        Processes.exit(ExitStatus.ok)
    }
    Console.error("\(error.reason)\n\(usage)")
    Processes.exit(ExitStatus.usage)
}
