/// What a client of the control socket asks for.
public enum ControlAccess: Equatable {
    /// The status report: read-only.
    case readStatus
    /// Anything that changes the agent's state (none over the socket yet).
    case changeState
}

/// Who may do what over the control socket (SPEC §3), decided from the
/// credentials the kernel gives for the peer (`SO_PEERCRED`), never from
/// anything the client says: root may do anything; the app user and its
/// group may read the status; nobody else may do anything. The socket's
/// mode (0660 root:app group) already keeps others from connecting; this is
/// the second lock, and the one every state-changing verb must pass.
public struct ControlGate: Equatable {
    /// The app user (uid and primary group); nil: root only.
    let appUser: Identity?

    public init(appUser: Identity?) { self.appUser = appUser }

    public func allows(_ access: ControlAccess, peer: PeerCredentials) -> Bool {
        if peer.uid == 0 { return true }
        guard access == .readStatus, let appUser else { return false }
        return peer.uid == appUser.uid || peer.gid == appUser.gid
    }

    /// The one line a refused client reads.
    public static func refusal(_ access: ControlAccess) -> String {
        let what = access == .readStatus ? "the status is for root and the app user's group" : "only root may change the agent's state"
        return "{\"error\": \"permission denied: \(what)\"}"
    }
}
