import TinyBase

/// `tinyagent update --file X.zip [--sig X.zip.sig] [--wait]`: the local
/// source (a technician's USB stick). The CLI opens the files — as the user
/// who runs it, so the agent reads nothing by a path someone else chose — and
/// passes them with the request; the agent installs them as it installs the
/// panel's (`UpdateManager`), and the gate lets only root ask.
public enum UpdateClient {
    /// Progress on stderr; with `wait`, exit 0 only once the new versions are
    /// confirmed, else the reason and its status (65 refused or rolled back).
    public static func run(file: String, signature: String?, wait: Bool, root: String) -> Int32 {
        let signaturePath = signature ?? (Files.size(file + ".sig") != nil ? file + ".sig" : nil)
        var files: [FileDescriptor] = []
        defer { for fd in files { fd.close() } }
        for path in [file] + (signaturePath.map { [$0] } ?? []) {
            do { files.append(try Folder.openRegularFile(path)) } catch {
                Console.error("\(path): \(error)")
                return ExitStatus.noInput
            }
        }
        let request = ControlRequest.LocalUpdate(file: file, signature: signaturePath, wait: wait)
        return ControlClient.run(.update(request), root: root, passing: files) { Console.error($0) }
    }
}
