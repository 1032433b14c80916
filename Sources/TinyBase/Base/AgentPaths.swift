/// The agent's files under its root folder (DESIGN.md §3).
public struct AgentPaths {
    public let root: String
    public init(root: String) { self.root = root }

    public var certs: String { "\(root)/certs" }
    /// The one CA the link and the downloads trust (`CAFile`, `CARotation`).
    public var caFile: String { "\(certs)/\(AgentPaths.caFileName)" }
    public static let caFileName = "cacert.pem"
    public var cfg: String { "\(root)/cfg" }
    public var wdog: String { "\(root)/wdog" }
    public var downloads: String { "\(root)/downloads" }
    public var smartMeter: String { "\(root)/SmartMeter" }
    public var bin: String { "\(root)/bin" }
    public var logs: String { "\(root)/logs" }

    public var settingsFile: String { "\(cfg)/agent.json" }
    public var registryFile: String { "\(wdog)/registry.json" }
    public var controlSocket: String { "\(wdog)/agent.sock" }
    /// Kernel-attested heartbeats (root:app group 0620).
    public var heartbeatSocket: String { "\(wdog)/\(AgentPaths.heartbeatSocketName)" }
    public static let heartbeatSocketName = "heartbeat.sock"
    public var agentLog: String { "\(logs)/tinyagent.log" }
    public var updateJournal: String { "\(wdog)/update.json" }
    /// The SmartMeter folder an update replaced, and one that failed.
    public var previousSmartMeter: String { "\(root)/SmartMeter.prev" }
    public var failedSmartMeter: String { "\(root)/SmartMeter.failed" }
    /// How the last update ended (`status`).
    public var lastUpdate: String { "\(wdog)/last-update.json" }
    /// An update's archive (its signature beside it, `.sig`), and the folder
    /// it unpacks into (holding `SmartMeter/`); `key` is `UpdateOrigin.fileKey`.
    package func updateArchive(_ key: String) -> String { "\(downloads)/\(AgentPaths.updateArchiveName(key))" }
    package func updateStaging(_ key: String) -> String { "\(downloads)/\(AgentPaths.updateStagingName(key))" }
    /// The unpacked `SmartMeter/` inside it, until the swap moves it into place.
    package func stagedSmartMeter(_ key: String) -> String { "\(updateStaging(key))/SmartMeter" }
    package static func updateArchiveName(_ key: String) -> String { "update-\(key).zip" }
    package static func updateStagingName(_ key: String) -> String { "update-\(key)" }

    public static let defaultRoot = "/home/pi/technospurs"
}
