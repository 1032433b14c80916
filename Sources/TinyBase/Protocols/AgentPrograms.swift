/// The agent's three programs (ARCHITECTURE.md), installed side by side.
/// They check one protocol version between them (`HelperRole.protocolVersion`),
/// so an update replaces all three or none: an archive's `bin/` carries
/// exactly these names (DESIGN.md §6).
package enum AgentPrograms {
    /// The folder of an update archive that carries them.
    package static let archiveFolder = "bin"
    package static let agent = "tinyagent"
    package static let names = [agent, HelperRole.link.program, HelperRole.fetch.program]

    /// Whether `components` (an archive entry's path, split) names one of
    /// the programs in `bin/`.
    package static func isProgram(_ components: [String]) -> Bool {
        components.count == 2 && components[0] == archiveFolder && names.contains(components[1])
    }
}
