import CShims

/// What `fstat(2)` says about an open descriptor: the facts the agent
/// checks before it trusts a byte of a file or a folder (DESIGN.md §3).
public struct FileStatus: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case regular, folder, symbolicLink, fifo, socket, device, other

        /// The word a log line uses.
        public var word: String {
            switch self {
            case .regular: return "regular file"
            case .folder: return "folder"
            case .symbolicLink: return "symbolic link"
            case .fifo: return "FIFO"
            case .socket: return "socket"
            case .device: return "device"
            case .other: return "special file"
            }
        }
    }

    public var kind: Kind
    /// The permission bits, setuid/setgid/sticky included (`mode & 07777`).
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    /// Names the file has (`st_nlink`).
    public var links: UInt64
    /// Which file it is (`st_dev`, `st_ino`): a name now naming another
    /// file (a log rotated away) has another identity.
    public var device: UInt64
    public var inode: UInt64

    package init(_ raw: ta_stat) {
        switch raw.mode & UInt32(TA_S_IFMT) {
        case UInt32(TA_S_IFREG): kind = .regular
        case UInt32(TA_S_IFDIR): kind = .folder
        case UInt32(TA_S_IFLNK): kind = .symbolicLink
        case UInt32(TA_S_IFIFO): kind = .fifo
        case UInt32(TA_S_IFSOCK): kind = .socket
        case UInt32(TA_S_IFCHR), UInt32(TA_S_IFBLK): kind = .device
        default: kind = .other
        }
        permissions = raw.mode & 0o7777
        uid = raw.uid
        gid = raw.gid
        size = raw.size
        links = raw.links
        device = raw.device
        inode = raw.inode
    }

    /// Whether a user other than `uid` (the agent's: root) can change what
    /// is in it: another owner, or write permission for the group or for
    /// everyone. (A group write bit with group root is still flagged: keep
    /// the rule simple.)
    public func writableByOthers(than uid: UInt32) -> Bool { self.uid != uid || permissions & 0o022 != 0 }

    /// A state file written by `owner` (the agent: root): a regular file of
    /// theirs, nobody else may read or write it (0600 or stricter), and no
    /// second name (a hard link made elsewhere is not the agent's file).
    public func isPrivateFile(of owner: UInt32) -> Bool {
        kind == .regular && uid == owner && permissions & 0o7077 == 0 && links == 1
    }

    /// "uid 1000, mode 0644": for log lines about owners and modes.
    public var ownerAndMode: String { "uid \(uid), gid \(gid), mode \(FileStatus.octal(permissions))" }

    static func octal(_ value: UInt32) -> String {
        var digits = ""
        var v = value
        for _ in 0..<4 {
            digits = String(v & 7) + digits
            v >>= 3
        }
        return digits
    }
}

extension FileDescriptor {
    /// `fstat(2)`.
    public func status() throws(Errno) -> FileStatus {
        var raw = ta_stat()
        try nothingOrErrno { ta_fstat(rawValue, &raw) }
        return FileStatus(raw)
    }

    /// `fchown(2)`.
    package func setOwner(uid: UInt32, gid: UInt32) throws(Errno) { try nothingOrErrno { ta_fchown(rawValue, uid, gid) } }

    /// `fchmod(2)`.
    package func setPermissions(_ mode: UInt32) throws(Errno) { try nothingOrErrno { ta_fchmod(rawValue, mode) } }
}
