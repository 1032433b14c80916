"""The account the agent's helpers (the update worker, the XMPP link) drop to,
for scripts that drive the worker by hand as the agent does (bench/update.py,
cross/smoke_update.py)."""

import pwd


def helper_ids():
    """(uid, gid) of `tinyagent`, else `nobody` (the agent's fallback)."""
    for name in ("tinyagent", "nobody"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    raise LookupError("no tinyagent or nobody user")
