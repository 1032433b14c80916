/// The exit statuses of `tinyagent`, after sysexits(3).
public enum ExitStatus {
    public static let ok: Int32 = 0
    /// Bad command line.
    public static let usage: Int32 = 64
    /// Bad input data (config, archive, reply).
    public static let dataError: Int32 = 65
    /// An input file is missing or unreadable (`config --in`, `--key-file`).
    public static let noInput: Int32 = 66
    /// A service the command needs is not there (the agent, the network).
    public static let unavailable: Int32 = 69
    /// An operating-system error.
    public static let systemError: Int32 = 71
    /// A helper program (`HelperRole`) was started by an agent that speaks
    /// another protocol version: the three programs come from different installs.
    public static let protocolMismatch: Int32 = 76
    /// Not allowed: `status` by a user outside root and the app group.
    public static let noPermission: Int32 = 77
    /// `run`: the agent's folders are unsafe (owned by or writable for a
    /// non-root user, links where folders belong); the log says what.
    public static let unsafeFolders: Int32 = 78
}
