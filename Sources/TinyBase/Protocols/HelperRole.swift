/// The agent's two helper programs (ARCHITECTURE.md), each the one end of
/// its packet channel that is not the agent.
package enum HelperRole: String {
    /// `tinyagent-link`: the XMPP link (`LinkSettings`, `LinkRequest`, `LinkEvent`).
    case link = "xmpp-link"
    /// `tinyagent-fetch`: the update worker (`UpdateJob`, `WorkerReport`).
    case fetch = "update-worker"

    /// The program's file name, beside the agent's own.
    package var program: String {
        switch self {
        case .link: return "tinyagent-link"
        case .fetch: return "tinyagent-fetch"
        }
    }

    /// The version of what the three programs say to each other. The agent's
    /// first packet to a helper carries it (`protocolKey`); a helper that
    /// finds another exits with `ExitStatus.protocolMismatch` before acting
    /// on anything, so programs from two different installs never half-work
    /// together. Raise it with any change to a packet's shape.
    static let protocolVersion = 1
    static let protocolKey = "protocol"

    /// How a helper's exit reads in the agent's log.
    package func exitRemark(exitCode: Int32, signal: Int32) -> String {
        if signal != 0 { return "\(program) was killed by signal \(signal)" }
        if exitCode == ExitStatus.protocolMismatch {
            return "\(program) speaks another protocol version than this agent: the programs come from different installs (install tinyagent again)"
        }
        return "\(program) exited with status \(exitCode)"
    }
}

/// The status a helper exits with when it cannot start its work.
package struct HelperExit: Error {
    package let status: Int32
    package init(_ status: Int32) { self.status = status }
}
