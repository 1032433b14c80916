import CShims

/// The unprivileged system user the agent's helpers run as (DESIGN.md §3): the
/// XMPP link (libstrophe parsing a server's XML) and the update worker (TLS,
/// HTTP, zip) parse bytes from outside, so they hold no root, no
/// capabilities and no file of the agent's but the descriptors it hands them.
package enum HelperUser {
    /// The user named by setting `helper_user` (default `tinyagent`), else
    /// `nobody` with a warning; the reason when neither exists. Only an
    /// agent running as root switches users: one that is not root already
    /// runs its helpers unprivileged, as itself (nil).
    package static func resolve(_ name: String) -> (user: Result<Identity?, HelperUnavailable>, warning: String?) {
        guard Processes.effectiveUID == 0 else { return (.success(nil), nil) }
        let named = Processes.lookUp(user: name)
        if let identity = named.identity, identity.uid != 0, identity.gid != 0 {
            return (.success(identity), nil)
        }
        let why = named.identity == nil ? named.absence : "is root"
        let fallback = Processes.lookUp(user: "nobody")
        if let nobody = fallback.identity, nobody.uid != 0, nobody.gid != 0 {
            return (.success(nobody), "helper user \"\(name)\" \(why): the XMPP link and the update worker run as \"nobody\" (create it: useradd --system --no-create-home --shell /usr/sbin/nologin \(name))")
        }
        let noNobody = fallback == .noAnswer ? "\"nobody\" \(fallback.absence)" : "there is no \"nobody\""
        return (.failure(HelperUnavailable(reason: "helper user \"\(name)\" \(why) and \(noNobody): the XMPP link and the update worker are not started")), nil)
    }

    /// In a helper, first thing: drops to the "UID:GID" the agent put after
    /// the helper's name on its command line (no groups, no capabilities,
    /// `PR_SET_NO_NEW_PRIVS`). False when it cannot, and the helper must
    /// then exit rather than run as root.
    package static func dropPrivileges() -> Bool {
        guard ta_argc() > 2, let text = ta_argv(2) else { return Processes.effectiveUID != 0 }
        let parts = String(cString: text).split(separator: ":")
        guard parts.count == 2, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]) else { return false }
        return ta_drop_privileges(uid, gid) == 0
    }
}
