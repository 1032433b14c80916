import TinyBase

/// `tinyagent verify X.zip [--sig X.zip.sig] [--root DIR]`: whether this
/// device would accept the archive, by the same check the agent makes before
/// unpacking (`ArchiveCheck`, ROOT/certs/update-keys); installs nothing. For a
/// technician before an update, and for the device smoke tests.
public enum VerifyCommand {
    /// Prints the verdict; exit 0 accepted, 65 refused, 66 unreadable file.
    public static func run(archive path: String, signature: String?, root: String) -> Int32 {
        let archive: FileDescriptor
        do { archive = try Folder.openRegularFile(path) } catch {
            Console.error("\(path): \(error)")
            return ExitStatus.noInput
        }
        defer { archive.close() }
        let signaturePath = signature ?? path + ".sig"
        var bytes: [UInt8] = []
        if signature != nil || Files.size(signaturePath) != nil {
            do { bytes = try Files.readRegular(signaturePath, limit: ArchiveCheck.maximumSignatureBytes).bytes } catch {
                Console.error("\(signaturePath): \(error)")
                return ExitStatus.noInput
            }
        }
        let keys: UpdateKeys
        // The device's keys are root's whoever asks (the agent that reads them is root).
        do { keys = try UpdateKeys.load("\(AgentPaths(root: root).certs)/\(UpdateKeys.folderName)", owner: 0) } catch {
            Console.error(error.remark)
            return ExitStatus.dataError
        }
        let verdict: SignatureVerdict
        do { verdict = try ArchiveCheck.check(archive: archive, signature: bytes, keys: keys) } catch {
            Console.error("\(path): \(error)")
            return ExitStatus.noInput
        }
        if case .refused(let why) = verdict {
            Console.error(why)
            return ExitStatus.dataError
        }
        Console.out("\(path): \(verdict.summary)")
        return ExitStatus.ok
    }
}
