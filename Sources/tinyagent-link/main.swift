// tinyagent-link: the agent's XMPP link (libstrophe), the only program that links it.
// `tinyagent run` starts it as `tinyagent-link xmpp-link UID:GID` with the packet channel
// on descriptor 3; it is never run by hand (ARCHITECTURE.md).
import TinyBase
import TinyLink

if Processes.arguments().first == HelperRole.link.rawValue {
    Processes.exit(runLinkProcess())
} else {
    Console.error("the agent's XMPP link, started by `tinyagent run`; not a command", from: HelperRole.link.program)
    Processes.exit(ExitStatus.usage)
}
