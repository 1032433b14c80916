
/// Why an update archive was refused or could not be unpacked. Every case
/// reads as one line starting "archive: " (`remark`), which is what the
/// panel sees as the update's remark.
public enum ArchiveError: Error, Equatable {
    /// What is wrong with an entry's name (see `EntryName.check`).
    public enum NameProblem: Equatable, Sendable {
        case empty, tooLong, componentTooLong, notUTF8, controlCharacter
        case absolute, backslash, escapes, emptyComponent, dotComponent
    }

    case cannotOpen(path: String, reason: String)
    case notAZip(reason: String)
    case unreadable(reason: String)
    case badName(name: String, problem: NameProblem)
    case symbolicLink(name: String)
    case specialFile(name: String)
    case encrypted(name: String)
    case unsupportedMethod(name: String, method: UInt16)
    case folderWithData(name: String)
    case conflict(name: String)
    /// Neither `SmartMeter/`, `certs/cacert.pem` nor the programs in `bin/`.
    case nothingToInstall
    /// `bin/` carries some of the agent's programs, not all (`AgentPrograms`).
    case incompletePrograms(missing: [String])
    case smartMeterIsFile
    case tooManyEntries(count: Int, allowed: Int)
    case tooLarge(limit: Int64)
    case ratio(name: String, ratio: Int64)
    case crc(name: String)
    case longerThanDeclared(name: String, declared: Int64)
    case shorterThanDeclared(name: String, declared: Int64, read: Int64)
    case readFailed(name: String, reason: String)
    case noSpace(need: Int64, have: Int64)
    case freeSpaceUnknown(path: String)
    case write(path: String, reason: String)
    case manifest(reason: String)

    public var remark: String { "archive: " + detail }

    private var detail: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open " + path + " (" + reason + ")"
        case .notAZip(let reason): return "not a zip file (" + reason + ")"
        case .unreadable(let reason): return "cannot read the archive (" + reason + ")"
        case .badName(let name, let problem):
            switch problem {
            case .empty: return "an entry has an empty name"
            case .tooLong: return "entry " + name + " has a name longer than " + String(EntryName.maximumBytes) + " bytes"
            case .componentTooLong: return "entry " + name + " has a path component longer than " + String(EntryName.maximumComponentBytes) + " bytes"
            case .notUTF8: return "entry " + name + " has a name that is not UTF-8"
            case .controlCharacter: return "entry " + name + " has a control character in its name"
            case .absolute: return "entry " + name + " is an absolute path"
            case .backslash: return "entry " + name + " has a backslash in its name"
            case .escapes: return "entry " + name + " escapes the folder"
            case .emptyComponent: return "entry " + name + " has an empty path component"
            case .dotComponent: return "entry " + name + " has a '.' path component"
            }
        case .symbolicLink(let name): return "entry " + name + " is a symbolic link"
        case .specialFile(let name): return "entry " + name + " is a special file"
        case .encrypted(let name): return "entry " + name + " is encrypted"
        case .unsupportedMethod(let name, let method):
            return "entry " + name + " is compressed with " + CompressionMethod.name(method) + ", which the agent cannot unpack (use Deflate)"
        case .folderWithData(let name): return "folder entry " + name + " holds data"
        case .conflict(let name): return "entry " + name + " appears twice or is both a file and a folder"
        case .nothingToInstall:
            return "nothing to install: no SmartMeter/ folder, no " + CARotation.archivePath + ", no agent programs in "
                + AgentPrograms.archiveFolder + "/"
        case .incompletePrograms(let missing):
            return AgentPrograms.archiveFolder + "/ lacks " + missing.joined(separator: ", ")
                + ": the agent's programs are replaced together (" + AgentPrograms.names.joined(separator: ", ") + ", or none)"
        case .smartMeterIsFile: return "SmartMeter is a file, not a folder"
        case .tooManyEntries(let count, let allowed): return String(count) + " entries, more than the " + String(allowed) + " allowed"
        case .tooLarge(let limit): return "unpacks to more than " + String(limit) + " bytes"
        case .ratio(let name, let ratio): return "entry " + name + " compresses " + String(ratio) + ":1 (zip bomb?)"
        case .crc(let name): return "CRC error in " + name
        case .longerThanDeclared(let name, let declared): return "entry " + name + " holds more than the " + String(declared) + " bytes its header says"
        case .shorterThanDeclared(let name, let declared, let read):
            return "entry " + name + " holds " + String(read) + " bytes, not the " + String(declared) + " its header says"
        case .readFailed(let name, let reason): return "cannot read " + name + " (" + reason + ")"
        case .noSpace(let need, let have): return "not enough free space (need " + String(need) + ", have " + String(have) + ")"
        case .freeSpaceUnknown(let path): return "cannot read the free space of " + path
        case .write(let path, let reason): return "cannot write " + path + " (" + reason + ")"
        case .manifest(let reason): return UpdateManifest.path + ": " + reason
        }
    }
}
