// tinyagent-fetch: the update worker (HTTP, TLS, zip), the only program that links libzip and
// mbedTLS's TLS. `tinyagent run` starts it as `tinyagent-fetch update-worker UID:GID` with the
// packet channel on descriptor 3; `tinyagent panelmap` runs it as `tinyagent-fetch panelmap …`
// (ARCHITECTURE.md).
import TinyBase
import TinyFetch

let arguments = Processes.arguments()
switch arguments.first {
case HelperRole.fetch.rawValue:
    Processes.exit(runUpdateWorker())
case "panelmap" where arguments.count == 4:
    // `tinyagent panelmap` checked the options: URL, panel id, CA file.
    Processes.exit(PanelMap.run(url: arguments[1], panelID: arguments[2], caFile: arguments[3]))
default:
    Console.error("the agent's update worker, started by `tinyagent run`; not a command (see `tinyagent --help`)", from: HelperRole.fetch.program)
    Processes.exit(ExitStatus.usage)
}
