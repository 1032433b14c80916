import TinyBase

/// The control channel (DESIGN.md §6): the XMPP link to the panel, the commands
/// that arrive on it, and the answers owed — kept in the journal until the
/// link has taken them, so none is lost while the link is down.
package final class ControlChannel {
    package let link: LinkClient
    package let processor: CommandProcessor
    private let logger: Logger
    private var summary = ""

    package init(link: LinkClient, processor: CommandProcessor, logger: Logger) {
        self.link = link
        self.processor = processor
        self.logger = logger
    }

    /// Starts the link process; its channel is what to watch for input.
    package func start() -> FileDescriptor? {
        do {
            try link.start()
        } catch {
            logger.error("cannot start the XMPP link: \(error)")
            _ = link.processExited(-1, now: Clock.now())
            return nil
        }
        return link.channel?.fd
    }

    /// When the link process is due to be started again.
    package var restartDeadline: Instant? { link.restartAt }

    package func handleReadable(now: Instant) {
        link.drain { event in
            switch event {
            case .online:
                logger.notice("xmpp: online")
                deliverOwedAnswers()
            case .offline:
                break  // the link logs each cause once (FailureLog), not each attempt
            case .message(let from, let body):
                guard let (no, answer) = processor.handle(from: from, body: body, now: now) else { return }
                if !link.send(to: processor.panelJID, body: answer, id: "answer-\(no)") {
                    logger.notice("answer to command \(no) kept until the link is back")
                }
            case .sent(let id):
                guard id.hasPrefix("answer-"), let no = Int64(String(id.dropFirst(7))) else { return }
                do throws(Errno) { try processor.journal.markDelivered(no) } catch {
                    logger.error("cannot update the command journal: \(error)")
                }
            case .log(let level, let text):
                logger.log(level, text)
            }
        }
    }

    /// Answers a command that finished after its message was handled (an
    /// update): journaled first, then sent — or kept until the link is back.
    package func answerLater(_ no: Int64, success: Bool, remarks: String) {
        let answer = processor.finish(no, success: success, remarks: remarks)
        if !link.send(to: processor.panelJID, body: answer, id: "answer-\(no)") {
            logger.notice("answer to command \(no) kept until the link is back")
        }
    }

    private func deliverOwedAnswers() {
        for entry in processor.journal.undelivered {
            logger.notice("delivering the answer to command \(entry.commandNo), owed since the link was down")
            link.send(to: processor.panelJID, body: entry.answer, id: "answer-\(entry.commandNo)")
        }
    }

    /// The presence status the panel reads at a glance.
    package func setSummary(_ text: String) { link.setPresence(text) }

    package func stop() { link.close() }
}
