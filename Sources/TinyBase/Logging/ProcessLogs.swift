/// The supervised processes' output files, `logs/NAME.log`, root:app group
/// 0640 so the app user can read its own processes' logs (DESIGN.md §3).
public struct ProcessLogs {
    package let folder: Folder
    package let group: UInt32

    public init(folder: Folder, group: UInt32) {
        self.folder = folder
        self.group = group
    }

    /// The descriptor a (re)started process gets as stdout and stderr,
    /// rotated by rename first when over `maximumBytes`.
    package func openForProcess(_ name: String, maximumBytes: Int64) throws(FileError) -> FileDescriptor {
        try RotatingLog.openProcessLog("\(name).log", in: folder, maximumBytes: maximumBytes, group: group)
    }
}
