// tinyagent-fetch: the update worker (HTTP, TLS, zip), the only program that links libzip and
// mbedTLS's TLS. `tinyagent run` starts it as `tinyagent-fetch update-worker UID:GID` with the
// packet channel on descriptor 3; `tinyagent panelmap` runs it as `tinyagent-fetch panelmap …`
// (ARCHITECTURE.md).
import CShims
import TinyBase
import TinyFetch

let arguments = Console.arguments()
switch arguments.first {
case HelperRole.fetch.rawValue:
    ta_exit(runUpdateWorker())
case "panelmap" where arguments.count == 4:
    // `tinyagent panelmap` checked the options: URL, panel id, CA file.
    ta_exit(PanelMap.run(url: arguments[1], panelID: arguments[2], caFile: arguments[3]))
default:
    Console.error("tinyagent-fetch: the agent's update worker, started by `tinyagent run`; not a command (see `tinyagent --help`)")
    ta_exit(ExitStatus.usage)
}
