import CShims

/// A user's identity for running a command.
public struct Identity: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

/// What the user database says of a name.
public enum UserLookup: Equatable, Sendable {
    case found(Identity)
    case missing
    /// The look-up gave no answer within its deadline (a hung NSS backend).
    case noAnswer

    public var identity: Identity? {
        if case .found(let identity) = self { return identity }
        return nil
    }

    /// Why there is no identity, for a one-line message: "does not exist", or that the
    /// database did not answer.
    public var absence: String {
        self == .noAnswer ? "could not be looked up (the user database gave no answer within 5 s)" : "does not exist"
    }
}

/// A child that exited, as `waitpid` reported it.
public struct ChildExit: Equatable, Sendable {
    public let pid: Int32
    /// Its exit status; 0 when a signal killed it.
    public let exitCode: Int32
    /// The signal that killed it; 0 when it exited.
    public let signal: Int32

    /// "exited with status N" or "killed by signal N", for log lines.
    public var how: String { signal != 0 ? "killed by signal \(signal)" : "exited with status \(exitCode)" }
}

/// Process control: spawning, signalling, reaping, and /proc facts.
public enum Processes {
    public static var currentPID: Int32 { ta_getpid() }
    /// The process's arguments, without the program name.
    public static func arguments() -> [String] {
        var result: [String] = []
        var i: Int32 = 1
        while i < ta_argc(), let arg = ta_argv(i) {
            result.append(String(cString: arg))
            i += 1
        }
        return result
    }

    /// Starts the helper program open at `program` as `NAME ARGUMENT [IDS]`,
    /// with `channel` as its descriptor 3 (`ta_spawn_helper`); its pid.
    static func spawnHelper(_ program: FileDescriptor, name: String, argument: String, ids: String?,
                                     channel: FileDescriptor) throws(Errno) -> Int32 {
        let pid = withCString(name) { name in
            withCString(argument) { argument in
                withOptionalCString(ids) { ids in ta_spawn_helper(program.rawValue, name, argument, ids, channel.rawValue) }
            }
        }
        if pid < 0 { throw Errno(rawValue: -pid) }
        return pid
    }

    /// A function of a library this process has loaded, by name (`dlsym`);
    /// nil when that version of the library lacks it.
    package static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        withCString(name) { ta_lookup_symbol($0) }
    }

    /// Ends this process with `status` (`exit(3)`: stdio flushed).
    public static func exit(_ status: Int32) -> Never { ta_exit(status) }

    public static var parentPID: Int32 { ta_getppid() }
    public static var effectiveUID: UInt32 { ta_geteuid() }
    /// The agent's own identity (no user database look-up).
    public static var ownIdentity: Identity { Identity(uid: ta_geteuid(), gid: ta_getegid()) }

    /// Starts `/bin/sh -c command` in a new session in `folder`, with
    /// `environment` (`NAME=value` each) added (see `ta_spawn`). Returns the
    /// child's pid, which is also its process group.
    package static func spawn(command: String, in folder: Folder, output: FileDescriptor, as identity: Identity?,
                      environment: [String] = []) throws(Errno) -> Int32 {
        let pid = withCString(command) { cmd in
            withPacked(environment) { extra in
                ta_spawn(cmd, folder.fd.rawValue, output.rawValue, identity == nil ? 0 : 1, identity?.uid ?? 0, identity?.gid ?? 0,
                         extra, environment.count)
            }
        }
        if pid < 0 { throw Errno(rawValue: -pid) }
        return pid
    }

    /// `strings` packed NUL-terminated, as the C side's `packed`/`count`
    /// arguments take them.
    static func withPacked<R>(_ strings: [String], _ body: (UnsafePointer<CChar>) -> R) -> R {
        var packed: [UInt8] = []
        for string in strings { packed += string.utf8; packed.append(0) }
        packed.append(0)
        return packed.withUnsafeBufferPointer { bytes in
            bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { body($0) }
        }
    }

    /// The folder of this process's executable (`/proc/self/exe`, links
    /// resolved by the kernel): where its helper programs are, and where a
    /// self-update puts new ones (`ProgramFiles`).
    package static func executableFolder() throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBufferPointer { ta_self_path($0.baseAddress, $0.count) }
        if n < 0 { throw Errno(rawValue: Int32(-n)) }
        let path = String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let folder = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(path[..<$0]) } ?? "."
        return folder.isEmpty ? "/" : folder
    }

    /// `kill(2)`; sending to a process that is gone is not an error.
    package static func signal(_ pid: Int32, _ signal: Signal) {
        _ = ta_kill(pid, signal.rawValue)
    }

    /// Signals the process group `pgid`.
    package static func signalGroup(_ pgid: Int32, _ signal: Signal) {
        _ = ta_kill_group(pgid, signal.rawValue)
    }

    /// Whether process group `pgid` still has a member (`kill(-pgid, 0)`).
    package static func groupExists(_ pgid: Int32) -> Bool {
        ta_group_exists(pgid) != 0
    }

    package static func processGroup(of pid: Int32) -> Int32? {
        let pgid = ta_getpgid(pid)
        return pgid < 0 ? nil : pgid
    }

    /// Whether `pid` runs (it may belong to another user); a zombie does not.
    public static func isAlive(_ pid: Int32) -> Bool {
        ta_process_start_time(pid) >= 0
    }

    /// An exited child and how it ended, without blocking; nil when none.
    static func reap() -> ChildExit? {
        var status: Int32 = 0
        let pid = ta_reap(&status)
        guard pid > 0 else { return nil }
        return ChildExit(pid: pid, exitCode: ta_exit_code(status), signal: ta_exit_signal(status))
    }

    /// Start time of `pid` in clock ticks since boot, to tell a process from
    /// a later one that reuses its pid.
    public static func startTime(of pid: Int32) -> Int64? {
        let t = ta_process_start_time(pid)
        return t < 0 ? nil : t
    }

    /// Whether /proc/PID/fd holds the socket with this inode.
    package static func holdsSocket(pid: Int32, inode: UInt64) -> Bool { ta_pid_has_socket(pid, inode) == 1 }

    /// A direct child of `parent` holding the socket, or nil.
    package static func childHoldingSocket(parent: Int32, inode: UInt64) -> Int32? {
        let pid = ta_child_with_socket(parent, inode)
        return pid > 0 ? pid : nil
    }

    /// The only child of `parent`, or nil when it has none or several.
    package static func soleChild(of parent: Int32) -> Int32? {
        let pid = ta_sole_child(parent)
        return pid > 0 ? pid : nil
    }

    /// The uid `pid` runs as when its real, effective and saved uids are all
    /// that one (whoever has that uid may signal it); nil otherwise or when gone.
    package static func soleUID(of pid: Int32) -> UInt32? {
        let uid = ta_process_sole_uid(pid)
        return uid < 0 ? nil : UInt32(uid)
    }

    /// The parent of `pid`, or nil when it is gone.
    package static func parent(of pid: Int32) -> Int32? {
        let ppid = ta_parent_pid(pid)
        return ppid < 0 ? nil : ppid
    }

    /// The real gid `pid` runs with, or nil.
    /// Whether `gid` is one of `pid`'s supplementary groups.
    package static func isInGroup(_ pid: Int32, gid: UInt32) -> Bool { ta_process_in_group(pid, gid) == 1 }

    package static func gid(of pid: Int32) -> UInt32? {
        let gid = ta_process_gid(pid)
        return gid < 0 ? nil : UInt32(gid)
    }

    public static func identity(ofUID uid: UInt32) -> Identity {
        var gid: UInt32 = 0
        // A uid without a passwd entry keeps a group of the same number.
        return ta_user_by_uid(uid, &gid) == 0 ? Identity(uid: uid, gid: gid) : Identity(uid: uid, gid: uid)
    }

    /// The user `name` of the passwd database, looked up in a child process (a hung NSS
    /// backend costs 5 s and is `.noAnswer`: Sources/CShims/users.c).
    public static func lookUp(user name: String) -> UserLookup {
        var uid: UInt32 = 0, gid: UInt32 = 0
        switch withCString(name, { ta_user_by_name($0, &uid, &gid) }) {
        case 0: return .found(Identity(uid: uid, gid: gid))
        case -1: return .missing
        default: return .noAnswer
        }
    }
}
