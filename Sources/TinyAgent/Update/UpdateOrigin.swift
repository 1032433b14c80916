import TinyBase

/// Who asked for an update: its one answer goes back there.
package enum UpdateOrigin: Equatable {
    /// A `smart_meter_update` command; answered through the command journal.
    case panel(commandNo: Int64)
    /// `tinyagent update --file` on the device; `id` (the wall-clock second
    /// it began) tells local updates apart in file names and the log.
    case local(id: Int64)

    /// "update 10", "local update 1764500000": how log lines name it.
    package var label: String {
        switch self {
        case .panel(let no): return "update \(no)"
        case .local(let id): return "local update \(id)"
        }
    }

    /// "command 10", "local update 1764500000": who holds the update, for refusals.
    package var holder: String {
        switch self {
        case .panel(let no): return "command \(no)"
        case .local: return label
        }
    }

    /// Names the update's files in downloads/ ("update-10.zip", "update-local-1764500000").
    package var fileKey: String {
        switch self {
        case .panel(let no): return "\(no)"
        case .local(let id): return "local-\(id)"
        }
    }
}

/// Where an update's archive and signature come from. Each source is one
/// acquirer, run in the update worker as the helper user (`UpdateAcquirer`);
/// everything after acquiring — check, unpack, swap, verify, roll back — is
/// the same for all of them.
package enum UpdateSource: Equatable {
    /// The panel's URLs, fetched over HTTPS trusting certs/cacert.pem only.
    case https(url: String, sha256: [UInt8]?, signatureURL: String)
    /// Files the local CLI opened and passed as descriptors; `name` for messages.
    case file(name: String)

    package var description: String {
        switch self {
        case .https(let url, _, _): return url
        case .file(let name): return name
        }
    }
}
