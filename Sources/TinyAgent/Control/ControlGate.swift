import TinyBase

/// What a request over the control socket needs (`ControlRequest.access`).
public enum ControlAccess: Equatable, Sendable {
    /// Reading: the status report, a process's log.
    case read
    /// Anything that changes the agent's state: stop, start, restart,
    /// forget, reload.
    case change
}

/// Who may do what over the control socket (DESIGN.md §3), decided from the
/// credentials the kernel gives for the peer (`SO_PEERCRED`), never from
/// anything the client says: root may do anything; the app user and its
/// group may read; nobody else may do anything. The socket's mode (0660
/// root:app group) already keeps others from connecting; this is the second
/// lock, and the one every state-changing verb must pass.
public struct ControlGate: Equatable {
    /// The app user (uid and primary group); nil: root only.
    package let appUser: Identity?

    public init(appUser: Identity?) { self.appUser = appUser }

    /// `inGroup`: whether the peer has the group among its supplementary
    /// ones (`Processes.isInGroup` on the peer's pid; a member added with
    /// `usermod -aG` reads too).
    public func allows(_ access: ControlAccess, peer: PeerCredentials, inGroup: (UInt32) -> Bool = { _ in false }) -> Bool {
        if peer.uid == 0 { return true }
        guard access == .read, let appUser else { return false }
        return peer.uid == appUser.uid || peer.gid == appUser.gid || inGroup(appUser.gid)
    }

    /// The answer a refused client reads.
    public static func refusal(_ request: ControlRequest) -> ControlAnswer {
        let what = request.access == .read ? "is for root and the app user's group" : "is root's only (it changes the agent's state)"
        return .failed(.permission, "permission denied: \(request.verb) \(what)")
    }
}
