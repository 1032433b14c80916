
/// When a process that ended is started again (the manifest's `restart`).
/// Silence is a failure under every mode: a hung process is stopped, and
/// restarted unless the mode is `never`.
public enum RestartMode: Equatable, Sendable, CaseIterable {
    /// Whenever it ends (the default, and the rule for processes learned
    /// from heartbeats).
    case always
    /// Only when it failed: an exit with status 0 is a finished job.
    case onFailure
    /// Never: once it ends it stays ended until a restart is asked for.
    case never

    public var name: String {
        switch self {
        case .always: return "always"
        case .onFailure: return "on-failure"
        case .never: return "never"
        }
    }

    public init?(name: String) {
        switch name {
        case "always": self = .always
        case "on-failure": self = .onFailure
        case "never": self = .never
        default: return nil
        }
    }
}
