import TinyBase

/// One thing wrong with the agent's folders, as one log line. A fatal one
/// stops the agent (exit status 78): going on would let a non-root user
/// change what root runs, reads as settings or state, or trusts.
public struct FolderProblem: Equatable {
    public let fatal: Bool
    public let message: String
}

/// The agent's folders at start (DESIGN.md §3): each opened without following a
/// link and checked by `fstat` on the open descriptor, never by path.
///
/// Fatal: the root folder, `bin/`, `cfg/` (and its two files), `certs/`,
/// `wdog/` or `downloads/` owned by, or group/other-writable for, a user
/// other than the agent's (root); a link or a non-folder where one belongs.
/// Warnings: `cfg/` or `config_file.bin` readable by others (the password),
/// `logs/` writable by others (then made root's: `prepare`), a
/// group/other-writable `SmartMeter/`.
package enum FolderCheck {
    static let rootOnly = ["bin", "cfg", "certs", "wdog", "downloads"]
    static let configFiles = ["config_file.bin", "agent.json"]

    package static func check(_ root: Folder, agentUID: UInt32) -> [FolderProblem] {
        var problems: [FolderProblem] = []
        if let st = try? root.status(), st.writableByOthers(than: agentUID) {
            problems.append(FolderProblem(fatal: true, message: "\(root.path): \(st.ownerAndMode): another user can replace "
                + "what root reads and runs here; make it root:root 0755 (the package's postinst does)"))
        }
        for name in rootOnly {
            guard let folder = opened(name, in: root, fatal: true, &problems) else { continue }
            defer { folder.close() }
            guard let st = try? folder.status() else { continue }
            if st.writableByOthers(than: agentUID) {
                problems.append(FolderProblem(fatal: true, message: "\(folder.path): \(st.ownerAndMode): another user can change "
                    + "what root trusts here; make it root's and not group- or other-writable"))
            } else if name == "cfg" {
                checkConfig(folder, st, agentUID: agentUID, &problems)
            }
        }
        for (name, fatalOnly) in [("logs", false), ("SmartMeter", true)] {
            guard let folder = opened(name, in: root, fatal: false, &problems) else { continue }
            defer { folder.close() }
            guard let st = try? folder.status() else { continue }
            if name == "logs" && st.writableByOthers(than: agentUID) {
                problems.append(FolderProblem(fatal: false, message: "\(folder.path): \(st.ownerAndMode): another user can write "
                    + "here; the agent makes it root's, mode 0750 (an old card's: it could rename the files root writes)"))
            } else if fatalOnly && st.permissions & 0o022 != 0 {
                problems.append(FolderProblem(fatal: false, message: "\(folder.path): \(st.ownerAndMode): group- or other-writable; "
                    + "other users can change the app's code"))
            }
        }
        return problems
    }

    /// `name` in `root` opened as a folder; nil when missing or not one
    /// (then a problem says so: fatal when `fatal`).
    private static func opened(_ name: String, in root: Folder, fatal: Bool, _ problems: inout [FolderProblem]) -> Folder? {
        do { return try root.folder(name) } catch {
            if error == .system(.noSuchFile) { return nil }
            let what = error == .symbolicLink ? "is a symbolic link" : error == .system(.notFolder) ? "is not a folder" : "\(error)"
            problems.append(FolderProblem(fatal: fatal, message: "\(root.path)/\(name) \(what): not used"))
            return nil
        }
    }

    private static func checkConfig(_ cfg: Folder, _ st: FileStatus, agentUID: UInt32, _ problems: inout [FolderProblem]) {
        if st.permissions & 0o077 != 0 {
            problems.append(FolderProblem(fatal: false, message: "\(cfg.path): \(st.ownerAndMode): other users can look in; chmod 0700"))
        }
        for name in configFiles {
            let file: FileDescriptor
            do { file = try cfg.openForReading(name) } catch {
                if error != .system(.noSuchFile) {
                    problems.append(FolderProblem(fatal: true, message: "\(cfg.path)/\(name) \(error)"))
                }
                continue
            }
            defer { file.close() }
            guard let st = try? file.status() else { continue }
            if st.writableByOthers(than: agentUID) {
                problems.append(FolderProblem(fatal: true, message: "\(cfg.path)/\(name): \(st.ownerAndMode): another user "
                    + "can change root's settings; make it root's, mode 0600"))
            } else if name == "config_file.bin" && st.permissions & 0o077 != 0 {
                problems.append(FolderProblem(fatal: false, message: "\(cfg.path)/\(name): \(st.ownerAndMode): other users "
                    + "can read the credentials; chmod 0600"))
            }
        }
    }

    /// `wdog/` or `logs/`, made when missing and, when it is the agent's
    /// own and nobody else can write it, given `group` and `mode` on its
    /// descriptor (an older install made them 0700 or 0755). Nil when it
    /// cannot be opened as a folder (a problem says why).
    package static func prepare(_ name: String, in root: Folder, mode: UInt32, group: UInt32, agentUID: UInt32,
                        _ problems: inout [FolderProblem]) -> Folder? {
        do { try root.makeFolder(name, mode: mode) } catch {
            problems.append(FolderProblem(fatal: name == "wdog", message: "cannot create \(root.path)/\(name): \(error)"))
            return nil
        }
        guard let folder = opened(name, in: root, fatal: name == "wdog", &problems) else { return nil }
        // logs/ is taken over whoever made it: a user who can write it could rename a file
        // root owns and filled (a log, the app's output) into SmartMeter/, where a file of
        // root's passes for root's own manifest. wdog/ another user can write is fatal.
        let takeOver = name == "logs"
        if let st = try? folder.status(), takeOver || !st.writableByOthers(than: agentUID), st.uid != agentUID || st.gid != group || st.permissions != mode {
            // Not root (a developer's run): the group may not be the agent's to give.
            try? folder.fd.setOwner(uid: agentUID, gid: group)
            try? folder.fd.setPermissions(mode)
        }
        return folder
    }
}
