/// The verbs of the local control socket (`ControlRequest`), carried out on
/// the agent's thread. The socket has already checked who asks
/// (`ControlGate`); each verb answers at once or keeps the connection to
/// stream its progress.
extension Agent {
    func answer(_ request: ControlRequest, on connection: ControlConnection) {
        switch request {
        case .status:
            connection.send(.ok("status", data: statusReport().json()))
        case .restart(let name):
            if let refusal = restartProcess(name) {
                connection.send(.failed(supervisor.index(of: name) == nil ? .data : .unavailable, "restart \(name): \(refusal)"))
            } else {
                connection.send(.ok("\(name): restarting"))
            }
        case .reload:
            reload(why: "reload (uid \(connection.peer.uid))")
            connection.send(.ok("reloaded SmartMeter/tinyagent.json"))
        }
    }

    /// SIGHUP and `tinyagent reload`: the manifest is read again and the
    /// processes it lists that are not running are started.
    func reload(why: String) {
        logger.info("\(why): SmartMeter/tinyagent.json re-read (settings are read at start)")
        startListedProcesses(why: why)
    }
}
