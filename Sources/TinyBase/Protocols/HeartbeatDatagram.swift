/// The heartbeat datagram (DESIGN.md §4) as `tinyagent heartbeat` sends it;
/// `HeartbeatParser` in the watchdog reads it.
package enum HeartbeatDatagram {
    /// The datagram for these fields.
    package static func text(name: String, pid: Int32, runCommand: String?, version: Version) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("process_name"); w.string(name)
        w.key("pid"); w.integer(pid)
        w.key("run_command"); w.string(runCommand ?? "")
        w.key("version"); w.beginObject()
        w.key("major"); w.integer(version.major)
        w.key("minor"); w.integer(version.minor)
        w.key("patch"); w.integer(version.patch)
        w.endObject()
        w.endObject()
        return w.text
    }
}
