// tinyagent-link: the agent's XMPP link (libstrophe), the only program that links it.
// `tinyagent run` starts it as `tinyagent-link xmpp-link UID:GID` with the packet channel
// on descriptor 3; it is never run by hand (ARCHITECTURE.md).
import CShims
import TinyBase
import TinyLink

if Console.arguments().first == HelperRole.link.rawValue {
    ta_exit(runLinkProcess())
} else {
    Console.error("tinyagent-link: the agent's XMPP link, started by `tinyagent run`; not a command")
    ta_exit(ExitStatus.usage)
}
