import Foundation
import Testing
@testable import TinyFetch
@testable import TinyBase

/// The copy acquirer (`update --file`): a local archive copied into the file
/// the agent made in downloads/, by the worker's own code, on this disk.
@Suite final class CopyAcquirerTests {
    let folder = NSTemporaryDirectory() + "tinyagent-copy-\(UUID().uuidString)"

    init() throws {
        try FileManager.default.createDirectory(atPath: "\(folder)/downloads", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    /// The copy acquirer's job on a 4096-byte local archive, into a new file
    /// in downloads/, with `reserve` bytes to keep free: its remark, and the
    /// bytes it wrote.
    func copyLocalArchive(reserve: (_ free: Int64) -> Int64) throws -> (remark: String?, written: Int64) {
        try Data(repeating: 0x5a, count: 4096).write(to: URL(fileURLWithPath: "\(folder)/local.zip"))
        let downloads = try Folder.open("\(folder)/downloads")
        defer { downloads.close() }
        let archive = try downloads.createNewForReadingAndWriting("update.zip", mode: 0o600)
        let signature = try downloads.createNewForReadingAndWriting("update.zip.sig", mode: 0o600)
        let local = try Folder.openRegularFile("\(folder)/local.zip")
        let (channel, workerEnd) = try PacketChannel.pair()
        defer { for fd in [archive, signature, local, channel.fd, workerEnd] { fd.close() } }
        var settings = UpdateSettings()
        settings.reserveBytes = reserve(try #require(archive.freeBytes))
        var reporter = UpdateWorker.ProgressReporter(channel: PacketChannel(fd: workerEnd))
        let remark = UpdateAcquirer.acquire(UpdateJob(kind: .copy, settings: settings), [archive, signature, local], &reporter)
        return (remark, try archive.status().size)
    }

    @Test func aLocalArchiveThatWouldLeaveLessThanTheReserveIsRefusedBeforeAByteIsWritten() throws {
        // 1 GiB more than is free now: other work on this disk cannot make it fit meanwhile.
        let (remark, written) = try copyLocalArchive { free in free + (1 << 30) }
        let text = try #require(remark)
        #expect(text.hasPrefix("local archive: not enough free space (need "), "\(text)")
        #expect(text.contains("4096 for the archive and "), "the remark names the archive's size: \(text)")
        #expect(text.contains(" kept free by reserve_free_bytes; have "), "\(text)")
        #expect(written == 0)
    }

    @Test func aLocalArchiveThatLeavesTheReserveFreeIsCopied() throws {
        let (remark, written) = try copyLocalArchive { free in max(0, free - (1 << 30)) }
        #expect(remark == nil)
        #expect(written == 4096)
    }
}
