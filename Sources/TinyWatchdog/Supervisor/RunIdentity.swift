import TinyBase

/// Whom the agent runs a process's command as (DESIGN.md §3, RELIABILITY.md
/// "Threat model"), or why it will not run it.
public enum RunIdentity: Equatable {
    case user(Identity)
    case refused(String)

    public var user: Identity? {
        if case .user(let identity) = self { return identity }
        return nil
    }

    /// The rule, pure:
    /// - a command from the allowlist or a manifest (`verified` false) is
    ///   SmartMeter code: it runs as the manifest's `user` (`listedUser`;
    ///   root only if root's settings list the name in `root_processes`),
    ///   else as the app user;
    /// - a verified sender's command runs as the sender's uid, except root:
    ///   a root sender's runs as root only if root's settings list the name
    ///   in `root_processes`, else as the app user;
    /// - no app user: refused, never root.
    /// `appUser` is asked only when the answer depends on it.
    public static func decide(name: String, verified: Bool, uid: UInt32, gid: UInt32,
                              listedUser: Identity? = nil, appUser: () -> Identity?, rootProcesses: [String]) -> RunIdentity {
        if verified && uid != 0 { return .user(Identity(uid: uid, gid: gid)) }
        if verified && rootProcesses.contains(name) { return .user(Identity(uid: 0, gid: gid)) }
        if !verified, let listedUser {
            if listedUser.uid != 0 || rootProcesses.contains(name) { return .user(listedUser) }
            return .refused("its manifest user is root, and root's settings do not list \(name) in root_processes; never run as root")
        }
        if let appUser = appUser() { return .user(appUser) }
        let whose = verified ? "a root process not listed in root_processes" : "an allowlisted command"
        return .refused("\(whose) runs as the app user, and there is none (run_as unset and SmartMeter/ owned by root or missing); never run as root")
    }
}
