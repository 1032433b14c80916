/// The agent's own version, reported by `tinyagent version` and `status`.
public let agentVersion = "0.1.0"
