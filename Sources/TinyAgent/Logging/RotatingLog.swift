/// A log file capped at `maximumBytes`: when full it becomes `name.1`,
/// `name.1` becomes `name.2`, … and the oldest of `keep` is dropped.
public final class RotatingLog {
    public let path: String
    let maximumBytes: Int64
    let keep: Int
    private var fd: FileDescriptor?
    private var size: Int64

    public init(path: String, maximumBytes: Int64, keep: Int) {
        self.path = path
        self.maximumBytes = maximumBytes
        self.keep = max(keep, 1)
        self.size = Files.size(path) ?? 0
        self.fd = try? Files.openAppend(path)
    }

    deinit { fd?.close() }

    func append(_ line: String) {
        let length = Int64(line.utf8.count)
        if size > 0 && size + length > maximumBytes { rotate() }
        guard let fd else { return }
        if (try? fd.writeAll(line)) != nil { size += length }
    }

    private func rotate() {
        fd?.close()
        fd = nil
        RotatingLog.shift(path, keep: keep)
        fd = try? Files.openAppend(path)
        size = 0
    }

    /// Renames `path.(keep-1)` → `path.keep`, …, `path` → `path.1`.
    static func shift(_ path: String, keep: Int) {
        var index = keep
        while index > 1 {
            try? Files.rename("\(path).\(index - 1)", to: "\(path).\(index)")
            index -= 1
        }
        try? Files.rename(path, to: "\(path).1")
    }

    /// Caps a log that another process appends to (a supervised process's
    /// output): copies it to `path.1` and truncates it in place, so the
    /// writer's O_APPEND descriptor goes on writing at the new end.
    static func copyTruncate(_ path: String, maximumBytes: Int64) {
        guard let size = Files.size(path), size > maximumBytes else { return }
        guard let source = try? Files.read(path, limit: Int(size) + 65536) else { return }
        try? Files.writeAtomically("\(path).1", bytes: source)
        guard let fd = try? Files.openAppend(path) else { return }
        try? fd.truncate(to: 0)
        fd.close()
    }
}
