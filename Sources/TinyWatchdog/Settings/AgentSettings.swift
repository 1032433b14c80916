import TinyBase

/// The agent's settings file, `cfg/agent.json`: optional, plain JSON, every
/// key has a default. A key the agent does not know, or a value of the wrong
/// type or range, is reported and the default kept: a typo must not stop the
/// meter readers from being watched.
public struct AgentSettings: Equatable {
    public var heartbeatPort: UInt16 = 4951
    public var policy = RestartPolicy()
    /// Per-process heartbeat deadlines overriding `policy.heartbeatTimeout`.
    public var processTimeouts: [String: Duration] = [:]
    /// Commands the agent may run for a heartbeat whose sender it could not
    /// verify (the SmartMeter manifest adds to these).
    public var allowlist: [String] = []
    /// The app user, who SmartMeter code runs as (allowlisted and manifest
    /// commands, root senders' commands); default: the owner of `SmartMeter/`.
    /// Never root (DESIGN.md §3).
    public var runAs: String?
    /// Process names whose verified root heartbeats may restart them as root;
    /// any other root sender's command runs as the app user.
    public var rootProcesses: [String] = []
    /// Accounts besides the app user that the manifest may name as a
    /// process's `user` (the manifest is the app user's file: without root's
    /// leave it could run code as anyone).
    public var processUsers: [String] = []
    /// How many names one uid may hold in the registry, so that no user can
    /// take every name (or the table) from another.
    public var maximumNamesPerUID = 16
    /// A failed or stopped process not heard from for this long is
    /// forgotten, freeing its name.
    public var nameExpiry = Duration.seconds(7 * 86_400)
    public var logMaximumBytes: Int64 = 1 << 20
    public var logKeep = 3
    public var processLogMaximumBytes: Int64 = 1 << 20
    public var maximumProcesses = 64
    public var update = UpdateSettings()
    /// The unprivileged user the XMPP link and the update worker run as
    /// (`nobody`, with a warning, when it does not exist).
    public var helperUser = "tinyagent"
    /// `reconnect_spread_ms`: the window the XMPP link's first retry after a
    /// lost session is drawn from (ReconnectBackoff); size it to the fleet.
    public var reconnectSpread = Duration.seconds(60)

    public init() {}

    public static let keys = [
        "heartbeat_port", "heartbeat_timeout_ms", "kill_grace_ms", "restart_backoff_initial_ms",
        "restart_backoff_max_ms", "restart_limit", "restart_window_ms", "stable_after_ms",
        "process_timeouts_ms", "allowlist", "run_as", "root_processes", "process_users", "max_names_per_uid", "name_expiry_days", "log_max_bytes", "log_keep",
        "process_log_max_bytes", "max_processes", "update_timeout_s", "download_max_bytes", "download_allow_http",
        "download_connect_timeout_ms", "download_idle_timeout_ms", "reserve_free_bytes", "unpack_max_bytes",
        "unpack_max_entries", "unpack_max_ratio", "reconnect_spread_ms", "helper_user",
    ]

    /// Reads the settings, keeping every good key of a file with mistakes
    /// (`SettingsReader`); `errors` and `warnings` say what was wrong, where
    /// (line:column) and with which key.
    public static func parse(_ bytes: [UInt8], file: String = "cfg/agent.json") -> SettingsReading {
        let reader = withBytes(of: bytes) { SettingsReader($0, file: file) }
        var reading = SettingsReading(settings: AgentSettings(), errors: reader.errors, warnings: reader.warnings)
        for member in reader.members {
            guard keys.contains(member.key) else {
                let hint = closestMatch(to: member.key, among: keys).map { "; did you mean \"\($0)\"?" } ?? " ignored"
                reading.warnings.append("\(file): unknown key \"\(shown(member.key))\" at \(member.position)\(hint)")
                continue
            }
            if let problem = reading.settings.apply(member.key, member.value) {
                reading.warnings.append("\(file): \"\(member.key)\" at \(member.position) \(problem); default kept")
            }
        }
        return reading
    }

    /// Sets one key; returns what is wrong with the value, or nil.
    private mutating func apply(_ key: String, _ value: JSONValue) -> String? {
        let value = SettingValue(json: value)
        var applied = applyPolicy(key, value)
        if case .notHere = applied { applied = applyAgent(key, value) }
        if case .notHere = applied { applied = applyUpdate(key, value) }
        switch applied {
        case .done: return nil
        case .wrong(let why): return why
        case .notHere: return "is not a setting"
        }
    }

    /// The restart policy's keys.
    private mutating func applyPolicy(_ key: String, _ value: SettingValue) -> Applied {
        let anHour: Int64 = 3_600_000
        switch key {
        case "heartbeat_timeout_ms":
            guard let i = value.integer(100...anHour) else { return .wrong("\(SettingValue.bad) 100...\(anHour)") }
            policy.heartbeatTimeout = .milliseconds(i)
        case "kill_grace_ms":
            guard let i = value.integer(0...600_000) else { return .wrong("\(SettingValue.bad) 0...600000") }
            policy.killGrace = .milliseconds(i)
        case "restart_backoff_initial_ms":
            guard let i = value.integer(0...anHour) else { return .wrong("\(SettingValue.bad) 0...\(anHour)") }
            policy.initialBackoff = .milliseconds(i)
        case "restart_backoff_max_ms":
            guard let i = value.integer(0...anHour) else { return .wrong("\(SettingValue.bad) 0...\(anHour)") }
            policy.maximumBackoff = .milliseconds(i)
        case "restart_limit":
            guard let i = value.integer(1...1000) else { return .wrong("\(SettingValue.bad) 1...1000") }
            policy.restartLimit = Int(i)
        case "restart_window_ms":
            guard let i = value.integer(1000...(24 * anHour)) else { return .wrong("\(SettingValue.bad) 1000...\(24 * anHour)") }
            policy.restartWindow = .milliseconds(i)
        case "stable_after_ms":
            guard let i = value.integer(0...(24 * anHour)) else { return .wrong("\(SettingValue.bad) 0...\(24 * anHour)") }
            policy.stableAfter = .milliseconds(i)
        case "process_timeouts_ms":
            guard let members = value.json.objectValue else { return .wrong("must be an object of name: milliseconds") }
            var timeouts: [String: Duration] = [:]
            for (name, ms) in members {
                guard let i = ms.integerValue, i >= 100, i <= anHour else { return .wrong("\"\(Self.shown(name))\": \(SettingValue.bad) 100...\(anHour)") }
                timeouts[name] = .milliseconds(i)
            }
            processTimeouts = timeouts
        default:
            return .notHere
        }
        return .done
    }

    /// The agent's own keys: its port, users, names, logs and processes.
    private mutating func applyAgent(_ key: String, _ value: SettingValue) -> Applied {
        switch key {
        case "heartbeat_port":
            guard let i = value.integer(1...65535) else { return .wrong("\(SettingValue.bad) 1...65535") }
            heartbeatPort = UInt16(i)
        case "allowlist":
            guard let commands = value.strings() else { return .wrong("must be an array of non-empty command strings") }
            allowlist = commands
        case "run_as":
            guard let user = value.json.stringValue, !user.isEmpty else { return .wrong("must be a user name") }
            runAs = user
        case "helper_user":
            guard let user = value.json.stringValue, !user.isEmpty else { return .wrong("must be a user name") }
            helperUser = user
        case "root_processes":
            guard let names = value.strings() else { return .wrong("must be an array of non-empty process names") }
            rootProcesses = names
        case "process_users":
            guard let names = value.strings() else { return .wrong("must be an array of non-empty user names") }
            processUsers = names
        case "max_names_per_uid":
            guard let i = value.integer(1...1024) else { return .wrong("\(SettingValue.bad) 1...1024") }
            maximumNamesPerUID = Int(i)
        case "name_expiry_days":
            guard let i = value.integer(1...3650) else { return .wrong("\(SettingValue.bad) 1...3650") }
            nameExpiry = .seconds(i * 86_400)
        case "log_max_bytes":
            guard let i = value.integer(4096...(1 << 30)) else { return .wrong("\(SettingValue.bad) 4096...\(1 << 30)") }
            logMaximumBytes = i
        case "log_keep":
            guard let i = value.integer(1...20) else { return .wrong("\(SettingValue.bad) 1...20") }
            logKeep = Int(i)
        case "process_log_max_bytes":
            guard let i = value.integer(4096...(1 << 30)) else { return .wrong("\(SettingValue.bad) 4096...\(1 << 30)") }
            processLogMaximumBytes = i
        case "max_processes":
            guard let i = value.integer(1...1024) else { return .wrong("\(SettingValue.bad) 1...1024") }
            maximumProcesses = Int(i)
        case "reconnect_spread_ms":
            guard let i = value.integer(0...300_000) else { return .wrong("\(SettingValue.bad) 0...300000") }
            reconnectSpread = .milliseconds(i)
        default:
            return .notHere
        }
        return .done
    }

    /// The update's keys (`UpdateSettings`).
    private mutating func applyUpdate(_ key: String, _ value: SettingValue) -> Applied {
        switch key {
        case "update_timeout_s":
            guard let i = value.integer(1...86_400) else { return .wrong("\(SettingValue.bad) 1...86400") }
            update.verifyTimeout = .seconds(i)
        case "download_max_bytes":
            guard let i = value.integer(1024...(1 << 34)) else { return .wrong("\(SettingValue.bad) 1024...\(1 << 34)") }
            update.downloadMaximumBytes = i
        case "download_allow_http":
            guard let b = value.json.boolValue else { return .wrong("must be true or false") }
            update.allowPlainHTTP = b
        case "download_connect_timeout_ms":
            guard let i = value.integer(100...600_000) else { return .wrong("\(SettingValue.bad) 100...600000") }
            update.connectTimeout = .milliseconds(i)
        case "download_idle_timeout_ms":
            guard let i = value.integer(100...600_000) else { return .wrong("\(SettingValue.bad) 100...600000") }
            update.idleTimeout = .milliseconds(i)
        case "reserve_free_bytes":
            guard let i = value.integer(0...(1 << 40)) else { return .wrong("\(SettingValue.bad) 0...\(1 << 40)") }
            update.reserveBytes = i
        case "unpack_max_bytes":
            guard let i = value.integer(1024...(1 << 36)) else { return .wrong("\(SettingValue.bad) 1024...\(1 << 36)") }
            update.unpackMaximumBytes = i
        case "unpack_max_entries":
            guard let i = value.integer(1...1_000_000) else { return .wrong("\(SettingValue.bad) 1...1000000") }
            update.unpackMaximumEntries = Int(i)
        case "unpack_max_ratio":
            guard let i = value.integer(2...100_000) else { return .wrong("\(SettingValue.bad) 2...100000") }
            update.unpackMaximumRatio = i
        default:
            return .notHere
        }
        return .done
    }

    /// A key from the file as a warning may show it: a warning is one log line,
    /// and JSON escapes can put newlines and control characters in a key.
    package static func shown(_ key: String) -> String { EntryName.printable(Array(key.utf8)) }

    /// The heartbeat deadline of process `name`.
    public func heartbeatTimeout(for name: String) -> Duration {
        processTimeouts[name] ?? policy.heartbeatTimeout
    }
}

/// `cfg/agent.json` as read: the settings, and what was wrong with the file.
public struct SettingsReading {
    public var settings: AgentSettings
    /// The text itself was broken somewhere (some settings may be lost).
    public var errors: [String]
    /// Keys or values ignored, or slips read past.
    public var warnings: [String]
}

/// What one settings key did to the settings.
private enum Applied {
    case done
    case wrong(String)
    /// The key belongs to another group.
    case notHere
}

/// One setting's value, read as the key wants it.
private struct SettingValue {
    let json: JSONValue
    static let bad = "must be an integer in range"

    func integer(_ range: ClosedRange<Int64>) -> Int64? {
        guard let i = json.integerValue, range.contains(i) else { return nil }
        return i
    }

    /// An array of non-empty strings.
    func strings() -> [String]? {
        guard let items = json.arrayValue else { return nil }
        var found: [String] = []
        for item in items {
            guard let text = item.stringValue, !text.isEmpty else { return nil }
            found.append(text)
        }
        return found
    }
}
