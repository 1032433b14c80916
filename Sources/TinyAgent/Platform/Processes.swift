import CShims

/// A user's identity for running a command.
public struct Identity: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
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
    public static var parentPID: Int32 { ta_getppid() }
    public static var effectiveUID: UInt32 { ta_geteuid() }
    /// The agent's own identity (no user database look-up).
    public static var ownIdentity: Identity { Identity(uid: ta_geteuid(), gid: ta_getegid()) }

    /// Starts `/bin/sh -c command` in a new session in `folder`, with
    /// `environment` (`NAME=value` each) added (see `ta_spawn`). Returns the
    /// child's pid, which is also its process group.
    static func spawn(command: String, in folder: Folder, output: FileDescriptor, as identity: Identity?,
                      environment: [String] = []) throws(Errno) -> Int32 {
        var packed: [UInt8] = []
        for entry in environment { packed += entry.utf8; packed.append(0) }
        packed.append(0)
        let pid = withCString(command) { cmd in
            packed.withUnsafeBufferPointer { env in
                env.baseAddress!.withMemoryRebound(to: CChar.self, capacity: env.count) { extra in
                    ta_spawn(cmd, folder.fd.rawValue, output.rawValue, identity == nil ? 0 : 1, identity?.uid ?? 0, identity?.gid ?? 0,
                             extra, environment.count)
                }
            }
        }
        if pid < 0 { throw Errno(rawValue: -pid) }
        return pid
    }

    /// `kill(2)`; sending to a process that is gone is not an error.
    static func signal(_ pid: Int32, _ signal: Signal) {
        _ = ta_kill(pid, signal.rawValue)
    }

    /// Signals the process group `pgid`.
    static func signalGroup(_ pgid: Int32, _ signal: Signal) {
        _ = ta_kill_group(pgid, signal.rawValue)
    }

    /// Whether process group `pgid` still has a member (`kill(-pgid, 0)`).
    static func groupExists(_ pgid: Int32) -> Bool {
        ta_group_exists(pgid) != 0
    }

    static func processGroup(of pid: Int32) -> Int32? {
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
    static func holdsSocket(pid: Int32, inode: UInt64) -> Bool { ta_pid_has_socket(pid, inode) == 1 }

    /// A direct child of `parent` holding the socket, or nil.
    static func childHoldingSocket(parent: Int32, inode: UInt64) -> Int32? {
        let pid = ta_child_with_socket(parent, inode)
        return pid > 0 ? pid : nil
    }

    /// The only child of `parent`, or nil when it has none or several.
    static func soleChild(of parent: Int32) -> Int32? {
        let pid = ta_sole_child(parent)
        return pid > 0 ? pid : nil
    }

    /// The uid `pid` runs as when its real, effective and saved uids are all
    /// that one (whoever has that uid may signal it); nil otherwise or when gone.
    static func soleUID(of pid: Int32) -> UInt32? {
        let uid = ta_process_sole_uid(pid)
        return uid < 0 ? nil : UInt32(uid)
    }

    /// The parent of `pid`, or nil when it is gone.
    static func parent(of pid: Int32) -> Int32? {
        let ppid = ta_parent_pid(pid)
        return ppid < 0 ? nil : ppid
    }

    /// The real gid `pid` runs with, or nil.
    /// Whether `gid` is one of `pid`'s supplementary groups.
    static func isInGroup(_ pid: Int32, gid: UInt32) -> Bool { ta_process_in_group(pid, gid) == 1 }

    static func gid(of pid: Int32) -> UInt32? {
        let gid = ta_process_gid(pid)
        return gid < 0 ? nil : UInt32(gid)
    }

    public static func identity(ofUID uid: UInt32) -> Identity {
        var gid: UInt32 = 0
        // A uid without a passwd entry keeps a group of the same number.
        return ta_user_by_uid(uid, &gid, nil, 0) == 0 ? Identity(uid: uid, gid: gid) : Identity(uid: uid, gid: uid)
    }

    public static func identity(ofUser name: String) -> Identity? {
        var uid: UInt32 = 0, gid: UInt32 = 0
        let found = withCString(name) { ta_user_by_name($0, &uid, &gid) } == 0
        return found ? Identity(uid: uid, gid: gid) : nil
    }
}
