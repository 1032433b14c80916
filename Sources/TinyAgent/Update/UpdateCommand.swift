import TinyBase

/// A `smart_meter_update` command (DESIGN.md §6), checked before anything is
/// downloaded:
/// `{"command": "smart_meter_update", "command_no": 10, "url": "https://…/x.zip",
///   "sha256": "<64 hex>"?, "signature_url": "https://…/x.zip.sig"?, "timeout_s": 120?,
///   "processes": [{"name": "process1", "version": {"major": 1, "minor": 0, "patch": 1}}]}`
package struct UpdateCommand: Equatable {
    package struct Expected: Equatable {
        package var name: String
        package var version: Version
    }

    package var commandNo: Int64
    package var url: String
    package var sha256: [UInt8]?
    /// Where the detached signature is (default: the archive's URL + `.sig`).
    package var signatureURL: String
    package var processes: [Expected]
    /// The command's `timeout_s`, when it gave one.
    package var timeout: Duration?
    /// The version the agent must run afterwards, when the archive carries
    /// its programs (`agent_version`: "1.2.3" or {"major", "minor", "patch"}).
    package var agentVersion: Version?

    package static let maximumProcesses = 64

    /// The command, or the remark that refuses it.
    package static func parse(_ no: Int64, _ command: JSONValue) -> Result<UpdateCommand, UpdateRefusal> {
        guard let url = command["url"]?.stringValue, !url.isEmpty else { return .failure(UpdateRefusal("smart_meter_update needs a \"url\"")) }
        guard !url.utf8.contains(0), url.utf8.count <= 2048 else { return .failure(UpdateRefusal("\"url\" is not a usable URL")) }
        var sha256: [UInt8]?
        if let field = command["sha256"] {
            guard let text = field.stringValue, let digest = Hex.decode(Array(text.utf8)[...], count: 32) else {
                return .failure(UpdateRefusal("\"sha256\" must be 64 hex digits"))
            }
            sha256 = digest
        }
        var signatureURL = url + ".sig"
        if let field = command["signature_url"] {
            guard let text = field.stringValue, !text.isEmpty, !text.utf8.contains(0), text.utf8.count <= 2048 else {
                return .failure(UpdateRefusal("\"signature_url\" is not a usable URL"))
            }
            signatureURL = text
        }
        var timeout: Duration?
        if let field = command["timeout_s"] {
            guard let seconds = field.integerValue, seconds >= 1, seconds <= 86_400 else {
                return .failure(UpdateRefusal("\"timeout_s\" must be an integer in range 1...86400"))
            }
            timeout = .seconds(seconds)
        }
        guard let items = command["processes"]?.arrayValue, !items.isEmpty else {
            return .failure(UpdateRefusal("smart_meter_update needs a non-empty \"processes\" list"))
        }
        guard items.count <= maximumProcesses else {
            return .failure(UpdateRefusal("\"processes\" lists more than \(maximumProcesses) processes"))
        }
        var processes: [Expected] = []
        for item in items {
            guard let name = item["name"]?.stringValue, !name.isEmpty else {
                return .failure(UpdateRefusal("each of \"processes\" needs a \"name\""))
            }
            guard let version = version(item["version"]) else {
                return .failure(UpdateRefusal("\(name): \"version\" must be {\"major\", \"minor\", \"patch\"} with integers 0...65535"))
            }
            guard !processes.contains(where: { $0.name == name }) else {
                return .failure(UpdateRefusal("\(name) is listed twice in \"processes\""))
            }
            processes.append(Expected(name: name, version: version))
        }
        var agentVersion: Version?
        if let field = command["agent_version"] {
            guard let parsed = version(field) else { return .failure(UpdateRefusal("\"agent_version\" must be \"X.Y.Z\" or {\"major\", \"minor\", \"patch\"}")) }
            agentVersion = parsed
        }
        return .success(UpdateCommand(commandNo: no, url: url, sha256: sha256, signatureURL: signatureURL,
                                      processes: processes, timeout: timeout, agentVersion: agentVersion))
    }

    /// `{"major": 1, "minor": 0, "patch": 1}`, or the text `"1.0.1"`.
    private static func version(_ value: JSONValue?) -> Version? {
        guard let value else { return nil }
        if let text = value.stringValue { return Version(text) }
        func part(_ key: String) -> UInt16? {
            guard let n = value[key]?.integerValue, n >= 0, n <= 65535 else { return nil }
            return UInt16(n)
        }
        guard let major = part("major"), let minor = part("minor"), let patch = part("patch") else { return nil }
        return Version(major: major, minor: minor, patch: patch)
    }
}

/// Why an update command is answered `success: false` at once.
package struct UpdateRefusal: Error, Equatable {
    package let remark: String
    package init(_ remark: String) { self.remark = remark }
}
