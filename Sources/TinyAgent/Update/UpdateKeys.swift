import TinyBase

/// The public keys update archives must be signed with: `certs/update-keys/*.pem`
/// (EC P-256, PEM). The folder and each key must be the agent's (root's) and
/// writable by no one else: a key another user can replace would let that user
/// sign archives. A folder or key that fails this refuses every update (the
/// device owner meant to require signatures) rather than being skipped.
package struct UpdateKeys: Equatable {
    package struct Key: Equatable {
        /// The file name, for log lines ("fleet.pem").
        package var name: String
        package var pem: [UInt8]
    }

    package var keys: [Key]

    package static let folderName = "update-keys"
    package static let maximumKeyBytes = 16 * 1024
    package static let maximumKeys = 32

    /// The keys in `folder` (its path), none when it does not exist.
    package static func load(_ folder: String, owner: UInt32 = Processes.effectiveUID) throws(UpdateKeyError) -> UpdateKeys {
        let dir: Folder
        do { dir = try Folder.open(folder) } catch {
            if error == .system(.noSuchFile) { return UpdateKeys(keys: []) }
            throw .unusable(folder, error.description)
        }
        defer { dir.close() }
        try checkOwner(try status(dir.fd, folder), folder, owner: owner)
        let names: [String]
        do { names = try dir.names() } catch { throw .unusable(folder, error.description) }
        var keys: [Key] = []
        for name in names.sorted() where name.hasSuffix(".pem") {
            guard keys.count < maximumKeys else { throw .unusable(folder, "holds more than \(maximumKeys) keys") }
            keys.append(Key(name: name, pem: try read(name, in: dir, owner: owner)))
        }
        return UpdateKeys(keys: keys)
    }

    private static func read(_ name: String, in dir: Folder, owner: UInt32) throws(UpdateKeyError) -> [UInt8] {
        let path = "\(dir.path)/\(name)"
        let file: FileDescriptor
        do { file = try dir.openForReading(name) } catch { throw .unusable(path, error.description) }
        defer { file.close() }
        let st = try status(file, path)
        guard st.kind == .regular else { throw .unusable(path, "is a \(st.kind.word), not a regular file") }
        try checkOwner(st, path, owner: owner)
        do { return try file.readToEnd(limit: maximumKeyBytes) } catch { throw .unusable(path, error.description) }
    }

    private static func status(_ fd: FileDescriptor, _ path: String) throws(UpdateKeyError) -> FileStatus {
        do { return try fd.status() } catch { throw .unusable(path, error.description) }
    }

    /// Throws `UpdateKeyError.untrusted` for a folder or file of another
    /// owner or writable by group or others.
    private static func checkOwner(_ status: FileStatus, _ path: String, owner: UInt32) throws(UpdateKeyError) {
        guard status.uid == owner, status.permissions & 0o022 == 0 else { throw .untrusted(path, status) }
    }
}

/// Why the update keys cannot be used (every update is then refused).
package enum UpdateKeyError: Error, Equatable {
    case untrusted(String, FileStatus)
    case unusable(String, String)

    package var remark: String {
        switch self {
        case .untrusted(let path, let status):
            return "\(path) is not trusted (\(status.ownerAndMode)): update keys must be root's and writable by no one else"
        case .unusable(let path, let why): return "\(path): \(why)"
        }
    }
}
