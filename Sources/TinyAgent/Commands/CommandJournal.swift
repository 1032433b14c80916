import TinyBase
import TinyWatchdog

/// The answers the agent has given (DESIGN.md §6): a repeated `command_no` is
/// answered from here, not executed again, and an answer not yet handed to
/// the XMPP server is kept until the link is back — across agent restarts
/// too. Bounded, written atomically to `wdog/commands.json`.
package final class CommandJournal {
    package struct Entry: Equatable {
        var commandNo: Int64
        package var answer: String
        package var delivered: Bool
    }

    package private(set) var entries: [Entry] = []
    /// The largest `command_no` pushed out for room (0: none yet). A number up
    /// to it that the journal no longer holds may have been executed already,
    /// so it is refused rather than run again (`isForgotten`). Large answers
    /// pushed out by their byte budget do not count: they are status reports,
    /// which are safe to make afresh.
    /// nil while the journal has forgotten nothing (a fresh journal refuses no number).
    private(set) var forgottenUpTo: Int64?
    package let file: StateFile
    package static let capacity = 200
    /// Answers longer than this (status reports, ~150 bytes a process)…
    static let largeAnswer = 1024
    /// …share this many bytes, the oldest delivered going first: 200 of
    /// them would be megabytes held in memory and rewritten, fsynced, twice
    /// for every command. An old `status` asked again is answered afresh.
    static let largeBudget = 64 * 1024
    package static let format = StateFormat(1)

    package init(path: String) { file = StateFile(path: path, format: CommandJournal.format) }

    package func answer(for commandNo: Int64) -> String? {
        entries.last { $0.commandNo == commandNo }?.answer
    }

    var undelivered: [Entry] { entries.filter { !$0.delivered } }

    /// True for a number the journal has no answer for but may have answered
    /// once: at or below the largest one it dropped. The panel numbers its
    /// commands upwards, so a new command is never this old; a re-delivered
    /// one is, and running it twice (a second update, a second restart) is
    /// what the journal exists to prevent.
    func isForgotten(_ commandNo: Int64) -> Bool {
        guard let forgottenUpTo else { return false }
        return commandNo <= forgottenUpTo && answer(for: commandNo) == nil
    }

    /// Records an answer before it is sent: a crash after this line and
    /// before the send still owes it, and the journal remembers.
    func record(_ commandNo: Int64, answer: String) throws(Errno) {
        entries.append(Entry(commandNo: commandNo, answer: answer, delivered: false))
        if entries.count > CommandJournal.capacity {
            // The oldest delivered answer goes first; undelivered ones stay.
            let drop = entries.firstIndex { $0.delivered } ?? 0
            forgottenUpTo = max(forgottenUpTo ?? entries[drop].commandNo, entries[drop].commandNo)
            entries.remove(at: drop)
        }
        var large = 0
        for e in entries where e.answer.utf8.count > CommandJournal.largeAnswer { large += e.answer.utf8.count }
        while large > CommandJournal.largeBudget,
              let drop = entries.firstIndex(where: { $0.delivered && $0.answer.utf8.count > CommandJournal.largeAnswer }) {
            large -= entries[drop].answer.utf8.count
            entries.remove(at: drop)
        }
        try save()
    }

    func markDelivered(_ commandNo: Int64) throws(Errno) {
        var changed = false
        for i in entries.indices where entries[i].commandNo == commandNo && !entries[i].delivered {
            entries[i].delivered = true
            changed = true
        }
        if changed { try save() }
    }

    private func save() throws(Errno) {
        let text = CommandJournal.format.encode { w in
            if let forgottenUpTo { w.key("forgotten_up_to"); w.integer(forgottenUpTo) }
            w.key("answers"); w.beginArray()
            for e in entries {
                w.beginObject()
                w.key("command_no"); w.integer(e.commandNo)
                w.key("answer"); w.string(e.answer)
                w.key("delivered"); w.bool(e.delivered)
                w.endObject()
            }
            w.endArray()
        }
        do { try file.write(text) } catch { throw error.errno }
    }

    /// Reads the journal; a missing file is an empty journal, an unusable
    /// one is set aside and the journal starts empty.
    package func load(logger: Logger) {
        guard let loaded = file.load(logger: logger, ifBad: "starting a new one", CommandJournal.decode) else { return }
        entries = loaded.entries
        forgottenUpTo = loaded.forgottenUpTo
    }

    package static func decode(_ document: JSONValue, format: Int64) throws(StateFileError) -> (entries: [Entry], forgottenUpTo: Int64?) {
        guard let items = document["answers"]?.arrayValue else { throw .malformed("no answers") }
        var loaded: [Entry] = []
        for item in items {
            guard let no = item["command_no"]?.integerValue, let answer = item["answer"]?.stringValue,
                  let delivered = item["delivered"]?.boolValue else { throw .malformed("an answer entry is incomplete") }
            loaded.append(Entry(commandNo: no, answer: answer, delivered: delivered))
        }
        // Journals written before the window existed have no floor: the
        // smallest number kept is the best guess when the journal is full.
        if let floor = document["forgotten_up_to"]?.integerValue { return (loaded, floor) }
        guard loaded.count >= CommandJournal.capacity else { return (loaded, nil) }
        return (loaded, (loaded.map { $0.commandNo }.min() ?? 1) - 1)
    }
}
