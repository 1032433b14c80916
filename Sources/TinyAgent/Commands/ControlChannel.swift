import TinyBase

/// The control channel (DESIGN.md §6): the XMPP link to the panel, the commands
/// that arrive on it, and the answers owed — kept in the journal until the
/// link has taken them, so none is lost while the link is down.
package final class ControlChannel {
    package let link: LinkClient
    let processor: CommandProcessor
    private let loop: EventLoop
    private let logger: Logger
    private var summary = ""
    /// The link process's channel, watched while it runs.
    private var token: EventLoop.Token?

    package init(link: LinkClient, processor: CommandProcessor, loop: EventLoop, logger: Logger) {
        self.link = link
        self.processor = processor
        self.loop = loop
        self.logger = logger
    }

    /// Starts the link process and watches its channel.
    package func start() {
        do {
            try link.start()
        } catch {
            logger.error("cannot start the XMPP link: \(error)")
            _ = link.processExited(-1, now: Clock.now())
            return
        }
        if let fd = link.channel?.fd { token = try? loop.watch(fd, for: self) }
    }

    private func handleReadable(now: Instant) {
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
    func answerLater(_ no: Int64, success: Bool, remarks: String) {
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
    func setSummary(_ text: String) { link.setPresence(text) }

    package func stop() {
        unwatch()
        link.close()
    }

    private func unwatch() {
        if let token { loop.unwatch(token) }
        token = nil
    }
}

/// The link's channel is watched for this control channel; its process's
/// exit and its restart deadline come here too.
extension ControlChannel: EventParticipant {
    /// When the link process is due to be started again.
    package var nextDeadline: Instant? { link.restartAt }

    package func tick(now: Instant) {
        if let due = link.restartAt, due <= now { start() }
    }

    package func childExited(_ child: ChildExit, now: Instant) -> Bool {
        guard link.processExited(child.pid, now: now) else { return false }
        logger.warning("xmpp link process \(child.pid): \(HelperRole.link.exitRemark(exitCode: child.exitCode, signal: child.signal)); restarting it")
        unwatch()
        return true
    }

    package func readable(_ token: EventLoop.Token, now: Instant) { handleReadable(now: now) }
}
