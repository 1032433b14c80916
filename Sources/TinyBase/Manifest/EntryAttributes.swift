/// What an entry's external attributes make of it: its type and the mode it
/// is written with. Pure: safe to fuzz.
///
/// Types come from the Unix mode (entries made on Unix): regular files and
/// folders only; links, devices, FIFOs and sockets are refused. Entries
/// without a Unix mode are files, or folders when the name ends in `/`.
/// Modes: the permission bits without group and other write (`mode & 0o755`:
/// nothing installed is writable by anyone but the app user, DESIGN.md §3; setuid,
/// setgid and sticky dropped), plus owner read and write for files and owner
/// rwx for folders, so the agent can always remove what it unpacked; 0644 and
/// 0755 without a Unix mode.
package enum EntryAttributes {
    /// `ZIP_OPSYS_UNIX` (libzip): the high 16 bits of the attributes are `st_mode`.
    static let unixSystem: UInt8 = 3

    /// `st_mode` from the external attributes of an entry made on Unix, nil
    /// when it has none (made elsewhere, or a zero mode).
    package static func unixMode(system: UInt8, attributes: UInt32) -> UInt32? {
        let mode = attributes >> 16
        return system == unixSystem && mode != 0 ? mode : nil
    }

    /// Whether the entry is a folder; throws for anything but a regular file
    /// or a folder. The Unix type bits decide when there are any, else the
    /// trailing `/`.
    package static func isFolder(unixMode: UInt32?, name: EntryName, path: String) throws(ArchiveError) -> Bool {
        guard let mode = unixMode else { return name.isFolder }
        switch mode & 0o170000 {
        case 0, 0o100000: return name.isFolder
        case 0o040000: return true
        case 0o120000: throw .symbolicLink(name: path)
        default: throw .specialFile(name: path)
        }
    }

    /// The bits an installed file or folder may have at most.
    package static let allowedBits: UInt32 = 0o755

    package static func fileMode(unixMode: UInt32?) -> UInt32 { unixMode.map { $0 & allowedBits | 0o600 } ?? 0o644 }

    package static func folderMode(unixMode: UInt32?) -> UInt32 { unixMode.map { $0 & allowedBits | 0o700 } ?? 0o755 }
}
