import TinyBase

/// One process the agent watches, as the registry keeps it.
public struct SupervisedProcess: Equatable {
    public var name: String
    /// The pid that heartbeats.
    public var pid: Int32
    /// The session/process group the agent started it in; nil for a
    /// process it adopted (started by someone else, or by an earlier run).
    public var group: Int32?
    /// Start time of `pid` (clock ticks since boot), which tells it from a
    /// later process that reuses the number.
    public var startTime: Int64?
    public var uid: UInt32
    public var gid: UInt32
    /// The command the agent may run to restart it; nil when it may not.
    public var runCommand: String?
    /// The run_command bytes as last seen in a heartbeat (still escaped), to
    /// notice a change without decoding every heartbeat.
    var lastCommandBytes: [UInt8] = []
    /// The sender held the socket (DESIGN.md §4); otherwise the command came from
    /// the allowlist.
    public var verified: Bool
    public var version: Version
    /// Written only by `take`, from `SupervisorTable`.
    public private(set) var state: ProcessState
    /// When it is due next: heartbeat, end of a grace or a back-off, a poll
    /// while it is being stopped. Written only by `take`.
    public private(set) var deadline: Instant?
    public var lastHeartbeat: Instant?
    /// Wall-clock time of the last heartbeat, for status reports.
    public var lastHeartbeatWall: Int64 = 0
    /// Wall-clock time the agent learned of it (0: not yet stamped), so an
    /// entry never heard from still expires (`name_expiry_days`).
    public var knownSince: Int64 = 0
    package var startedAt: Instant?
    /// When SIGTERM was sent in the current stop.
    package var stopStartedAt: Instant?
    /// The shell the agent started exited during a stop while its group
    /// still had members: the stop waits for the group to empty.
    var leaderExited = false
    /// Starts within the restart window, oldest first.
    var recentStarts: [Instant] = []
    var consecutiveFailures = 0
    public var restarts = 0
    /// Why it is `failed`, for the status report.
    public var failure: String?
    /// Stopped by `tinyagent stop`: kept stopped (through exits, late
    /// heartbeats, the manifest, reloads and agent restarts) until `start`
    /// or `restart`. Kept in the registry.
    public var operatorStopped = false
    /// How it is started, from the manifest (defaults when not listed).
    public var launch = LaunchOptions()
    /// When the agent last started it (wall clock; 0: never) and why —
    /// "no heartbeat for N ms", "exited with status S", "killed by signal
    /// N", "restart requested", "listed in the manifest" — for status.
    public var lastStartWall: Int64 = 0
    public var lastStartReason: String?
    /// Why it ended, until the start it leads to (`lastStartReason`).
    var endReason: String?
    /// It has ended and nothing runs under its pid: status shows no pid.
    public var ended = false
    /// Another live pid heartbeating this name (a second instance started
    /// by hand): its heartbeats are ignored, and status says `duplicate`.
    public var duplicatePid: Int32?

    public init(name: String, pid: Int32, uid: UInt32, gid: UInt32, runCommand: String?, verified: Bool,
                version: Version, state: ProcessState) {
        self.name = name
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.runCommand = runCommand
        self.verified = verified
        self.version = version
        self.state = state
    }

    /// Takes `event` through `SupervisorTable`: the only way a known
    /// process's state and deadline change.
    package mutating func take(_ event: SupervisorEvent, _ facts: SupervisorFacts, _ times: SupervisorTimes) -> SupervisorStep {
        let step = SupervisorTable.next(state, on: event, facts, times)
        state = step.state
        deadline = step.deadline
        return step
    }

    /// Whether `bytes` (a heartbeat's process_name) is this process's name.
    func hasName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        name.utf8.count == bytes.count && name.utf8.elementsEqual(bytes)
    }
}

/// A process to start: what an update's manifest or the table before it names.
public struct ProcessSpec: Equatable, Sendable {
    public var name: String
    public var runCommand: String
    public var uid: UInt32
    public var gid: UInt32
    /// The command came from a verified sender of `uid`; false for a
    /// manifest's, which runs as the app user or its `user` (`RunIdentity`).
    public var verified: Bool
    public var launch = LaunchOptions()

    public init(name: String, runCommand: String, uid: UInt32, gid: UInt32, verified: Bool) {
        self.name = name
        self.runCommand = runCommand
        self.uid = uid
        self.gid = gid
        self.verified = verified
    }

    /// A process the manifest lists: SmartMeter code, run as the app user,
    /// or as its `user` when `users` allows that account.
    public static func listed(_ process: UpdateManifest.Process, users: ManifestUsers,
                              lookUp: (String) -> UserLookup = Processes.lookUp(user:)) throws(ManifestError) -> ProcessSpec {
        var spec = ProcessSpec(name: process.name, runCommand: process.runCommand, uid: 0, gid: 0, verified: false)
        spec.launch = LaunchOptions(restart: process.restart, environment: process.environment, cwd: process.cwd)
        guard let user = process.user else { return spec }
        let named = lookUp(user)
        guard let identity = named.identity else {
            throw ManifestError("process \(process.name): user \"\(user)\" \(named == .noAnswer ? named.absence : "does not exist on this machine"); not started")
        }
        if let refusal = users.refusal(of: user, identity, for: process.name) {
            throw ManifestError("process \(process.name): user \"\(user)\" \(refusal); not started")
        }
        spec.launch.user = identity
        return spec
    }
}

/// Whom a manifest may name as a process's `user` (DESIGN.md §3). The manifest
/// lives in SmartMeter/, the app user's folder: whatever it says, the app
/// user could have written. So it may name the app user, and the accounts
/// root's settings list in `process_users`; root only for a process root's
/// settings list in `root_processes`, and only in a manifest root owns and
/// no one else can write (otherwise the app user would choose the command
/// root runs).
public struct ManifestUsers: Equatable, Sendable {
    public var appUser: Identity?
    public var processUsers: [String]
    public var rootProcesses: [String]
    /// The manifest file is root's and not group- or other-writable.
    public var manifestIsRoots: Bool

    public init(appUser: Identity?, processUsers: [String], rootProcesses: [String], manifestIsRoots: Bool) {
        self.appUser = appUser
        self.processUsers = processUsers
        self.rootProcesses = rootProcesses
        self.manifestIsRoots = manifestIsRoots
    }

    /// Why `user` (whose account is `identity`) may not run process `name`;
    /// nil when it may.
    package func refusal(of user: String, _ identity: Identity, for name: String) -> String? {
        if identity.uid == 0 {
            guard rootProcesses.contains(name) else { return "is root, and root's settings do not list \(name) in root_processes" }
            guard manifestIsRoots else {
                return "is root, and the manifest is not root's (owned by root, not group- or other-writable): the app user could have written it"
            }
            return nil
        }
        if identity.uid == appUser?.uid || processUsers.contains(user) { return nil }
        return "is not the app user, and root's settings do not list it in process_users"
    }
}

/// How the agent starts a process: what the manifest says beyond its
/// command (the defaults for a process learned from heartbeats).
public struct LaunchOptions: Equatable, Sendable {
    public var restart: RestartMode
    /// The manifest's `user`, looked up; nil: whom `RunIdentity` says.
    public var user: Identity?
    /// `NAME=value` each.
    public var environment: [String]
    /// Relative to SmartMeter/, checked by the manifest's parser.
    public var cwd: String?

    public init(restart: RestartMode = .always, user: Identity? = nil, environment: [String] = [], cwd: String? = nil) {
        self.restart = restart
        self.user = user
        self.environment = environment
        self.cwd = cwd
    }
}
