import TinyBase

/// The app user: who the SmartMeter code runs as, and whose group may read
/// the agent's logs and status (the trust line: RELIABILITY.md, "Threat model"). `run_as` in
/// root's settings names it; else the owner of `SmartMeter/`. Root is never
/// the app user: with no app user, what would run as it is refused.
public enum AppUser {
    /// The app user's identity (its group is the app group), or nil with
    /// the reason there is none.
    public static func resolve(runAs: String?, smartMeterOwner: UInt32?) -> (identity: Identity?, problem: String?) {
        if let runAs {
            let named = Processes.lookUp(user: runAs)
            guard let identity = named.identity else {
                return (nil, "cfg/agent.json: run_as user \"\(runAs)\" \(named.absence): no app user")
            }
            guard identity.uid != 0 else { return (nil, "cfg/agent.json: run_as may not be root: no app user") }
            return (identity, nil)
        }
        guard let owner = smartMeterOwner else { return (nil, "no SmartMeter/ folder: no app user") }
        guard owner != 0 else { return (nil, "SmartMeter/ is root's: no app user (set run_as in cfg/agent.json)") }
        return (Processes.identity(ofUID: owner), nil)
    }
}
