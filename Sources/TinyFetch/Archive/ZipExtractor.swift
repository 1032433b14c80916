import TinyBase

/// Unpacks what an update archive installs — its `SmartMeter/` tree, its
/// `certs/cacert.pem`, the agent's programs in `bin/`, any of them — into a
/// staging folder, refusing anything that could write outside it or fill the disk.
///
/// Two passes. The first reads only the central directory: every entry's
/// name (`EntryName.check`) and type, the entry count, the declared sizes,
/// the compression ratios, name clashes, and the manifest; then the free
/// space. Nothing is written unless all of it passes. The second streams
/// each file through one 64 KiB buffer, holding it to its declared size
/// (a lying header cannot make it write more) and letting libzip check the
/// CRC. Files are created `O_EXCL|O_NOFOLLOW` and fsynced; folders get their
/// modes and are fsynced after their entries, the staging folder last.
///
/// Types and modes come from the external attributes (`EntryAttributes`):
/// regular files and folders only; links, devices, FIFOs and sockets are
/// refused wherever they are in the archive.
public enum ZipExtractor {
    public static let bufferSize = 64 * 1024
    /// Space a file or folder is assumed to take beyond its bytes, rounded up
    /// to this block size, in the free-space check.
    package static let blockSize: Int64 = 4096

    /// Extracts what the open file `archive` installs into the
    /// empty folder `staging` (a descriptor: names are made relative to it,
    /// so the caller needs no path to it): entry `SmartMeter/a/b` becomes
    /// `staging/SmartMeter/a/b`. On any error what was written is removed
    /// and the error thrown. `progress` is called after each chunk with the
    /// bytes written so far and the declared total.
    package static func extract(
        archive: FileDescriptor, into staging: Folder, limits: ExtractionLimits = ExtractionLimits(),
        progress: (_ bytesWritten: Int64, _ total: Int64) -> Void = { _, _ in }
    ) throws(ArchiveError) -> Extraction {
        let zip = try ZipArchive.open(archive)
        defer { zip.close() }
        let plan = try Plan(zip, limits: limits)
        var result = Extraction(files: 0, folders: plan.folders.count, bytes: 0, ignored: plan.ignored)
        if let index = plan.manifest {
            let bytes = try readManifest(zip, plan.entries[index])
            do { result.manifest = try UpdateManifest.parse(bytes) } catch { throw .manifest(reason: error.reason) }
        }
        try checkSpace(plan, staging: staging, limits: limits)

        var staged = Staging(root: staging)
        do {
            for folder in plan.folders { try staged.makeFolder(folder.path) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
            defer { buffer.deallocate() }
            for entry in plan.entries where !entry.isFolder {
                let before = result.bytes
                let written = try write(entry, from: zip, to: &staged, buffer: buffer) { written in
                    progress(before + written, plan.totalBytes)
                }
                result.bytes += written
                result.files += 1
            }
            // Deepest first, so each folder is synced after its entries.
            for folder in plan.folders.reversed() { try staged.finishFolder(folder.path, mode: folder.mode) }
            try staged.finishRoot()
        } catch {
            staged.removeAll()
            throw error
        }
        return result
    }

    /// Streams one file entry into a new file; returns the bytes written.
    private static func write(
        _ entry: Plan.Entry, from zip: ZipArchive, to staged: inout Staging,
        buffer: UnsafeMutableRawBufferPointer, progress: (Int64) -> Void
    ) throws(ArchiveError) -> Int64 {
        let reader = try zip.open(entry.zip, name: entry.path)
        defer { reader.close() }
        let file = try staged.makeFile(entry.path)
        var written: Int64 = 0
        do throws(ArchiveError) {
            while true {
                let n = try reader.read(into: buffer)
                if n == 0 { break }
                if written + Int64(n) > entry.size { throw .longerThanDeclared(name: entry.path, declared: entry.size) }
                do {
                    try file.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                } catch {
                    throw staged.failure(entry.path, error)
                }
                written += Int64(n)
                progress(written)
            }
            if written != entry.size {
                throw .shorterThanDeclared(name: entry.path, declared: entry.size, read: written)
            }
            try staged.finishFile(file, entry.path, mode: entry.mode)
        } catch {
            file.close()
            throw error
        }
        file.close()
        return written
    }

    /// The manifest's bytes, read (and CRC-checked) before anything is written.
    private static func readManifest(_ zip: ZipArchive, _ entry: Plan.Entry) throws(ArchiveError) -> [UInt8] {
        if entry.size > Int64(UpdateManifest.maximumBytes) {
            throw .manifest(reason: "larger than " + String(UpdateManifest.maximumBytes) + " bytes")
        }
        let reader = try zip.open(entry.zip, name: entry.path)
        defer { reader.close() }
        var bytes = [UInt8](repeating: 0, count: Int(entry.size) + 1)
        var count = 0
        var failure: ArchiveError?
        bytes.withUnsafeMutableBytes { raw in
            do throws(ArchiveError) {
                while true {
                    let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[count...]))
                    if n == 0 { break }
                    count += n
                    if count > Int(entry.size) { throw .longerThanDeclared(name: entry.path, declared: entry.size) }
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        if count != Int(entry.size) { throw .shorterThanDeclared(name: entry.path, declared: entry.size, read: Int64(count)) }
        return Array(bytes[0..<count])
    }

    /// Declared bytes, each file and folder rounded up to a block, plus the
    /// reserve, must fit in the free space of the staging folder's file system.
    private static func checkSpace(_ plan: Plan, staging: Folder, limits: ExtractionLimits) throws(ArchiveError) {
        guard let have = staging.fd.freeBytes else { throw .freeSpaceUnknown(path: "the staging folder") }
        var need = limits.reserveBytes + blockSize * Int64(plan.folders.count)
        for entry in plan.entries where !entry.isFolder {
            need += (entry.size + blockSize - 1) / blockSize * blockSize
        }
        if need > have { throw .noSpace(need: need, have: have) }
    }
}

/// The first pass: what will be written, checked from the central directory.
private struct Plan {
    struct Entry {
        package var zip: ZipEntry
        /// The path below the staging folder, e.g. `SmartMeter/bin/run.sh`.
        package var path: String
        package var isFolder: Bool
        package var size: Int64
        package var mode: UInt32
    }

    struct Folder {
        package var path: String
        package var depth: Int
        package var mode: UInt32
    }

    private enum Kind: Equatable { case file, implicitFolder, folder }

    /// The entries unpacked (`keeps`), in archive order.
    var entries: [Entry] = []
    /// Every folder below the staging folder (`SmartMeter` included), parents first.
    var folders: [Folder] = []
    var ignored: [String] = []
    /// Index in `entries` of the manifest.
    var manifest: Int?
    /// Declared bytes of the files.
    var totalBytes: Int64 = 0

    static let top = "SmartMeter"
    static let certs = "certs"

    /// `certs/cacert.pem`: a new CA, which the agent
    /// installs only once it verifies the servers (`CARotation`).
    static func isCA(_ path: String) -> Bool { path == CARotation.archivePath }

    /// A zip bomb's mark: a file that unpacks to more than the allowed
    /// multiple of its compressed size.
    private static func checkRatio(_ raw: ZipEntry, size: Int64, path: String, limits: ExtractionLimits) throws(ArchiveError) {
        guard size > ExtractionLimits.ratioFloor else { return }
        let (product, overflow) = limits.maximumRatio.multipliedReportingOverflow(by: Int64(clamping: raw.compressedSize))
        if raw.compressedSize == 0 || (!overflow && size > product) {
            throw .ratio(name: path, ratio: size / max(Int64(clamping: raw.compressedSize), 1))
        }
    }

    /// The folders above an entry: each a folder (implicit, 0755, unless an
    /// entry of its own says otherwise), never a file met before.
    private static func claimParents(of components: [String], kinds: inout [String: Kind],
                                     folderModes: inout [String: UInt32]) throws(ArchiveError) {
        var parent = ""
        for component in components.dropLast() {
            parent = parent.isEmpty ? component : parent + "/" + component
            switch kinds[parent] {
            case .file: throw .conflict(name: parent)
            case nil: kinds[parent] = .implicitFolder; folderModes[parent] = 0o755
            default: break
            }
        }
    }

    init(_ zip: ZipArchive, limits: ExtractionLimits) throws(ArchiveError) {
        let count = zip.entryCount
        if count < 0 { throw .unreadable(reason: "no entry count") }
        if count > Int64(limits.maximumEntries) { throw .tooManyEntries(count: Int(count), allowed: limits.maximumEntries) }

        var kinds: [String: Kind] = [:]
        var folderModes: [String: UInt32] = [:]
        for index in 0..<UInt64(count) {
            let raw = try zip.entry(at: index)
            let name = try EntryName.check(raw.rawName)
            let path = name.path
            let isFolder = try EntryAttributes.isFolder(unixMode: raw.unixMode, name: name, path: path)

            let containers = [Plan.certs, AgentPrograms.archiveFolder]
            // A bare certs/ or bin/ entry (`zip -r` writes one) is only a container: the files
            // taken from it make it, and one that brings none of them must not leave an empty
            // folder for the agent to refuse after the whole unpack.
            if isFolder && name.components.count == 1 && containers.contains(path) { continue }
            if !Plan.keeps(name.components, isFolder: isFolder) {
                // Named whole under certs/ and bin/: only some names are taken from there.
                let whole = containers.contains(name.components[0])
                let top = whole ? path : name.topLevel
                if !ignored.contains(top) { ignored.append(top) }
                continue
            }
            if name.components.count == 1 && !isFolder { throw .smartMeterIsFile }
            if raw.isEncrypted { throw .encrypted(name: path) }
            if !isFolder && !CompressionMethod.isSupported(raw.compressionMethod) {
                throw .unsupportedMethod(name: path, method: raw.compressionMethod)
            }
            guard raw.size <= UInt64(limits.maximumBytes) else { throw .tooLarge(limit: limits.maximumBytes) }
            let size = Int64(raw.size)

            // Clashes: a file where a folder is (or will be), or a file twice.
            try Plan.claimParents(of: name.components, kinds: &kinds, folderModes: &folderModes)
            if isFolder {
                if size > 0 { throw .folderWithData(name: path) }
                if kinds[path] == .file { throw .conflict(name: path) }
                kinds[path] = .folder
                folderModes[path] = EntryAttributes.folderMode(unixMode: raw.unixMode)
            } else {
                if kinds[path] != nil { throw .conflict(name: path) }
                kinds[path] = .file
                if raw.size > UInt64(limits.maximumBytes) - UInt64(totalBytes) { throw .tooLarge(limit: limits.maximumBytes) }
                totalBytes += size
                try Plan.checkRatio(raw, size: size, path: path, limits: limits)
                if path == UpdateManifest.path { manifest = entries.count }
            }
            entries.append(Entry(zip: raw, path: path, isFolder: isFolder, size: size,
                                 mode: EntryAttributes.fileMode(unixMode: raw.unixMode)))
        }
        try Plan.checkSomethingToInstall(kinds)
        folders = Plan.parentsFirst(folderModes)
    }

    /// What is unpacked: `SmartMeter/`, the CA (`isCA`), and the agent's
    /// programs in `bin/` (`AgentPrograms`); the rest is ignored.
    private static func keeps(_ components: [String], isFolder: Bool) -> Bool {
        let path = components.joined(separator: "/")
        if components[0] == top { return true }
        return !isFolder && (isCA(path) || AgentPrograms.isProgram(components))
    }

    /// An archive installs its `SmartMeter/` folder, a CA, the agent's
    /// programs (all three: they speak one protocol), or any of them together.
    private static func checkSomethingToInstall(_ kinds: [String: Kind]) throws(ArchiveError) {
        let folder = AgentPrograms.archiveFolder
        let missing = AgentPrograms.names.filter { kinds[folder + "/" + $0] != .file }
        if missing.count < AgentPrograms.names.count && !missing.isEmpty { throw .incompletePrograms(missing: missing) }
        if kinds[top] == nil && kinds[CARotation.archivePath] != .file && !missing.isEmpty { throw .nothingToInstall }
    }

    /// The folders to create, parents first: by depth, which is bounded by
    /// the name length (a bucket pass is smaller code than a generic sort in
    /// Embedded Swift).
    private static func parentsFirst(_ folderModes: [String: UInt32]) -> [Folder] {
        var unsorted: [Folder] = []
        var deepest = 0
        for (path, mode) in folderModes {
            var depth = 0
            for byte in path.utf8 where byte == UInt8(ascii: "/") { depth += 1 }
            unsorted.append(Folder(path: path, depth: depth, mode: mode))
            deepest = max(deepest, depth)
        }
        var sorted: [Folder] = []
        for depth in 0...deepest {
            for folder in unsorted where folder.depth == depth { sorted.append(folder) }
        }
        return sorted
    }
}

/// The staging folder as it is being filled: remembers what it created so a
/// failure can remove exactly that. Every name is relative to the folder's
/// descriptor, and made only by this process (so its parents are its own).
private struct Staging {
    let root: Folder
    private var created: [(path: String, isFolder: Bool)] = []

    init(root: Folder) { self.root = root }

    func failure(_ path: String, _ error: Errno) -> ArchiveError {
        .write(path: path, reason: error.description)
    }

    /// `mkdirat` 0700 until finished.
    mutating func makeFolder(_ path: String) throws(ArchiveError) {
        do throws(Errno) {
            guard try root.makeFolder(path, mode: 0o700) else { throw Errno.exists }
        } catch { throw failure(path, error) }
        created.append((path, true))
    }

    mutating func makeFile(_ path: String) throws(ArchiveError) -> FileDescriptor {
        let file: FileDescriptor
        do { file = try root.createNew(path, mode: 0o600) } catch { throw failure(path, error.errno) }
        created.append((path, false))
        return file
    }

    /// Exact mode (no umask), then fsync.
    func finishFile(_ file: FileDescriptor, _ path: String, mode: UInt32) throws(ArchiveError) {
        do {
            try file.setPermissions(mode)
            try file.sync()
        } catch {
            throw failure(path, error)
        }
    }

    func finishFolder(_ path: String, mode: UInt32) throws(ArchiveError) {
        let folder: Folder
        do { folder = try root.folder(path) } catch { throw failure(path, error.errno) }
        defer { folder.close() }
        do {
            try folder.fd.setPermissions(mode)
            try folder.fd.sync()
        } catch {
            throw failure(path, error)
        }
    }

    /// The staging folder is synced; its mode and owner are its maker's business.
    func finishRoot() throws(ArchiveError) {
        do { try root.fd.sync() } catch { throw .write(path: "the staging folder", reason: error.description) }
    }

    /// Removes what was created, newest first (files before their folders).
    mutating func removeAll() {
        for item in created.reversed() {
            if item.isFolder { try? root.removeFolder(item.path) } else { root.remove(item.path) }
        }
        created.removeAll()
    }
}
