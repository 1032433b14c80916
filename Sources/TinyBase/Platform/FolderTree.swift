import CShims

extension FileDescriptor {
    /// `pread(2)`: reads at `offset` without moving the file position.
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try valueOrErrno { ta_pread(rawValue, buffer.baseAddress, buffer.count, offset) }
    }

    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    package func read(_ count: Int, at offset: Int64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            var result: Result<Int, Errno> = .success(0)
            bytes.withUnsafeMutableBytes { buffer in
                do throws(Errno) { result = .success(try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got...]), at: offset + Int64(got))) } catch { result = .failure(error) }
            }
            let n = try result.get()
            if n == 0 { break }
            got += n
        }
        return Array(bytes[0..<got])
    }

    /// Whether this is the only open descriptor of its file anywhere on the
    /// system (`ta_only_open_here`: a write lease, granted only then, released
    /// at once). A file no one else has open and no one else can open by path
    /// cannot change under its holder.
    package func isOnlyOpenHere() throws(Errno) -> Bool { try valueOrErrno(retryOnInterrupt: true) { ta_only_open_here(rawValue) } == 1 }

    /// `lseek(fd, 0, SEEK_END)`: the size, and writes go on from there.
    package func seekToEnd() throws(Errno) -> Int64 { try valueOrErrno { ta_seek_end(rawValue) } }

    /// `fcntl(F_DUPFD_CLOEXEC)`: a second descriptor for the same open file.
    package func duplicate() throws(Errno) -> FileDescriptor { FileDescriptor(try valueOrErrno { ta_dup(rawValue) }) }

    /// Free bytes for unprivileged users on this file's file system (`fstatvfs`).
    package var freeBytes: Int64? {
        let free = ta_free_bytes_fd(rawValue)
        return free < 0 ? nil : free
    }
}

/// Trees another user owns or owned (the update's staging folder), and the
/// few extra opens the update needs.
extension Folder {
    /// The regular file `path` for reading (see `openForReading`), opened
    /// relative to its parent folder.
    package static func openRegularFile(_ path: String) throws(FileError) -> FileDescriptor {
        let folder = try open(Files.parent(of: path))
        defer { folder.close() }
        return try folder.openForReading(Files.name(of: path))
    }

    /// Like `createNew`, read-write: a file to fill, then read back.
    package func createNewForReadingAndWriting(_ name: String, mode: UInt32) throws(Errno) -> FileDescriptor {
        FileDescriptor(try withCString(name) { (n) throws(Errno) in try valueOrErrno { ta_openat_new_rw(fd.rawValue, n, mode) } })
    }

    /// What `name` is, never following a link (`fstatat` with `AT_SYMLINK_NOFOLLOW`).
    package func status(of name: String) throws(Errno) -> FileStatus {
        var raw = ta_stat()
        try withCString(name) { (n) throws(Errno) in try nothingOrErrno { ta_lstat_at(fd.rawValue, n, &raw) } }
        return FileStatus(raw)
    }

    /// The names in the folder now (without `.` and `..`).
    package func names() throws(Errno) -> [String] {
        guard let list = ta_dir_list_open(fd.rawValue) else { throw Errno.current }
        defer { ta_dir_list_close(list) }
        var names: [String] = []
        while let name = ta_dir_list_next(list) { names.append(String(cString: name)) }
        // Read at once (nothing between the last call and here sets errno): a
        // listing cut short must not pass for a short folder (no update keys
        // would mean no signature needed).
        let failure = Errno.current
        guard failure.rawValue == 0 else { throw failure }
        return names
    }

    /// `folder(_:)`, speaking `Errno`.
    package func subfolder(_ name: String) throws(Errno) -> Folder {
        do { return try folder(name) } catch { throw error.errno }
    }

    /// `unlinkat(2)` with `AT_REMOVEDIR`.
    package func removeFolder(_ name: String) throws(Errno) {
        try withCString(name) { (n) throws(Errno) in try nothingOrErrno { ta_rmdirat(fd.rawValue, n) } }
    }

    /// Takes the folder from whoever owns it: the agent's own user, mode
    /// 0700. Entries of a folder locked this way can no longer be added,
    /// renamed or replaced by anyone else, even one holding a descriptor to
    /// it: what the agent then reads in it stays what it read.
    package func lock() throws(Errno) {
        let me = Processes.ownIdentity
        try fd.setOwner(uid: me.uid, gid: me.gid)
        try fd.setPermissions(0o700)
    }
}
